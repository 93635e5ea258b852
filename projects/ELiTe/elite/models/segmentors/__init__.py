"""Segmentors: the student alone (the baseline) and the PPMSKD / M2SKD distillers."""
from .m2skd import M2SKD, ELiTeM2SKD
from .point_segmentor import PointVoxelSegmentor
from .ppmskd import PPMSKD

__all__ = ['PointVoxelSegmentor', 'PPMSKD', 'M2SKD', 'ELiTeM2SKD']
