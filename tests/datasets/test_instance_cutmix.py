"""InstanceCutMix and the benchmark recipe: another scan's in-range instance points pasted, without pixels; the
learning rate of the reference's CosineAnnealingLR(T_max = epochs - 4, eta_min = 1e-5) stepped per epoch."""
import os

import numpy as np
import torch
from mmdet3d.registry import DATASETS
from mmengine.config import Config
from mmengine.optim.scheduler import CosineAnnealingLR
from synthetic_pseudo_labels import pseudo_labelled_copy

from elite.datasets.kitti_files import read_label, read_scan
from elite.datasets.transforms import InstanceCutMix

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARK = os.path.join(REPO, 'configs/elite_semantickitti_benchmark.py')


def test_pasted_points_are_the_other_scans_in_range_instance_points(synthetic_root):
    cfg = Config.fromfile(BENCHMARK)
    lidar_pipeline = [*cfg.load_steps, cfg.range_filter]
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=synthetic_root, pipeline=lidar_pipeline,
                                  ann_file='semantickitti_infos_train.pkl',
                                  modality=dict(use_lidar=True, use_camera=False)))
    cutmix = InstanceCutMix(pre_transform=cfg.load_steps, augment=[], point_cloud_range=cfg.point_cloud_range)
    results = dataset.get_data_info(0)
    results['dataset'] = dataset
    results = dataset.pipeline(results)
    own = len(results['points'])
    own_labels = results['pts_semantic_mask'].copy()
    out = cutmix(dict(results, dataset=dataset))
    # by hand from the other scan's files (the only other training scan): strictly inside the range, instance != 0
    other = dataset.get_data_info(1)['lidar_points']['lidar_path']
    scan = read_scan(other)
    semantic, instance = read_label(dataset.get_data_info(1)['pts_semantic_mask_path'], len(scan))
    inside = ((scan[:, :3] > [-50, -50, -4]) & (scan[:, :3] < [50, 50, 2])).all(1) & (instance != 0)
    assert 0 < inside.sum() < len(scan)
    pasted = out['points'].tensor.numpy()[own:]
    np.testing.assert_array_equal(pasted, scan[inside])
    mapping = np.asarray(results['seg_label_mapping'])  # raw id -> training id
    np.testing.assert_array_equal(out['pts_semantic_mask'][own:], mapping[semantic[inside]])
    np.testing.assert_array_equal(out['pts_semantic_mask'][:own], own_labels)


def test_benchmark_pipeline_pastes_points_without_pixels(synthetic_root, tmp_path):
    root = pseudo_labelled_copy(synthetic_root, str(tmp_path / 'data'))
    cfg = Config.fromfile(BENCHMARK)
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root))
    assert len(dataset) == 4  # trainval of the test dataset: two frames of 00 and two of 08
    np.random.seed(0)
    sizes = []
    for _ in range(3):
        sample = dataset[0]
        points, data_sample = sample['inputs']['points'], sample['data_samples']
        labels = data_sample.gt_pts_seg.pts_semantic_mask
        assert len(labels) == len(points)
        own = int(data_sample.point2img_index.max()) + 1  # the pasted points come after every point with a pixel
        sizes.append(len(points))
        assert own < len(points)
    assert len(set(sizes)) > 1  # independent random draws for each paste


def test_benchmark_schedule_is_the_references_per_epoch_cosine():
    cfg = Config.fromfile(BENCHMARK)
    assert cfg.train_dataloader.batch_size == 2 and cfg.train_cfg.max_epochs == 128
    assert cfg.train_dataloader.dataset.ann_file == 'semantickitti_infos_trainval.pkl'
    ours_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.24)
    ref_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.24)
    args = {k: v for k, v in cfg.param_scheduler[0].items() if k != 'type'}
    assert cfg.param_scheduler[0]['type'] == 'CosineAnnealingLR'
    ours = CosineAnnealingLR(ours_opt, **args)
    reference = torch.optim.lr_scheduler.CosineAnnealingLR(ref_opt, T_max=128 - 4, eta_min=1e-5)  # base_model.py
    for epoch in range(128):
        assert abs(ours_opt.param_groups[0]['lr'] - ref_opt.param_groups[0]['lr']) < 1e-12, epoch
        ours.step()
        reference.step()
    # the reference's curve: 0.24 at epoch 0, 1e-5 at epoch 124, then rising again over the last 4 epochs
    lrs = []
    sched_opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.24)
    sched = CosineAnnealingLR(sched_opt, **args)
    for _ in range(128):
        lrs.append(sched_opt.param_groups[0]['lr'])
        sched.step()
    assert lrs[0] == 0.24 and abs(lrs[124] - 1e-5) < 1e-12 and lrs[127] > lrs[124]
