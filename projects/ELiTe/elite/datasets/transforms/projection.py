"""Project LiDAR points to camera pixels, before any augmentation moves the points.

In the pipeline the correspondence is two aligned arrays: ``pixel_point_ids`` (M,) int64, the original ids
of the points that have a pixel, and ``img_indices`` (M, 2) int64, that pixel as (row, col). So that mmdet3d's
own transforms may drop or reorder points (``PointSample``, ``PointsRangeFilter``, ``PointShuffle``) without
knowing about the image, this transform also appends each point's original id to the points as the attribute
column ``point_index``. :func:`resolve_point2img_index` (called by :class:`PackPointImageInputs`) turns the ids
into ``point2img_index``, positions in the final point array, and removes the column: the packed data sample
holds ``point2img_index`` and ``img_indices``; the data preprocessor makes them batch-global.
"""
from typing import Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmdet3d.structures.points import BasePoints

from .point_attributes import MAX_EXACT_VALUE, append_attribute, pop_attribute

POINT_INDEX = 'point_index'
ORIGINAL = 'is_original'  # 1 for the scan's own points, 0 for those MultiScanHardInstances gathered


def project_to_image(xyz: np.ndarray, lidar2img: np.ndarray, img_hw: Tuple[int, int]
                     ) -> Tuple[np.ndarray, np.ndarray]:
    """Pixels of the points in front of the LiDAR (x > 0) whose projection is strictly inside the image.

    Args:
        xyz: (N, 3) points in the LiDAR frame.
        lidar2img: (4, 4) or (3, 4) projection, ``P2 @ Tr``.
        img_hw: image (height, width).

    Returns:
        point2img_index: (M,) int64 indices of the projected points.
        img_indices: (M, 2) int64 pixel (row, col) = floor of the projected (v, u).
    """
    height, width = img_hw
    proj = xyz.astype(np.float64) @ lidar2img[:3, :3].T + lidar2img[:3, 3]
    with np.errstate(divide='ignore', invalid='ignore'):
        u = proj[:, 0] / proj[:, 2]
        v = proj[:, 1] / proj[:, 2]
    keep = (xyz[:, 0] > 0) & (proj[:, 2] > 0) & (u > 0) & (u < width) & (v > 0) & (v < height)
    point2img_index = np.flatnonzero(keep).astype(np.int64)
    img_indices = np.stack([v[keep], u[keep]], axis=1).astype(np.int64)
    return point2img_index, img_indices


def resolve_point2img_index(results: dict) -> None:
    """``pixel_point_ids`` (original ids) -> ``point2img_index`` (positions in the current points); drop the ids.

    A point dropped by an augmentation loses its pixel; a point duplicated (sampling with replacement)
    keeps it at every copy.
    """
    results['points'], ids = pop_attribute(results['points'], POINT_INDEX)
    ids = ids.astype(np.int64)
    pixel_point_ids = results.pop('pixel_point_ids')
    num_original = int(max(ids.max(initial=-1), pixel_point_ids.max(initial=-1))) + 1
    pixel_of_id = np.full((num_original, 2), -1, dtype=np.int64)
    pixel_of_id[pixel_point_ids] = results['img_indices']
    has_pixel = pixel_of_id[ids, 0] >= 0
    results['point2img_index'] = np.flatnonzero(has_pixel).astype(np.int64)
    results['img_indices'] = pixel_of_id[ids[has_pixel]]


@TRANSFORMS.register_module()
class ProjectPointsToImage(BaseTransform):
    """Find each point's pixel in the (uncropped) camera image.

    Required keys: ``points``, ``lidar2img`` and ``img_shape`` (or ``img``).
    Added keys: ``pixel_point_ids`` (M,) int64 (original point ids), ``img_indices`` (M, 2) int64 (row, col);
    the points gain the ``point_index`` attribute column (see the module docstring).
    """

    def transform(self, results: dict) -> dict:
        points: BasePoints = results['points']
        num_points = len(points)
        if num_points >= MAX_EXACT_VALUE:
            raise ValueError(f'{results.get("lidar_path")}: {num_points} points; at most {MAX_EXACT_VALUE} '
                             'can carry an exact index')
        img_hw = tuple(results.get('img_shape') or results['img'].shape[:2])
        point2img_index, img_indices = project_to_image(points.coord.numpy(), results['lidar2img'], img_hw)
        if ORIGINAL in (points.attribute_dims or {}):  # points gathered from other scans have no pixel here
            keep = points.tensor[:, points.attribute_dims[ORIGINAL]].numpy()[point2img_index] > 0
            point2img_index, img_indices = point2img_index[keep], img_indices[keep]
        results['points'] = append_attribute(points, POINT_INDEX, np.arange(num_points))
        results['pixel_point_ids'] = point2img_index
        results['img_indices'] = img_indices
        return results
