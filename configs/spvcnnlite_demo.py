# The student baseline on the built-in synthetic dataset: trains on the CPU in a few minutes.
# Expects data/synthetic_kitti/ with its infos (tools/run_demo.py makes them).
_base_ = ['./spvcnnlite_semantickitti.py', './_base_/synthetic_demo.py']
locals().update(_base_.synthetic_demo)
model = dict(decode_head=dict(loss_decode=dict(class_weight=_base_.synthetic_class_weight)))
