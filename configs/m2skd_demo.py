# M2SKD on the built-in synthetic dataset (CPU, minutes). Expects data/synthetic_kitti/ (tools/run_demo.py).
_base_ = ['./m2skd_semantickitti.py', './_base_/synthetic_demo.py']
locals().update(_base_.synthetic_demo)
model = dict(decode_head=dict(loss_decode=dict(class_weight=_base_.synthetic_class_weight)))
