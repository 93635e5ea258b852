# Table II row b: row c distilling only the final heads (single-stage KD, 63.5).
_base_ = ['./c_fixed_maxpool.py']
model = dict(kd_mode='single_stage')
