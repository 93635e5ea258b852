"""Datasets and transforms for camera + LiDAR SemanticKITTI."""
from .semantickitti_frame_dataset import SemanticKittiFrameDataset
from .semantickitti_mm_dataset import SemanticKittiMMDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['SemanticKittiFrameDataset', 'SemanticKittiMMDataset']
