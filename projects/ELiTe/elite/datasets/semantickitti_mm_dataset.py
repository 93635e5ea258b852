"""SemanticKITTI with the camera: the plugin's dataset plus the image and calibration of each scan."""
from typing import Optional

import numpy as np
from mmdet3d.registry import DATASETS

from .semantickitti_frame_dataset import SemanticKittiFrameDataset
from .semantickitti_infos import CAMERA


@DATASETS.register_module()
class SemanticKittiMMDataset(SemanticKittiFrameDataset):
    """:class:`SemanticKittiFrameDataset` whose samples also carry ``img_path`` and ``lidar2img``.

    Reads info files written by ``tools/create_data.py semantickitti``. Besides the parent's keys (mmdet3d's,
    ``sequence``, ``frame_id``, ``data_root``, ``pose``, ``lidar_pose``) each sample gives the pipeline
    ``img_path`` (absolute) and ``lidar2img`` / ``cam2img`` / ``lidar2cam`` (4, 4) float64. The camera is on by
    default; ``modality=dict(use_lidar=True, use_camera=False)`` gives the LiDAR-only behaviour.
    """

    def __init__(self, *args, modality: Optional[dict] = None, **kwargs) -> None:
        super().__init__(*args, modality=modality or dict(use_lidar=True, use_camera=True), **kwargs)

    def parse_data_info(self, info: dict) -> dict:
        info = super().parse_data_info(info)
        if self.modality.get('use_camera', False):
            if CAMERA not in info.get('images', {}):
                raise KeyError(f'sample {info.get("sample_idx")} of {self.ann_file} has no {CAMERA} image info; '
                               'rebuild the infos with tools/create_data.py semantickitti')
            cam = info['images'][CAMERA]
            info['img_path'] = cam['img_path']
            for key in ('lidar2img', 'cam2img', 'lidar2cam'):
                info[key] = np.asarray(cam[key], dtype=np.float64)
        return info
