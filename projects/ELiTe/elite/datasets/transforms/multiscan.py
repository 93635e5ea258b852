"""M2SKD's multi-scan input: hard-class instances of the previous scans, aligned and appended to this one.

For the current scan, the points of instances of hard classes (bicycle, motorcycle, truck, other-vehicle,
person, bicyclist, motorcyclist by default) are gathered from the previous K scans of the sequence by
(class, instance id) (ids are the high 16 bits of the ``.label`` files), moved into the current LiDAR frame
with the poses (``poses.txt``) and the calibration (``Tr``) or not, optionally re-centred on the instance's
current centroid (for moving objects; each previous scan's copy on its own, as the released M2SKD code does),
and appended. ``original_mask`` marks the scan's own points: the student
sees only those, the multi-scan teacher all, and only they are ever scored. The scan's sequence and frame come
from its infos (``sequence``, ``frame_id``), the previous scans' files from the dataset layout under ``data_root``.
"""
import os
from typing import Dict, Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.datasets import SemanticKittiDataset
from mmdet3d.registry import TRANSFORMS

from ..kitti_files import calib_path, label_path, poses_path, read_calib, read_label, read_poses, read_scan, scan_path
from ..semantickitti_infos import frame_identity, sample_data_root
from .point_attributes import append_attribute
from .projection import ORIGINAL

HARD_CLASSES = ('bicycle', 'motorcycle', 'truck', 'bus', 'person', 'bicyclist', 'motorcyclist')  # 'bus' is
# mmdet3d's name of SemanticKITTI's other-vehicle class
ALIGN_MODES = ('pose', 'centroid', 'translation')


def lidar_poses(root: str, sequence: str) -> np.ndarray:
    """(F, 4, 4) LiDAR-to-world poses of a sequence: ``inv(Tr) @ pose @ Tr`` (poses.txt is in camera 0)."""
    tr = read_calib(calib_path(root, sequence))['Tr']
    return np.linalg.inv(tr) @ read_poses(poses_path(root, sequence)) @ tr


@TRANSFORMS.register_module()
class MultiScanHardInstances(BaseTransform):
    """Append the current scan's hard-class instances as seen in the previous ``num_scans`` scans.

    Args:
        num_scans: previous scans to gather from (frames before the sequence start are skipped).
        hard_classes: class names (mmdet3d's SemanticKITTI spelling) whose instances are gathered.
        align: ``'pose'`` (ego motion only), ``'centroid'`` (the poses, then each previous scan's copy of an
            instance moved so that its centroid is the instance's current one, for moving objects) or
            ``'translation'`` (the released M2SKD code, ``dataloader/pc_dataset.py``: no poses, only that
            per-scan centroid translation, so every copy lands centred on the current instance).
        min_frame: frames of a sequence before this one get nothing (the released code fuses from frame 4 on).
        duplicate_current: also append the current scan's own instance points of ``duplicate_classes`` once
            more, in every frame (the released code starts each instance's gathered points from the current
            ones and appends them all, so the current instances appear twice; a departure by default, False).
        duplicate_classes: the classes duplicated with ``duplicate_current`` (default: car and the hard classes,
            the thing classes of the released code's instance database).

    Required keys: ``points``, ``sequence``, ``frame_id``, ``data_root`` (``SemanticKittiFrameDataset`` and
    ``SemanticKittiMMDataset`` give them), ``pts_semantic_mask`` (training ids), ``pts_semantic_mask_path``,
    ``seg_label_mapping``. Added / extended: ``points`` (with the attribute column ``is_original``, turned
    into the data sample's ``original_mask`` by the packer), ``pts_semantic_mask``, ``pts_instance_mask`` (raw
    instance ids). Must run before ``ProjectPointsToImage`` and any augmentation.
    """

    def __init__(self, num_scans: int = 4, hard_classes: Sequence[str] = HARD_CLASSES, align: str = 'pose',
                 min_frame: int = 0, duplicate_current: bool = False,
                 duplicate_classes: Sequence[str] = ('car',) + HARD_CLASSES) -> None:
        if align not in ALIGN_MODES:
            raise ValueError(f'align must be one of {ALIGN_MODES}, got {align!r}')
        classes = SemanticKittiDataset.METAINFO['classes']
        unknown = [c for c in (*hard_classes, *duplicate_classes) if c not in classes]
        if unknown:
            raise ValueError(f'unknown classes {unknown}; choose from {classes}')
        self.num_scans = num_scans
        self.hard_ids = np.array([classes.index(c) for c in hard_classes])
        self.duplicate_current = duplicate_current
        self.duplicate_ids = np.array([classes.index(c) for c in duplicate_classes])
        self.align = align
        self.min_frame = min_frame
        self._poses: Dict[Tuple[str, str], np.ndarray] = {}

    def transform(self, results: dict) -> dict:
        if 'pixel_point_ids' in results:
            raise RuntimeError('MultiScanHardInstances must come before ProjectPointsToImage')
        points = results['points']
        sequence, frame_id = frame_identity(results)
        root = sample_data_root(results)
        frame = int(frame_id)
        mapping = np.asarray(results['seg_label_mapping'])
        semantic = np.asarray(results['pts_semantic_mask'])
        _, instance = read_label(results['pts_semantic_mask_path'], len(points))
        wanted = np.isin(semantic, self.hard_ids) & (instance > 0)
        keys = set(zip(semantic[wanted].tolist(), instance[wanted].tolist())) if frame >= self.min_frame else set()
        packed_keys = np.array([s * 65536 + i for s, i in keys], dtype=np.int64)

        seq_key = (os.path.abspath(root), sequence)
        if seq_key not in self._poses:
            self._poses[seq_key] = lidar_poses(root, sequence)
        poses = self._poses[seq_key]
        world_to_current = np.linalg.inv(poses[frame])
        current_xyz = points.coord.numpy()
        centroids = {key: current_xyz[(semantic == key[0]) & (instance == key[1])].mean(0) for key in keys}
        extra_points, extra_sem, extra_inst = [], [], []
        if self.duplicate_current:
            again = np.isin(semantic, self.duplicate_ids) & (instance > 0)
            extra_points.append(points.tensor.numpy()[again])
            extra_sem.append(semantic[again])
            extra_inst.append(instance[again].astype(np.uint16))
        for previous in range(frame - 1, max(frame - self.num_scans, 0) - 1, -1):
            if not keys:
                break
            previous_scan = scan_path(root, sequence, previous)
            if not os.path.isfile(previous_scan):
                continue
            scan = read_scan(previous_scan)
            raw_sem, raw_inst = read_label(label_path(root, sequence, previous), len(scan))
            known = raw_sem < len(mapping)  # ids outside the map are not SemanticKITTI classes: ignored
            sem = np.where(known, mapping[np.where(known, raw_sem, 0)], mapping[0])
            take = np.isin(sem.astype(np.int64) * 65536 + raw_inst, packed_keys)
            if not take.any():
                continue
            moved, sem, inst = scan[take].copy(), sem[take], raw_inst[take]
            if self.align != 'translation':
                transform = world_to_current @ poses[previous]
                moved[:, :3] = moved[:, :3] @ transform[:3, :3].T + transform[:3, 3]
            if self.align != 'pose':  # this scan's copy of each instance centred on the current instance
                for s, i in keys:
                    theirs = (sem == s) & (inst == i)
                    if theirs.any():
                        moved[theirs, :3] += centroids[s, i] - moved[theirs, :3].mean(0)
            extra_points.append(moved)
            extra_sem.append(sem)
            extra_inst.append(inst)
        if extra_points:
            extra = np.concatenate(extra_points)
            extra_sem, extra_inst = np.concatenate(extra_sem), np.concatenate(extra_inst)
        else:
            extra = np.zeros((0, points.shape[1]), np.float32)
            extra_sem, extra_inst = np.zeros(0, semantic.dtype), np.zeros(0, np.uint16)
        tensor = np.concatenate([points.tensor.numpy(), extra[:, :points.shape[1]].astype(np.float32)])
        # the flag rides along as a point attribute, so later sampling or shuffling keeps it aligned
        results['points'] = append_attribute(points.new_point(tensor), ORIGINAL, np.arange(len(tensor)) < len(points))
        results['pts_semantic_mask'] = np.concatenate([semantic, extra_sem.astype(semantic.dtype)])
        results['pts_instance_mask'] = np.concatenate([instance, extra_inst]).astype(np.int64)
        return results
