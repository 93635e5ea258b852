# Table II row i: row j with LoRA instead of AdaLoRA.
_base_ = ['./j_adalora_cut_maxpool.py']
model = dict(teacher=dict(tuning='lora'))
