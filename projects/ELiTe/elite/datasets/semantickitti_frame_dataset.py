"""SemanticKITTI whose samples carry their identity: mmdet3d's dataset plus sequence, frame_id, data_root."""
from typing import Optional

import numpy as np
from mmdet3d.datasets import SemanticKittiDataset
from mmdet3d.registry import DATASETS
from mmengine.dataset import Compose
from mmengine.logging import print_log

from .semantickitti_infos import frame_identity

EMPTY_SCAN_POLICIES = ('error', 'skip')


class EmptyScanError(ValueError):
    """A pipeline step left a sample without points."""


class PointsCheckedCompose(Compose):
    """mmengine's ``Compose`` that stops at the step which leaves a sample without points (e.g. a range filter on
    a scan in millimetres), naming the scan and the step, instead of failing later inside another transform
    with an unrelated error. ``on_empty='skip'`` warns and returns None: the dataset then draws another sample
    (training only; mmengine refuses None at test time)."""

    def __init__(self, transforms, on_empty: str = 'error') -> None:
        super().__init__(transforms)
        self.on_empty = on_empty

    def __call__(self, data: dict) -> Optional[dict]:
        for step, transform in enumerate(self.transforms):
            data = transform(data)
            if data is None:
                return None
            points = data.get('points') if isinstance(data, dict) else None
            if points is not None and len(points) == 0:
                return self._empty(data, step, transform)
        return data

    def _empty(self, data: dict, step: int, transform) -> None:
        where = f'{data.get("lidar_path", "a sample")}: no points left after pipeline step {step} ({transform!r})'
        if self.on_empty == 'skip':
            print_log(f'{where}; sample skipped (on_empty="skip")', logger='current', level=30)
            return None
        raise EmptyScanError(
            f'{where}. If that step is the range filter, the scan has no point inside point_cloud_range: check that '
            'it is in metres in the sensor frame (tools/create_data.py warns about such scans); to leave such '
            'samples out of training instead, set train_dataloader.dataset.on_empty="skip".')


@DATASETS.register_module()
class SemanticKittiFrameDataset(SemanticKittiDataset):
    """:class:`SemanticKittiDataset` (LiDAR only by default) for info files of ``tools/create_data.py semantickitti``.

    Each sample also gives the pipeline ``sequence`` and ``frame_id`` (checked when the infos load), ``data_root``
    (the folder the infos' paths are relative to) and ``pose`` / ``lidar_pose`` as (4, 4) float64 arrays, so the
    transforms and the metric never parse them back from file paths.

    Args (besides mmdet3d's):
        on_empty: a pipeline step that leaves a sample without points stops the run naming the scan and the
            step (``'error'``, default) or the sample is skipped with a warning (``'skip'``, training only).
    """

    def __init__(self, *args, on_empty: str = 'error', **kwargs) -> None:
        if on_empty not in EMPTY_SCAN_POLICIES:
            raise ValueError(f'on_empty must be one of {EMPTY_SCAN_POLICIES}, got {on_empty!r}')
        super().__init__(*args, **kwargs)
        self.pipeline = PointsCheckedCompose(self.pipeline.transforms, on_empty)

    def parse_data_info(self, info: dict) -> dict:
        try:
            frame_identity(info)
        except KeyError as err:
            raise KeyError(f'{self.ann_file}: {err.args[0]}') from None
        info = super().parse_data_info(info)
        info['data_root'] = self.data_root or ''
        for key in ('pose', 'lidar_pose'):
            if key in info:
                info[key] = np.asarray(info[key], dtype=np.float64)
        return info
