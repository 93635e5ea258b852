# Table II row e: row c with average-pool & repeat patch decoders.
_base_ = ['./c_fixed_maxpool.py']
model = dict(patch_decoder=dict(variant='avgpool_repeat'))
