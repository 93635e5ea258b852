"""Headless test-time pictures: bird's-eye view of prediction vs ground truth per scan (``--show-dir``).

mmdet3d's ``Det3DVisualizationHook`` draws point clouds with open3d and needs a display; this hook writes
PNGs with numpy and OpenCV only, so it runs on servers and in CI.
"""
import os
from typing import Optional, Sequence

import cv2
import numpy as np
from elite_deploy.bev import draw_bev, side_by_side
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook

from ...datasets.kitti_files import read_scan


@HOOKS.register_module()
class BEVVisualizationHook(Hook):
    """Every ``interval``-th test sample: ``out_dir/{sequence}_{frame_id}.png``, prediction | ground truth."""

    def __init__(self, out_dir: str, interval: int = 1, extent: float = 50.0, resolution: float = 0.1) -> None:
        self.out_dir = out_dir
        self.interval = interval
        self.extent = extent
        self.resolution = resolution
        self._count = 0

    def after_test_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                        outputs: Optional[Sequence] = None) -> None:
        palette = runner.test_dataloader.dataset.metainfo['palette']
        for sample in outputs:
            self._count += 1
            if (self._count - 1) % self.interval:
                continue
            # the scan as stored (not as augmented, e.g. by TTA), in the order the predictions follow
            xyz = read_scan(sample.metainfo['lidar_path'])[:, :3]
            pred = sample.pred_pts_seg.pts_semantic_mask.cpu().numpy()
            panels = [draw_bev(xyz, pred, palette, self.extent, self.resolution)]
            titles = ['prediction']
            if 'pts_semantic_mask' in sample.gt_pts_seg:
                panels.append(draw_bev(xyz, sample.gt_pts_seg.pts_semantic_mask.cpu().numpy(), palette,
                                       self.extent, self.resolution))
                titles.append('ground truth')
            name = f'{sample.metainfo.get("sequence", "")}_{sample.metainfo.get("frame_id", self._count)}.png'
            os.makedirs(self.out_dir, exist_ok=True)
            picture = side_by_side(panels, titles)[:, :, ::-1]
            cv2.imwrite(os.path.join(self.out_dir, name), np.ascontiguousarray(picture))
