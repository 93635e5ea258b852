# M2SKD: the SPVCNNLite student on single scans, a multi-scan teacher sharing its
# weights on the fused scans. loss_style='reference' (the released M2SKD code): 0.2 x CE of the teacher on the
# changed voxels' points, no feature term, the logit term 5 x mean_c p_t |log(p_t / p_s)| at T = 1 / 0.3 on the
# points above 0.01, per-class affinity of the logits; 'abstract' = the teacher head's losses, feature MSE,
# T^2 KL (T = 3.3) and per-instance affinity of the stage features (weights 1).
# The multi-scan side is model.multiscan (MultiScanDistiller, elite/models/segmentors/m2skd.py), whose defaults
# (teacher='shared', loss_style='reference', each style's loss configs and weights, the hard classes,
# max_instance_points=256) live there only; a config sets what departs from them, e.g.
# multiscan=dict(teacher='separate' | 'frozen', loss_style='abstract', loss_logit_kd=dict(loss_weight=2.0)).
_base_ = ['./spvcnnlite.py']

model = dict(type='M2SKD')
