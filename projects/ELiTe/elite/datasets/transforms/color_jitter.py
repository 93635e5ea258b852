"""Colour jitter of the camera image with torchvision's ColorJitter (as in 2DPASS and ELiTe)."""
import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from torchvision.transforms import ColorJitter


@TRANSFORMS.register_module()
class ImageColorJitter(BaseTransform):
    """Random brightness / contrast / saturation (/ hue) of ``results['img']`` (H, W, 3) uint8."""

    def __init__(self, brightness: float = 0.4, contrast: float = 0.4, saturation: float = 0.4,
                 hue: float = 0.0) -> None:
        self.jitter = ColorJitter(brightness, contrast, saturation, hue)

    def transform(self, results: dict) -> dict:
        chw = torch.from_numpy(np.ascontiguousarray(results['img'])).permute(2, 0, 1)
        results['img'] = np.ascontiguousarray(self.jitter(chw).permute(1, 2, 0).numpy())
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}({self.jitter})'
