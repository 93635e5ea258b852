"""3D augmentations of the reference code (2DPASS ``dataloader/dataset.py``) that mmdet3d's transforms lack, and
mmdet3d's 3D flip made safe for camera + LiDAR samples.

- :class:`RandomFlip3DPointsOnly`: mmdet3d 1.4.0's ``RandomFlip3D`` flips ``results['img']`` whenever an image is
  present, even with ``sync_2d=False`` (its 2D parent ``RandomFlip.transform`` runs unconditionally), which
  breaks the point-to-pixel correspondence. This subclass leaves the image alone with ``sync_2d=False`` (a pure
  point-cloud flip) and, with ``sync_2d=True``, mirrors ``img_indices`` and the dense image label with the image.

- :class:`GlobalRotScaleTransXY`: mmdet3d's ``GlobalRotScaleTrans`` with the scale applied to x and y only, as
  the reference scales (z, the height above the road, is left alone).
- :class:`SeededRotTransView`: one test-time view of the reference's voting (``--num_vote 12``): a rotation
  U(0, 2 pi) about z and a translation N(0, 0.1) per axis, drawn from a generator seeded by the scan and the
  view number, so a test run is repeatable and each scan still gets its own random views.
"""
import zlib
from typing import Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.datasets.transforms import GlobalRotScaleTrans, RandomFlip3D
from mmdet3d.registry import TRANSFORMS

from .image_label import IMAGE_LABEL, mirror_columns


@TRANSFORMS.register_module()
class RandomFlip3DPointsOnly(RandomFlip3D):
    """mmdet3d's ``RandomFlip3D`` that keeps the point-to-pixel correspondence (see the module docstring)."""

    def transform(self, results: dict) -> dict:
        if 'img' in results and not self.sync_2d:
            img = results.pop('img')
            try:
                return super().transform(results)
            finally:
                results['img'] = img
        results = super().transform(results)
        if ('img' in results and results.get('flip') and results.get('flip_direction') == 'horizontal'
                and 'img_indices' in results):  # mmcv flipped the image: its label and pixels follow
            mirror_columns(results, [IMAGE_LABEL] if IMAGE_LABEL in results else [])
        return results


@TRANSFORMS.register_module()
class GlobalRotScaleTransXY(GlobalRotScaleTrans):
    """``GlobalRotScaleTrans`` (rotation about z, scale, translation) whose scale multiplies x and y only.

    For point segmentation (no boxes): a pipeline with 3D boxes gets an error rather than boxes scaled
    differently from their points.
    """

    def _scale_bbox_points(self, input_dict: dict) -> None:
        if input_dict.get('bbox3d_fields') and any(len(input_dict[k]) for k in input_dict['bbox3d_fields']):
            raise ValueError('GlobalRotScaleTransXY scales points in x and y only and cannot scale 3D boxes; '
                             'use GlobalRotScaleTrans for detection pipelines.')
        input_dict['points'].tensor[:, :2] *= input_dict['pcd_scale_factor']


@TRANSFORMS.register_module()
class SeededRotTransView(BaseTransform):
    """Test-time view ``view`` of a scan: rotation about z by U(0, 2 pi) and translation N(0, ``translation_std``).

    The generator is seeded with (``seed``, ``view``, CRC32 of the scan's path), so the same scan always gets
    the same views and different scans different ones. Records ``pcd_rotation_angle`` and ``pcd_trans``.
    """

    def __init__(self, view: int, seed: int = 0, translation_std: Sequence[float] = (0.1, 0.1, 0.1)) -> None:
        self.view = view
        self.seed = seed
        self.translation_std = np.asarray(translation_std, dtype=np.float32)

    def transform(self, results: dict) -> dict:
        scan = str(results.get('lidar_path') or results.get('lidar_points', {}).get('lidar_path', ''))
        rng = np.random.default_rng([self.seed, self.view, zlib.crc32(scan.encode())])
        angle = rng.uniform(0, 2 * np.pi)
        translation = (rng.normal(size=3) * self.translation_std).astype(np.float32)
        results['points'].rotate(angle)
        results['points'].translate(translation)
        results['pcd_rotation_angle'] = angle
        results['pcd_trans'] = translation
        return results

    def __repr__(self) -> str:
        return (f'{self.__class__.__name__}(view={self.view}, seed={self.seed}, '
                f'translation_std={self.translation_std.tolist()})')
