"""Camera + LiDAR transforms; each keeps the point-to-pixel correspondence valid."""
from .augmentation import GlobalRotScaleTransXY, RandomFlip3DPointsOnly, SeededRotTransView
from .color_jitter import ImageColorJitter
from .crop import BottomCropImage
from .formatting import PackPointImageInputs
from .image_flip import FlipImageHorizontal
from .instance_cutmix import InstanceCutMix
from .loading import LoadCameraImage, LoadCheckedAnnotations3D, LoadCheckedPointsFromFile
from .multiscan import MultiScanHardInstances
from .projection import ProjectPointsToImage, project_to_image
from .sam_pseudo_label import SAMPseudoLabel

__all__ = ['LoadCameraImage', 'ProjectPointsToImage', 'project_to_image', 'BottomCropImage',
           'ImageColorJitter', 'FlipImageHorizontal', 'PackPointImageInputs',
           'SAMPseudoLabel', 'MultiScanHardInstances', 'InstanceCutMix', 'GlobalRotScaleTransXY',
           'SeededRotTransView', 'RandomFlip3DPointsOnly', 'LoadCheckedPointsFromFile', 'LoadCheckedAnnotations3D']
