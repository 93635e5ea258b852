"""Models: data preprocessor, student and teacher backbones, heads, segmentors (registered on import)."""
from .backbones import SAMViTTeacher, SPVCNNLite
from .data_preprocessor import PointImageDataPreprocessor
from .decode_heads import PatchDecoder, PointDecoder, SPVCNNLiteHead
from .losses import WeightedMeanCrossEntropyLoss
from .segmentors import PPMSKD, PointVoxelSegmentor

__all__ = ['PointImageDataPreprocessor', 'SPVCNNLite', 'SAMViTTeacher', 'SPVCNNLiteHead', 'PatchDecoder',
           'PointDecoder', 'PointVoxelSegmentor', 'PPMSKD', 'WeightedMeanCrossEntropyLoss']
