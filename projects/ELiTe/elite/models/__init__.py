"""Models: data preprocessor, student backbone, heads and segmentors (registered on import)."""
from .backbones import SPVCNNLite
from .data_preprocessor import PointImageDataPreprocessor
from .decode_heads import SPVCNNLiteHead
from .segmentors import PointVoxelSegmentor

__all__ = ['PointImageDataPreprocessor', 'SPVCNNLite', 'SPVCNNLiteHead', 'PointVoxelSegmentor']
