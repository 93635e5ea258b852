"""Normalise the camera image with SAM's statistics and pad it bottom/right for the image encoder."""
from typing import Optional, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from ...sam_specs import SAM_PIXEL_MEAN, SAM_PIXEL_STD
from .image_label import IMAGE_LABEL


@TRANSFORMS.register_module()
class NormalizePadImage(BaseTransform):
    """``img = (img - mean) / std`` as float32, then zero padding at the bottom and right.

    Pads to ``pad_shape`` (H, W) when given (SAM's encoder takes 1024 x 1024), otherwise to the next
    multiple of ``size_divisor``. Padding never moves a pixel, so ``img_indices`` stay valid; ``img_shape``
    keeps the real size and ``pad_shape`` records the padded one. ``img_seg_label`` is padded with
    ``label_pad_value`` (the ignore index).
    """

    def __init__(self, mean: Sequence[float] = SAM_PIXEL_MEAN, std: Sequence[float] = SAM_PIXEL_STD,
                 pad_shape: Optional[Tuple[int, int]] = (1024, 1024), size_divisor: int = 16,
                 label_pad_value: int = 19) -> None:
        self.mean = np.asarray(mean, dtype=np.float32)
        self.std = np.asarray(std, dtype=np.float32)
        self.pad_shape = tuple(pad_shape) if pad_shape is not None else None
        self.size_divisor = size_divisor
        self.label_pad_value = label_pad_value

    def transform(self, results: dict) -> dict:
        img = (results['img'].astype(np.float32) - self.mean) / self.std
        height, width = img.shape[:2]
        if self.pad_shape is not None:
            pad_h, pad_w = self.pad_shape
            if pad_h < height or pad_w < width:
                raise ValueError(f'image {width}x{height} is larger than pad_shape {self.pad_shape} (H, W); '
                                 'crop it first (BottomCropImage) or raise pad_shape')
        else:
            pad_h = -(-height // self.size_divisor) * self.size_divisor
            pad_w = -(-width // self.size_divisor) * self.size_divisor
        padded = np.zeros((pad_h, pad_w, 3), dtype=np.float32)
        padded[:height, :width] = img
        results['img'] = padded
        if IMAGE_LABEL in results:  # padding is never labelled
            label = np.full((pad_h, pad_w), self.label_pad_value, dtype=results[IMAGE_LABEL].dtype)
            label[:height, :width] = results[IMAGE_LABEL]
            results[IMAGE_LABEL] = label
        results['img_shape'] = (height, width)
        results['pad_shape'] = (pad_h, pad_w)
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(mean={self.mean.tolist()}, std={self.std.tolist()}, '
                f'pad_shape={self.pad_shape}, size_divisor={self.size_divisor})')
