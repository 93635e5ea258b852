"""ELiTe (PPMSKD) through mmengine's runner: supervised losses fall, AdaLoRA reaches its target rank."""
import os

import numpy as np
from mmengine.config import Config
from mmengine.runner import Runner

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_short_elite_run_lowers_losses_and_allocates_ranks(synthetic_root, tmp_path):
    cfg = Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = synthetic_root
    # deterministic camera+LiDAR samples (centred crop, no augmentation), the same two scans every step
    cfg.train_dataloader.dataset.pipeline = cfg.camera_test_pipeline
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    epochs = 12
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=epochs, val_interval=epochs + 1)
    cfg.param_scheduler = []
    cfg.optim_wrapper.optimizer.lr = 0.05
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=epochs)
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path)
    cfg.randomness = dict(seed=0)
    runner = Runner.from_cfg(cfg)
    runner.train()

    history = runner.message_hub.log_scalars
    names = [k for k in history if k.startswith('train/') and 'loss_' in k]
    supervised = [k for k in names if 'kd' not in k and 'orth' not in k]
    assert len(supervised) == 2 * (1 + 4 * 2 + 1)  # CE + Lovasz of the student, 4 point and 4 patch stages, fused
    for name in supervised:
        values = history[name].data[0]
        assert np.mean(values[-3:]) < np.mean(values[:3]), (name, values)
    kd = [history[f'train/kd_{i}.loss_kd'].data[0] for i in range(4)]
    assert all(np.isfinite(v).all() and (v >= 0).all() for v in kd)

    # AdaLoRA: T = 12 steps from the runner, budget down to target_r on every adapted matrix at the end
    teacher = runner.model.teacher
    config = teacher.peft_tuner.peft_config['default']
    assert config.total_step == epochs
    kept = sum(int(sum(mask)) for mask in config.rank_pattern.values())
    assert kept == config.target_r * len(config.rank_pattern)

    # the allocation state is not in state_dict: the hook saves it, and resuming restores it
    cfg.resume, cfg.load_from = True, os.path.join(str(tmp_path), f'epoch_{epochs}.pth')
    cfg.work_dir = str(tmp_path / 'resumed')
    resumed = Runner.from_cfg(cfg)
    resumed.load_or_resume()
    restored = resumed.model.teacher.peft_tuner.peft_config['default']
    assert restored.rank_pattern == config.rank_pattern
