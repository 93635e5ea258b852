"""Segmentors: the student alone (the baseline), the PPMSKD / M2SKD distillers, the reference TTA merge."""
from .m2skd import M2SKD, ELiTeM2SKD
from .point_segmentor import PointVoxelSegmentor
from .ppmskd import PPMSKD
from .seg3d_tta import Seg3DLogitSumTTAModel

__all__ = ['PointVoxelSegmentor', 'PPMSKD', 'M2SKD', 'ELiTeM2SKD', 'Seg3DLogitSumTTAModel']
