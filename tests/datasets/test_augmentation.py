"""The reference's 3D augmentation and test-time views (2DPASS dataloader/dataset.py, --num_vote)."""
import os

import numpy as np
import torch
from mmdet3d.structures import Det3DDataSample, PointData
from mmdet3d.structures.points import LiDARPoints
from mmengine.config import Config

from elite.datasets.transforms import GlobalRotScaleTransXY, SeededRotTransView
from elite.models.segmentors import Seg3DLogitSumTTAModel

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def lidar(points):
    return LiDARPoints(np.asarray(points, np.float32), points_dim=4)


def test_scale_multiplies_x_and_y_only():
    np.random.seed(0)
    t = GlobalRotScaleTransXY(rot_range=[0, 0], scale_ratio_range=[1.05, 1.05], translation_std=[0, 0, 0])
    out = t(dict(points=lidar([[10.0, -4.0, 1.5, 0.3]]), bbox3d_fields=[]))
    np.testing.assert_allclose(out['points'].tensor.numpy(), [[10.5, -4.2, 1.5, 0.3]], rtol=1e-6)


def test_views_are_seeded_per_scan_and_view_and_keep_shapes():
    points = np.random.default_rng(0).normal(size=(50, 4)).astype(np.float32)

    def view(v, path='a/sequences/08/velodyne/000000.bin', seed=0):
        out = SeededRotTransView(view=v, seed=seed)(dict(points=lidar(points), lidar_path=path))
        return out['points'].tensor.numpy(), out['pcd_rotation_angle'], out['pcd_trans']

    a, angle, trans = view(3)
    b, *_ = view(3)
    np.testing.assert_array_equal(a, b)  # repeatable
    assert not np.allclose(a, view(4)[0]) and not np.allclose(a, view(3, path='other.bin')[0])
    assert not np.allclose(a, view(3, seed=1)[0])
    # a rotation about z by the recorded angle (mmdet3d's sign convention) and the recorded translation
    rotations = [points[:, :2] @ np.array([[np.cos(t), np.sin(t)], [-np.sin(t), np.cos(t)]]) for t in (angle, -angle)]
    assert any(np.allclose(a[:, :2], xy + trans[:2], atol=1e-5) for xy in rotations)
    np.testing.assert_allclose(a[:, 2], points[:, 2] + trans[2], atol=1e-6)
    np.testing.assert_array_equal(a[:, 3], points[:, 3])
    # over many scans, angles cover [0, 2 pi) and translations have standard deviation 0.1
    draws = [view(0, path=f'{i}.bin')[1:] for i in range(400)]
    angles = np.array([d[0] for d in draws])
    translations = np.stack([d[1] for d in draws])
    assert angles.min() >= 0 and angles.max() < 2 * np.pi and abs(angles.mean() - np.pi) < 0.3
    assert np.all(np.abs(translations.std(0) - 0.1) < 0.02)


def test_logit_sum_merge_differs_from_softmax_average():
    """Two views: summed raw logits pick class 1, averaged softmax picks class 0 (mmdet3d's merge)."""
    logits = [torch.tensor([[4.0], [0.0], [0.0]]), torch.tensor([[-4.0], [1.0], [0.0]])]
    views = []
    for view_logits in logits:
        sample = Det3DDataSample()
        sample.pts_seg_logits = PointData(pts_seg_logits=view_logits.clone())
        sample.pred_pts_seg = PointData(pts_semantic_mask=view_logits.argmax(0))
        views.append(sample)
    softmax_mean = sum(v.softmax(0) for v in logits) / 2
    assert softmax_mean.argmax(0).item() == 0
    merged = Seg3DLogitSumTTAModel.merge_preds(None, [views])[0]  # merge_preds uses no state
    assert merged.pred_pts_seg.pts_semantic_mask.item() == 1
    torch.testing.assert_close(merged.pts_seg_logits.pts_seg_logits, logits[0] + logits[1])


def test_configs_follow_the_reference_data():
    cfg = Config.fromfile(os.path.join(REPO, 'configs/elite_semantickitti.py'))
    train = [t['type'] for t in cfg.train_dataloader.dataset.pipeline]
    # in-range points first (before projection and any augmentation), x / y scaling, dropout 0-20 %
    order = [train.index(t) for t in ('PointsRangeFilter', 'ProjectPointsToImage', 'RandomFlip3DPointsOnly')]
    assert order == sorted(order)
    assert cfg.train_dataloader.dataset.pipeline[train.index('PointsRangeFilter')].point_cloud_range == \
        [-50, -50, -4, 50, 50, 2]
    assert 'GlobalRotScaleTransXY' in train and 'GlobalRotScaleTrans' not in train
    assert cfg.train_dataloader.dataset.pipeline[train.index('PointSample')].num_points == 0.8
    test = [t['type'] for t in cfg.test_dataloader.dataset.pipeline]
    assert 'PointsRangeFilter' not in test and 'PointSample' not in test  # every point predicted
    views = cfg.tta_pipeline[-1]['transforms'][0]
    assert [v['view'] for v in views] == list(range(12)) and cfg.tta_model.type == 'Seg3DLogitSumTTAModel'
    assert cfg.views16_tta_model.type == 'Seg3DTTAModel'
    assert cfg.val_evaluator.point_cloud_range == [-50, -50, -4, 50, 50, 2]
