# Table II row g: row k with a fixed (frozen) teacher.
_base_ = ['./k_adalora_cut_upscale.py']
model = dict(teacher=dict(tuning='fixed'))
