"""SemanticKITTI with the camera: mmdet3d's dataset plus the image and calibration of each scan."""
from typing import Optional

import numpy as np
from mmdet3d.datasets import SemanticKittiDataset
from mmdet3d.registry import DATASETS

from .semantickitti_infos import CAMERA


@DATASETS.register_module()
class SemanticKittiMMDataset(SemanticKittiDataset):
    """:class:`SemanticKittiDataset` whose samples also carry ``img_path``, ``lidar2img``, the pose and ids.

    Reads info files written by ``tools/create_data.py semantickitti``. Besides mmdet3d's keys each sample
    gives the pipeline ``img_path`` (absolute), ``lidar2img`` / ``cam2img`` / ``lidar2cam`` (4, 4) float64,
    ``pose`` (camera-0 frame, as in ``poses.txt``) and ``lidar_pose`` (LiDAR frame), ``sequence`` and
    ``frame_id``. The camera is on by default; ``modality=dict(use_lidar=True, use_camera=False)`` gives
    mmdet3d's LiDAR-only behaviour.
    """

    def __init__(self, *args, modality: Optional[dict] = None, **kwargs) -> None:
        super().__init__(*args, modality=modality or dict(use_lidar=True, use_camera=True), **kwargs)

    def parse_data_info(self, info: dict) -> dict:
        info = super().parse_data_info(info)
        for key in ('pose', 'lidar_pose'):
            if key in info:
                info[key] = np.asarray(info[key], dtype=np.float64)
        if self.modality.get('use_camera', False):
            if CAMERA not in info.get('images', {}):
                raise KeyError(f'sample {info.get("sample_idx")} of {self.ann_file} has no {CAMERA} image info; '
                               'rebuild the infos with tools/create_data.py semantickitti')
            cam = info['images'][CAMERA]
            info['img_path'] = cam['img_path']
            for key in ('lidar2img', 'cam2img', 'lidar2cam'):
                info[key] = np.asarray(cam[key], dtype=np.float64)
        return info
