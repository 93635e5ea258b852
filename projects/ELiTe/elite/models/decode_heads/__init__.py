"""Heads: the student's classifier, the distiller's point and patch decoders."""
from .patch_decoder import PatchDecoder
from .point_decoder import PointDecoder
from .spvcnn_lite_head import SPVCNNLiteHead

__all__ = ['SPVCNNLiteHead', 'PatchDecoder', 'PointDecoder']
