# ELiTe + M2SKD on the built-in synthetic dataset with the small random-weight teacher (CPU, minutes).
_base_ = ['./elite_m2skd_semantickitti.py', './_base_/synthetic_demo.py']
locals().update(_base_.synthetic_demo)
model = _base_.tiny_elite
