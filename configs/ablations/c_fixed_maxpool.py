# Table II row c: row d without token cut (64.6).
_base_ = ['./d_fixed_cut_maxpool.py']
model = dict(teacher=dict(token_cut=False))
