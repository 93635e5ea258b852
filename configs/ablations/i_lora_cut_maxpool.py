# Table II row i: row j with LoRA instead of AdaLoRA, as the reference: rank 8 on every block's q and v only
# (loralib Linear(r=8), alpha 1).
_base_ = ['./j_adalora_cut_maxpool.py']
model = dict(teacher=dict(tuning='lora', lora_rank=8, lora_alpha=1, lora_target_modules=('q', 'v')))
