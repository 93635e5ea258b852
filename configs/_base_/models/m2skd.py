# M2SKD (ELITE.md section 8): the SPVCNNLite student on single scans, a multi-scan teacher sharing its
# weights on the fused scans; feature, softened-logit (T = 3.3) and instance-affinity distillation.
_base_ = ['./spvcnnlite.py']

model = dict(
    type='M2SKD',
    multiscan_teacher='shared',  # 'shared' | 'separate' (trained copy) | 'frozen' (fixed copy)
    multiscan_weights=dict(seg=1.0, feat=1.0, logit=1.0, affinity=1.0),
    temperature=3.3,
    hard_classes=('bicycle', 'motorcycle', 'truck', 'bus', 'person', 'bicyclist', 'motorcyclist'),
    max_instance_points=256)
