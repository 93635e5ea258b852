# Table II row j: row k with max-pool & repeat patch decoders.
_base_ = ['./k_adalora_cut_upscale.py']
model = dict(patch_decoder=dict(variant='maxpool_repeat'))
