"""Backbones: the SPVCNNLite student and the SAM ViT teacher."""
from .sam_vit_teacher import SAMViTTeacher
from .spvcnn_lite import SPVCNNLite

__all__ = ['SPVCNNLite', 'SAMViTTeacher']
