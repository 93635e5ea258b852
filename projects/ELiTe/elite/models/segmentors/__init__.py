"""Segmentors: the student alone (the baseline)."""
from .point_segmentor import PointVoxelSegmentor

__all__ = ['PointVoxelSegmentor']
