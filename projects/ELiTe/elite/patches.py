"""Every patch this plugin applies to third-party code, in one place, each with the reason.

Applied once when ``elite`` is imported. Each patch is idempotent and leaves documented behaviour alone.
"""
import numpy as np
from mmdet3d.datasets.transforms import RandomFlip3D

_PATCHED_ATTR = '_elite_patched'


def patch_random_flip3d_keeps_correspondence() -> None:
    """mmdet3d 1.4.0 ``RandomFlip3D`` flips ``results['img']`` whenever an image is present, even with
    ``sync_2d=False`` (its 2D parent runs unconditionally), which would break the point-to-pixel
    correspondence. After the patch, ``sync_2d=False`` leaves the image alone (a pure point-cloud flip), and
    with ``sync_2d=True`` a horizontal image flip also mirrors ``img_indices``.
    """
    if getattr(RandomFlip3D.transform, _PATCHED_ATTR, False):
        return
    original = RandomFlip3D.transform

    def transform(self: RandomFlip3D, results: dict) -> dict:
        if 'img' in results and not self.sync_2d:
            img = results.pop('img')
            try:
                return original(self, results)
            finally:
                results['img'] = img
        results = original(self, results)
        if ('img' in results and results.get('flip') and results.get('flip_direction') == 'horizontal'
                and 'img_indices' in results):
            indices = np.array(results['img_indices'], copy=True)
            indices[:, 1] = results['img'].shape[1] - 1 - indices[:, 1]
            results['img_indices'] = indices
        return results

    setattr(transform, _PATCHED_ATTR, True)
    transform.__doc__ = original.__doc__
    RandomFlip3D.transform = transform


def apply_all() -> None:
    patch_random_flip3d_keeps_correspondence()
