# M2SKD: the SPVCNNLite student on single scans, a multi-scan teacher sharing its
# weights on the fused scans. loss_style='reference' (the released M2SKD code): 0.2 x CE of the teacher on the
# changed voxels' points, no feature term, the logit term 5 x mean_c p_t |log(p_t / p_s)| at T = 1 / 0.3 on the
# points above 0.01, per-class affinity of the logits; 'abstract' = feature + T^2 KL (T = 3.3) + per-instance
# affinity of the stage features (weights 1). These weights, the temperatures, the hard classes and
# max_instance_points=256 are M2SKD's defaults (elite/models/segmentors/m2skd.py), set here only where a config
# departs from them: multiscan_teacher='shared' | 'separate' (trained copy) | 'frozen' (fixed copy),
# loss_style='reference' | 'abstract', multiscan_weights=dict(seg=..., feat=..., logit=..., affinity=...).
_base_ = ['./spvcnnlite.py']

model = dict(type='M2SKD')
