"""Backbones: the SPVCNNLite student, the SAM ViT teacher, and mmdet3d's MinkUNet as a student."""
from .minkunet_stages import MinkUNetStageFeatures
from .sam_vit_teacher import SAMViTTeacher
from .spvcnn_lite import SPVCNNLite

__all__ = ['SPVCNNLite', 'SAMViTTeacher', 'MinkUNetStageFeatures']
