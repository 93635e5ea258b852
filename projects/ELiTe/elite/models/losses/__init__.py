"""Losses the reference code computes and mmdet / mmdet3d do not."""
from .cross_entropy import WeightedMeanCrossEntropyLoss

__all__ = ['WeightedMeanCrossEntropyLoss']
