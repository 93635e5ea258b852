"""The point-to-pixel correspondence survives the whole camera+LiDAR training pipeline."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from scipy.spatial import cKDTree

from elite.datasets.kitti_files import read_label, read_scan
from elite.datasets.synthetic import CLASS_RGB
from elite.datasets.transforms import project_to_image

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, 'configs/_base_/datasets/synthetic_kitti_mm.py')


def build_dataset(root, pipeline_filter=lambda t: True, split='train', pipeline='train_pipeline', **kwargs):
    from mmdet3d.registry import DATASETS
    cfg = Config.fromfile(CONFIG)
    loader = cfg.train_dataloader if split == 'train' else cfg.test_dataloader
    dataset_cfg = dict(loader.dataset, data_root=root, ann_file=f'semantickitti_infos_{split}.pkl',
                       pipeline=[t for t in cfg[pipeline] if pipeline_filter(t)], **kwargs)
    return DATASETS.build(dataset_cfg)


def undo_3d_augmentation(points: np.ndarray, meta: dict) -> np.ndarray:
    """Invert RandomFlip3D then GlobalRotScaleTransXY (rotate, scale x and y, translate) from the metainfo."""
    xyz = points[:, :3].astype(np.float64) - np.asarray(meta['pcd_trans'])
    xyz[:, :2] /= meta['pcd_scale_factor']
    xyz = xyz @ np.linalg.inv(np.asarray(meta['pcd_rotation'], dtype=np.float64))
    if meta['pcd_horizontal_flip']:
        xyz[:, 1] *= -1
    if meta['pcd_vertical_flip']:
        xyz[:, 0] *= -1
    return xyz


@pytest.mark.parametrize('seed', range(4))
def test_each_kept_point_keeps_its_pixel(synthetic_root, seed):
    dataset = build_dataset(synthetic_root, lambda t: t['type'] != 'ImageColorJitter')
    np.random.seed(seed)
    torch.manual_seed(seed)
    out = dataset[seed % 2]
    sample, points = out['data_samples'], out['inputs']['points'].numpy()
    meta = sample.metainfo
    assert points.shape[1] == 4  # the point_index column is gone
    info = dataset.get_data_info(seed % 2)
    original = read_scan(info['lidar_path'])
    # the range filter keeps the points strictly inside [-50, 50] x [-50, 50] x [-4, 2], before augmentation
    inside = ((original[:, :3] > [-50, -50, -4]) & (original[:, :3] < [50, 50, 2])).all(1)
    assert not inside.all()
    original = original[inside]
    raw_sem = read_label(info['pts_semantic_mask_path'], len(inside))[0][inside]
    assert 0.8 * len(original) <= len(points) < len(original)  # dropout (0-20 %) happened

    # recover which original point each output point is
    dist, ids = cKDTree(original[:, :3]).query(undo_3d_augmentation(points, meta))
    assert dist.max() < 1e-3
    assert len(np.unique(ids)) == len(ids)

    # where each original point projects, moved into the crop and mirrored if the image was flipped
    p2i, pix = project_to_image(original[:, :3], info['lidar2img'], (376, 1241))
    top, left = meta['crop_offset']
    crop_h, crop_w = meta['img_shape']
    expected = np.full((len(original), 2), -1)
    rows, cols = pix[:, 0] - top, pix[:, 1] - left
    inside = (rows >= 0) & (cols >= 0) & (cols < crop_w)
    if meta['img_flip']:
        cols = crop_w - 1 - cols
    expected[p2i[inside]] = np.stack([rows, cols], 1)[inside]

    has_pixel = np.flatnonzero(expected[ids, 0] >= 0)
    np.testing.assert_array_equal(sample.point2img_index.numpy(), has_pixel)
    np.testing.assert_array_equal(sample.img_indices.numpy(), expected[ids[has_pixel]])
    assert sample.img_indices.dtype == torch.int64 and len(has_pixel) > 200

    # and the pixel shows the point's class colour (up to occlusion / parallax at object edges)
    img = out['inputs']['img'].permute(1, 2, 0).numpy()  # the crop as loaded: the preprocessor normalises it
    pix_rgb = img[sample.img_indices[:, 0], sample.img_indices[:, 1]].astype(int)
    class_rgb = np.array([CLASS_RGB[int(c)] for c in raw_sem[ids[has_pixel]]])
    assert (np.abs(pix_rgb - class_rgb).max(1) < 25).mean() > 0.95
    assert tuple(out['inputs']['img'].shape) == (3, *meta['img_shape']) and out['inputs']['img'].dtype == torch.uint8


def test_flips_and_crops_vary_with_the_seed(synthetic_root):
    dataset = build_dataset(synthetic_root)
    seen = set()
    for seed in range(12):
        np.random.seed(seed)
        torch.manual_seed(seed)
        meta = dataset[0]['data_samples'].metainfo
        seen.add((meta['img_flip'], meta['crop_offset'][1] > 0))
    assert {True, False} <= {flip for flip, _ in seen}


def test_test_pipeline_crops_centred_and_deterministically(synthetic_root):
    dataset = build_dataset(synthetic_root, split='val', pipeline='camera_test_pipeline', test_mode=True)
    a, b = dataset[0], dataset[0]
    assert a['data_samples'].metainfo['crop_offset'] == (376 - 320, (1241 - 1024) // 2)
    torch.testing.assert_close(a['data_samples'].img_indices, b['data_samples'].img_indices)
    assert len(a['inputs']['points']) == len(read_scan(dataset.get_data_info(0)['lidar_path']))


def test_dataset_loads_every_split(synthetic_root):
    for split in ('train', 'val', 'trainval'):
        dataset = build_dataset(synthetic_root, split=split)
        assert len(dataset) == {'train': 2, 'val': 2, 'trainval': 4}[split]
        sample = dataset[len(dataset) - 1]['data_samples']
        assert sample.gt_pts_seg.pts_semantic_mask.max() <= 19
    # the test split has no labels: a pipeline without LoadAnnotations3D
    test = build_dataset(synthetic_root, lambda t: t['type'] not in ('LoadCheckedAnnotations3D',
                                                                      'PointSegClassMapping'),
                         split='test', pipeline='camera_test_pipeline', test_mode=True)
    out = test[1]
    assert len(test) == 2 and out['data_samples'].metainfo['sequence'] == '11'
    assert 'pts_semantic_mask' not in out['data_samples'].gt_pts_seg


def test_missing_image_is_reported_with_its_path(synthetic_root, tmp_path):
    import shutil
    root = str(tmp_path / 'k')
    shutil.copytree(synthetic_root, root)
    dataset = build_dataset(root)
    path = dataset.get_data_info(0)['img_path']
    os.remove(path)
    with pytest.raises(FileNotFoundError, match='camera image not found') as err:
        dataset[0]
    assert path in str(err.value)
