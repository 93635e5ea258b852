# Table II row f: row c with neck & repeat patch decoders.
_base_ = ['./c_fixed_maxpool.py']
model = dict(patch_decoder=dict(variant='neck_repeat'))
