# ELiTe on the built-in synthetic dataset with the small random-weight teacher (vit_tiny): trains on the
# CPU in minutes. Expects data/synthetic_kitti/ with its infos (tools/run_demo.py makes them).
_base_ = ['./elite_semantickitti.py', './_base_/synthetic_demo.py']
locals().update(_base_.synthetic_demo)
model = _base_.tiny_elite
