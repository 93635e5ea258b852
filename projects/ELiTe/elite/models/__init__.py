"""Models: the data preprocessor (later: student, teacher, decoders, segmentors, losses)."""
from .data_preprocessor import PointImageDataPreprocessor

__all__ = ['PointImageDataPreprocessor']
