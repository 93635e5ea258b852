"""Losses the reference code computes and mmdet / mmdet3d do not."""
from .affinity import AffinityLoss, affinity_loss
from .cross_entropy import WeightedMeanCrossEntropyLoss
from .log_ratio_kd import LogRatioKDLoss, log_ratio_kd_loss
from .pointwise_kl import PointwiseKLDivLoss

__all__ = ['AffinityLoss', 'LogRatioKDLoss', 'PointwiseKLDivLoss', 'WeightedMeanCrossEntropyLoss', 'affinity_loss',
           'log_ratio_kd_loss']
