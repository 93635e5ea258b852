# ELiTe + M2SKD on the built-in synthetic dataset with the small random-weight teacher (CPU, minutes).
_base_ = ['./elite_m2skd_semantickitti.py', './_base_/synthetic_demo.py']
locals().update(_base_.synthetic_demo)
model = dict(**_base_.tiny_teacher,
             decode_head=dict(loss_decode=dict(class_weight=_base_.synthetic_class_weight)),
             stage_loss=dict(loss_ce=dict(class_weight=_base_.synthetic_class_weight)))
