"""Segmentors: the student alone (the baseline) and the PPMSKD distiller."""
from .point_segmentor import PointVoxelSegmentor
from .ppmskd import PPMSKD

__all__ = ['PointVoxelSegmentor', 'PPMSKD']
