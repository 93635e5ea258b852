"""The student baseline trains, checkpoints, resumes and predicts through mmengine's runner."""
import os

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from elite.datasets.class_weights import class_weights_from_counts, count_labels
from elite.datasets.synthetic import ensure_synthetic_dataset

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEMO = os.path.join(REPO, 'configs/spvcnnlite_demo.py')


def tiny_config(root: str, work_dir: str, epochs: int, split: str = 'train', checkpoint_interval: int = 1) -> Config:
    """The demo config on ``root``, trained without augmentation and evaluated on the same scans."""
    cfg = Config.fromfile(DEMO)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
        cfg[loader].dataset.ann_file = f'semantickitti_infos_{split}.pkl'
    cfg.train_dataloader.dataset.pipeline = cfg.test_pipeline
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    cfg.val_evaluator = cfg.test_evaluator = dict(type='SegMetric')
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=epochs)
    cfg.param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs, eta_min=0.0, by_epoch=True, begin=0,
                                end=epochs, convert_to_iter_based=True)]
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=checkpoint_interval)
    cfg.default_hooks.logger.interval = 50
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=0)
    return cfg


@pytest.fixture(scope='module')
def small_scans(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp('small_scans'))
    ensure_synthetic_dataset(root, ('00',), frames=2, num_points=2000)
    return root


def test_baseline_overfits_a_few_scans(small_scans, tmp_path):
    cfg = tiny_config(small_scans, str(tmp_path), epochs=100, checkpoint_interval=100)
    label_map = np.full(260, 19)
    for raw, train_id in cfg.labels_map.items():
        label_map[raw] = train_id
    labels = [os.path.join(small_scans, 'sequences/00/labels', f) for f in ('000000.label', '000001.label')]
    cfg.model.decode_head.loss_decode.class_weight = class_weights_from_counts(count_labels(labels, label_map, 19))
    cfg.optim_wrapper.optimizer.lr = 0.24
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.test()
    assert metrics['miou'] >= 0.9, metrics


def predict(model, dataset, index=0):
    from mmengine.dataset import pseudo_collate
    model.eval()
    with torch.no_grad():
        return model.test_step(pseudo_collate([dataset[index]]))[0]


def test_checkpoint_round_trip_and_resume(synthetic_root, tmp_path):
    work = str(tmp_path / 'work')
    runner = Runner.from_cfg(tiny_config(synthetic_root, work, epochs=2))
    runner.train()
    assert os.path.isfile(os.path.join(work, 'epoch_2.pth'))
    dataset = runner.test_dataloader.dataset
    trained = predict(runner.model, dataset)

    # a fresh model loading the checkpoint predicts exactly the same
    cfg = tiny_config(synthetic_root, str(tmp_path / 'load'), epochs=2)
    cfg.load_from = os.path.join(work, 'epoch_2.pth')
    reloaded = Runner.from_cfg(cfg)
    reloaded.load_or_resume()
    again = predict(reloaded.model, dataset)
    torch.testing.assert_close(again.pts_seg_logits.pts_seg_logits, trained.pts_seg_logits.pts_seg_logits)
    assert torch.equal(again.pred_pts_seg.pts_semantic_mask, trained.pred_pts_seg.pts_semantic_mask)

    # resuming from epoch 1 continues at its iteration and reproduces epoch 2's weights
    cfg = tiny_config(synthetic_root, str(tmp_path / 'resume'), epochs=2)
    cfg.resume, cfg.load_from = True, os.path.join(work, 'epoch_1.pth')
    resumed = Runner.from_cfg(cfg)
    resumed.load_or_resume()
    assert (resumed.epoch, resumed.iter) == (1, 1)
    resumed.train()
    assert resumed.iter == 2
    final = predict(resumed.model, dataset)
    torch.testing.assert_close(final.pts_seg_logits.pts_seg_logits, trained.pts_seg_logits.pts_seg_logits,
                               rtol=1e-4, atol=1e-4)
