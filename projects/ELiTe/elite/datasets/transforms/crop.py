"""Bottom crop of the camera image (the sky carries no LiDAR points), keeping the correspondence."""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from .image_label import image_keys


@TRANSFORMS.register_module()
class BottomCropImage(BaseTransform):
    """Crop ``crop_size`` = (width, height) from the bottom of the image; drop pixels of points outside it.

    The crop's top is ``H - height``; its left is random at training (``random_left=True``) and centred
    otherwise. ``img_indices`` are shifted into the crop and the points outside lose their pixel (the points
    themselves stay). Pixel-aligned label images (``img_seg_label``) are cropped alike. Adds ``crop_offset``
    = (top, left).
    """

    def __init__(self, crop_size: Tuple[int, int] = (1024, 320), random_left: bool = True) -> None:
        self.crop_w, self.crop_h = crop_size
        self.random_left = random_left

    def transform(self, results: dict) -> dict:
        img = results['img']
        height, width = img.shape[:2]
        if height < self.crop_h or width < self.crop_w:
            raise ValueError(f'{results.get("img_path")}: image {width}x{height} is smaller than the crop '
                             f'{self.crop_w}x{self.crop_h}; lower crop_size in the config')
        top = height - self.crop_h
        left = (np.random.randint(0, width - self.crop_w + 1) if self.random_left
                else (width - self.crop_w) // 2)
        for key in image_keys(results):
            results[key] = np.ascontiguousarray(results[key][top:, left:left + self.crop_w])
        rows = results['img_indices'][:, 0] - top
        cols = results['img_indices'][:, 1] - left
        keep = (rows >= 0) & (cols >= 0) & (cols < self.crop_w)
        results['img_indices'] = np.stack([rows[keep], cols[keep]], axis=1)
        results['pixel_point_ids'] = results['pixel_point_ids'][keep]
        results['img_shape'] = results['img'].shape[:2]
        results['crop_offset'] = (top, left)
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(crop_size={(self.crop_w, self.crop_h)}, random_left={self.random_left})'
