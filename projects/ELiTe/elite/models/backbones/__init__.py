"""Backbones: the SPVCNNLite student."""
from .spvcnn_lite import SPVCNNLite

__all__ = ['SPVCNNLite']
