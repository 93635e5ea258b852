# Table II row h: row j tuning only the patch embedding and the LayerNorms.
_base_ = ['./j_adalora_cut_maxpool.py']
model = dict(teacher=dict(tuning='pe_ln'))
