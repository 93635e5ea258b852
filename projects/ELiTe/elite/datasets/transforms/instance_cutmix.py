"""The reference benchmark recipe's instance cut-mix: another training scan's instances pasted into this one.

ELiTe's ``dataloader/dataset.py`` (``cutmix: True`` in ``config/ELiTe-test-semantickitti.yaml``) takes a random
other training scan, keeps its points inside the range that belong to an instance (instance id != 0), augments
them on their own (dropout, rotation, flips, scaling, translation: independent draws) and appends them to the
LiDAR points with their labels; the image side is the current scan's alone, so pasted points get no pixel.

As mmdet3d's mixing transforms (``PolarMix``, ``LaserMix``), this one reaches the other sample through
``results['dataset']`` (which mmdet3d's segmentation datasets set while training) and loads it with its own
``pre_transform``.
"""
from typing import Optional, Sequence

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS
from mmengine.dataset import Compose

from ..kitti_files import read_label
from .projection import POINT_INDEX


@TRANSFORMS.register_module()
class InstanceCutMix(BaseTransform):
    """Append the instance points of another random training scan (see the module docstring).

    Args:
        pre_transform: loads the other scan's points and training-id labels (the configs' ``load_steps``).
        augment: transforms applied to the pasted points alone, after they are selected (the reference's own
            augmentation of the cut scan: point dropout, rotation, flips, x / y scaling, translation).
        point_cloud_range: the pasted points lie strictly inside it (mins then maxes).
        prob: the chance that a sample gets a paste.

    Required keys: ``points``, ``pts_semantic_mask``, ``dataset`` (set by mmdet3d's datasets in training; without
    it the sample is left as it is). Extended: ``points`` (the pasted points after the scan's own; a
    ``point_index`` column, if present, gets ids that have no pixel), ``pts_semantic_mask``, and
    ``pts_instance_mask`` if present.
    """

    def __init__(self, pre_transform: Sequence[dict], augment: Sequence[dict] = (),
                 point_cloud_range: Sequence[float] = (-50, -50, -4, 50, 50, 2), prob: float = 1.0) -> None:
        if len(point_cloud_range) != 6:
            raise ValueError(f'InstanceCutMix: point_cloud_range needs 6 values, got {point_cloud_range}')
        self.pre_transform = Compose(list(pre_transform))
        self.augment = Compose(list(augment))
        self.point_cloud_range = np.asarray(point_cloud_range, dtype=np.float32)
        self.prob = prob

    def other_index(self, dataset, results: dict) -> Optional[int]:
        """A random index of ``dataset`` whose scan is not this one (None if it has no other)."""
        if len(dataset) < 2:
            return None
        while True:
            index = np.random.randint(len(dataset))
            if dataset.get_data_info(index)['lidar_points']['lidar_path'] != results.get('lidar_path'):
                return index

    def instance_points(self, dataset, index: int) -> dict:
        """The other scan loaded, reduced to its in-range instance points, then augmented on its own."""
        other = self.pre_transform(dict(dataset.get_data_info(index)))
        points = other['points']
        _, instance = read_label(other['pts_semantic_mask_path'], len(points))
        xyz = points.coord.numpy()
        lo, hi = self.point_cloud_range[:3], self.point_cloud_range[3:]
        keep = ((xyz > lo) & (xyz < hi)).all(axis=1) & (instance != 0)
        other['points'] = points[keep]
        other['pts_semantic_mask'] = np.asarray(other['pts_semantic_mask'])[keep]
        other['pts_instance_mask'] = instance[keep].astype(np.int64)
        return self.augment(other) if len(other['points']) else other

    def transform(self, results: dict) -> dict:
        dataset = results.get('dataset')
        if dataset is None or np.random.rand() >= self.prob:
            return results
        index = self.other_index(dataset, results)
        if index is None:
            return results
        pasted = self.instance_points(dataset, index)
        if not len(pasted['points']):
            return results
        points = results['points']
        own = points.tensor.numpy()
        extra = pasted['points'].tensor.numpy()[:, :own.shape[1]]
        # attribute columns beyond the pasted points' own: 0, and fresh point ids (without a pixel) in point_index
        extra = np.concatenate([extra, np.zeros((len(extra), own.shape[1] - extra.shape[1]), extra.dtype)], 1)
        column = (points.attribute_dims or {}).get(POINT_INDEX)
        if column is not None:
            extra[:, column] = own[:, column].max(initial=-1) + 1 + np.arange(len(extra))
        results['points'] = points.new_point(np.concatenate([own, extra.astype(own.dtype)]))
        results['pts_semantic_mask'] = np.concatenate(
            [results['pts_semantic_mask'], np.asarray(pasted['pts_semantic_mask']).astype(
                np.asarray(results['pts_semantic_mask']).dtype)])
        if 'pts_instance_mask' in results:
            results['pts_instance_mask'] = np.concatenate([results['pts_instance_mask'], pasted['pts_instance_mask']])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, point_cloud_range={self.point_cloud_range.tolist()})'

