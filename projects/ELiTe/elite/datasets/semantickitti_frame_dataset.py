"""SemanticKITTI whose samples carry their identity: mmdet3d's dataset plus sequence, frame_id, data_root."""
import numpy as np
from mmdet3d.datasets import SemanticKittiDataset
from mmdet3d.registry import DATASETS

from .semantickitti_infos import frame_identity


@DATASETS.register_module()
class SemanticKittiFrameDataset(SemanticKittiDataset):
    """:class:`SemanticKittiDataset` (LiDAR only by default) for info files of ``tools/create_data.py semantickitti``.

    Each sample also gives the pipeline ``sequence`` and ``frame_id`` (checked when the infos load), ``data_root``
    (the folder the infos' paths are relative to) and ``pose`` / ``lidar_pose`` as (4, 4) float64 arrays, so the
    transforms and the metric never parse them back from file paths.
    """

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
