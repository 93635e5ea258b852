# Table II row d: row j with a fixed (frozen) teacher (64.2).
_base_ = ['./j_adalora_cut_maxpool.py']
model = dict(teacher=dict(tuning='fixed'))
