"""Heads on the student's per-point features."""
from .spvcnn_lite_head import SPVCNNLiteHead

__all__ = ['SPVCNNLiteHead']
