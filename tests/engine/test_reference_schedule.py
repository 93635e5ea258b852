"""The reference's learning-rate schedule and AdaLoRA allocation order inside mmengine's loop."""
import math
import os

import pytest
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner
from torch import nn
from toy_runner import LinearModel, toy_dataloader, unique_experiment_name

import elite.engine.schedulers as schedulers
from elite.engine.hooks.adalora_hook import AdaLoRARankAllocationHook
from elite.engine.optim_wrapper import ELiTeOptimWrapper
from elite.engine.schedulers import ReferenceCosineLR

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def reference_factor(k, num_epochs, batch_size, dataset_size, num_gpu):
    """2DPASS utils/schedulers.py cosine_schedule_with_warmup, as written there."""
    batch_size *= num_gpu
    warmup_iters = 0 if num_gpu == 1 else 1000 // num_gpu
    if k < warmup_iters:
        return (k + 1) / warmup_iters
    iter_per_epoch = (dataset_size + batch_size - 1) // batch_size
    return 0.5 * (1 + math.cos(math.pi * (k - warmup_iters) / (num_epochs * iter_per_epoch)))


@pytest.mark.parametrize('world_size', [1, 2, 4])
def test_schedule_follows_the_reference_formula(world_size, monkeypatch):
    monkeypatch.setattr(schedulers, 'get_world_size', lambda: world_size)
    epochs, batch, dataset = 3, 4, 2000
    per_epoch = math.ceil(dataset / (batch * world_size))
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=0.24)
    scheduler = ReferenceCosineLR.build_iter_from_epoch(optimizer, warmup_iters=1000, begin=0, end=epochs,
                                                        epoch_length=per_epoch)
    lrs = []
    for _ in range(epochs * per_epoch):
        lrs.append(optimizer.param_groups[0]['lr'])
        optimizer.step()
        scheduler.step()
    expected = [0.24 * reference_factor(k, epochs, batch, dataset, world_size) for k in range(epochs * per_epoch)]
    assert lrs == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if world_size == 1:  # no warm-up: the plain cosine
        assert lrs[0] == 0.24
    else:
        assert lrs[0] == pytest.approx(0.24 / (1000 // world_size))


class RecordingTeacher:
    """Records, at each allocation, the gradient norm it sees and whether the weights were already stepped."""
    tuning = 'adalora'

    def __init__(self, param):
        self.param, self.seen = param, []

    def set_total_steps(self, total):
        self.total = total

    def update_and_allocate(self, step):
        self.seen.append((step, float(self.param.grad.norm()), float(self.param.detach()[0])))


class FakeRunner:
    def __init__(self, model, optim_wrapper):
        self.model, self.optim_wrapper, self.max_iters, self.iter = model, optim_wrapper, 10, 0


@pytest.mark.parametrize('order', ['reference', 'after_step'])
def test_allocation_sees_unclipped_gradients_before_the_step_in_reference_order(order):
    param = nn.Parameter(torch.zeros(4))
    model = nn.Module()
    model.teacher = RecordingTeacher(param)
    wrapper = ELiTeOptimWrapper(optimizer=torch.optim.SGD([param], lr=1.0), clip_grad=dict(max_norm=1.0),
                                adalora_order=order)
    AdaLoRARankAllocationHook().before_train(FakeRunner(model, wrapper))
    wrapper.update_params((param * torch.tensor([30.0, 40.0, 0.0, 0.0])).sum())  # gradient norm 50
    (step, grad_norm, weight), = model.teacher.seen
    if order == 'reference':  # after backward, before clipping and the step (ELiTe's on_after_backward)
        assert grad_norm == pytest.approx(50.0) and weight == 0.0
    else:  # peft's order: after clipping and the step, before zero_grad
        assert grad_norm == pytest.approx(1.0) and weight == pytest.approx(-0.6)
    assert float(param.detach()[0]) == pytest.approx(-0.6)  # the clipped step happened once either way


class _RecordLR(Hook):
    def __init__(self):
        self.lrs = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.lrs.append(runner.optim_wrapper.get_lr()['lr'][0])


def test_shipped_schedule_ends_with_the_run(tmp_path):
    """The configs' scheduler has no `end`: the runner ends it with train_cfg.max_epochs, so overriding the
    epochs (a demo, --cfg-options) keeps the reference cosine over the whole run."""
    cfg = Config.fromfile(os.path.join(REPO, 'configs', 'spvcnnlite_demo.py'))
    epochs, batch, dataset = 3, 2, 10
    record = _RecordLR()
    runner = Runner(model=LinearModel(), work_dir=str(tmp_path), optim_wrapper=cfg.optim_wrapper,
                    param_scheduler=cfg.param_scheduler, train_dataloader=toy_dataloader(dataset, batch),
                    train_cfg=dict(by_epoch=True, max_epochs=epochs), custom_hooks=[record],
                    default_hooks=dict(checkpoint=None, logger=None), default_scope='mmdet3d',
                    experiment_name=unique_experiment_name())
    runner.train()
    expected = [0.24 * reference_factor(k, epochs, batch, dataset, 1) for k in range(epochs * dataset // batch)]
    assert record.lrs == pytest.approx(expected, rel=1e-9)
