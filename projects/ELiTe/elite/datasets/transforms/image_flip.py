"""Horizontal flip of the camera image alone (the points are not moved), keeping the correspondence."""
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from .image_label import image_keys, mirror_columns


@TRANSFORMS.register_module()
class FlipImageHorizontal(BaseTransform):
    """With probability ``prob``, mirror the image (and ``img_seg_label``), set ``col = W - 1 - col``.

    Records ``img_flip`` (bool). Uses its own key rather than mmcv's ``flip`` so that mmdet3d's
    ``RandomFlip3D`` does not read it as a request to flip again.
    """

    def __init__(self, prob: float = 0.5) -> None:
        self.prob = prob

    def transform(self, results: dict) -> dict:
        flip = bool(np.random.rand() < self.prob)
        if flip:
            mirror_columns(results, image_keys(results))
        results['img_flip'] = flip
        return results

    def __repr__(self) -> str:
        return f'{self.__class__.__name__}(prob={self.prob})'
