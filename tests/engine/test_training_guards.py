"""Bad runs stop clearly: non-finite losses before they reach the weights, AMP overflows skipped without
poisoning AdaLoRA, checkpoints that lack inference weights refused, truncated checkpoints passed over."""
import os

import pytest
import torch
from cpu_amp import CPUFloat16AmpOptimWrapper
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from tools_loader import load_tool
from torch import nn

from elite.engine.hooks import AdaLoRARankAllocationHook, NonFiniteGuardHook, NonFiniteTrainingError
from elite.engine.optim_wrapper import ELiTeOptimWrapper

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BASELINE = os.path.join(REPO, 'configs/spvcnnlite_demo.py')


class FakeRunner:
    def __init__(self, model, optim_wrapper):
        self.model, self.optim_wrapper, self.max_iters, self.iter, self.epoch = model, optim_wrapper, 10, 4, 0


def train_iteration(runner, hooks, batch):
    """One iteration as mmengine's train loop runs it: the hooks around the model's ``train_step``."""
    for hook in hooks:
        hook.before_train_iter(runner, 0, batch)
    outputs = runner.model.train_step(batch, runner.optim_wrapper)
    for hook in hooks:
        hook.after_train_iter(runner, 0, batch, outputs)
    return outputs


def data_options(root, epochs=1):
    return [f'{loader}.dataset.data_root={root}' for loader in ('train_dataloader', 'val_dataloader',
                                                                 'test_dataloader')] + [
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}', 'default_hooks.checkpoint.interval=1']


def test_non_finite_loss_stops_before_the_step_naming_terms_and_files(synthetic_root):
    cfg = Config.fromfile(BASELINE)
    model = MODELS.build(cfg.model).train()
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=synthetic_root))
    batch = pseudo_collate([dataset[0]])
    batch['inputs']['points'][0][:5, 0] = float('nan')  # as a damaged scan would (the loaders refuse those)
    wrapper = ELiTeOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1), clip_grad=dict(max_norm=1.0))
    runner = FakeRunner(model, wrapper)
    hook = NonFiniteGuardHook()
    hook.before_train(runner)
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    with pytest.raises(NonFiniteTrainingError, match='non-finite loss at iteration 5') as err:
        train_iteration(runner, [hook], batch)
    assert 'loss_sem_seg=nan' in str(err.value) and batch['data_samples'][0].lidar_path in str(err.value)
    for key, value in model.named_parameters():  # the step never happened (the run stops: nothing is saved)
        assert torch.equal(value, before[key]), key
    # a finite batch passes through the guard and steps
    for module in model.modules():  # the NaN batch reached BatchNorm's running statistics in its forward
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
    train_iteration(runner, [hook], pseudo_collate([dataset[1]]))
    assert not torch.equal(model.decode_head.conv_seg[0].weight, before['decode_head.conv_seg.0.weight'])


def test_non_finite_gradient_with_a_finite_loss_stops_too():
    param = nn.Parameter(torch.ones(2))
    model = nn.Module()
    model.weight = param
    model.parse_losses = lambda losses: (losses['loss'], {'loss': losses['loss'].detach()})
    wrapper = ELiTeOptimWrapper(optimizer=torch.optim.SGD([param], lr=0.1))
    runner = FakeRunner(model, wrapper)
    guard = NonFiniteGuardHook()
    guard.before_train(runner)
    loss, log_vars = model.parse_losses({'loss': (param * torch.tensor([0.0, 1.0])).sum()})
    wrapper.backward(loss)
    param.grad[0] = float('inf')
    wrapper.step()  # refused
    with pytest.raises(NonFiniteTrainingError, match='non-finite gradients .* weight'):
        guard.after_train_iter(runner, 0, None, log_vars)
    assert torch.equal(param.detach(), torch.ones(2))


def test_diverging_training_run_exits_1_without_a_poisoned_checkpoint(synthetic_root, tmp_path, capsys):
    """tools/train.py with a learning rate that blows the weights up: the guard stops it with exit 1."""
    work = str(tmp_path / 'work')
    code = load_tool('train').main([BASELINE, '--work-dir', work, '--cfg-options', *data_options(synthetic_root, 2),
                                    'optim_wrapper.optimizer.lr=1e30', 'optim_wrapper.clip_grad=None',
                                    'train_dataloader.batch_size=1'])
    assert code == 1
    err = capsys.readouterr().err
    assert 'non-finite' in err and 'sequences/00/velodyne' in err
    assert not [f for f in os.listdir(work) if f.endswith('.pth')]


def test_a_non_finite_gradient_stops_the_step_before_adalora_reads_it():
    """The configs' optimiser wrapper and hooks: the wrapper's step checks first, so a non-finite gradient stops
    the step before the allocation would fold it into AdaLoRA's importance scores."""
    from mmdet3d.registry import HOOKS, OPTIM_WRAPPERS

    from elite.models.backbones import SAMViTTeacher
    torch.manual_seed(0)
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
    model = nn.Module()
    model.teacher = teacher
    params = [p for p in teacher.parameters() if p.requires_grad]
    schedule = Config.fromfile(os.path.join(REPO, 'configs/_base_/schedules/sgd_cosine_64e.py'))
    wrapper = OPTIM_WRAPPERS.build(dict(schedule.optim_wrapper, optimizer=torch.optim.SGD(params, lr=0.01)))
    runner = FakeRunner(model, wrapper)
    runner.max_iters, runner.iter = 600, 0
    model.parse_losses = lambda losses: (losses['loss'], {'loss': losses['loss'].detach()})
    hooks = [HOOKS.build(h) for h in Config.fromfile(os.path.join(REPO, 'configs/_base_/default_runtime.py'))
             .custom_hooks if h['type'] in ('NonFiniteGuardHook', 'AdaLoRARankAllocationHook')]
    for hook in hooks:
        hook.before_train(runner)
    calls = []
    teacher.update_and_allocate = lambda step: calls.append(step)
    loss, log_vars = model.parse_losses({'loss': sum(t.pow(2).mean() for t in teacher(
        torch.randn(1, 3, 1024, 1024), (320, 1024)))})
    wrapper.backward(loss)
    params[0].grad.view(-1)[0] = float('nan')
    wrapper.step()
    with pytest.raises(NonFiniteTrainingError, match='non-finite gradients'):
        for hook in hooks:
            hook.after_train_iter(runner, 0, None, log_vars)
    assert calls == []


@pytest.mark.parametrize('order', ['reference', 'after_step'])
def test_amp_overflow_is_skipped_without_tripping_the_guard_or_allocating(order):
    from elite.models.backbones import SAMViTTeacher
    torch.manual_seed(0)
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
    model = nn.Module()
    model.teacher = teacher
    params = [p for p in teacher.parameters() if p.requires_grad]
    wrapper = CPUFloat16AmpOptimWrapper(optimizer=torch.optim.SGD(params, lr=0.01), clip_grad=dict(max_norm=1.0),
                                        adalora_order=order)
    runner = FakeRunner(model, wrapper)
    runner.max_iters, runner.iter = 600, 0
    model.parse_losses = lambda losses: (losses['loss'], {'loss': losses['loss'].detach()})
    guard, allocation = NonFiniteGuardHook(), AdaLoRARankAllocationHook()
    allocation.before_train(runner)
    guard.before_train(runner)
    calls = []
    allocate = teacher.update_and_allocate
    teacher.update_and_allocate = lambda step: calls.append(allocate(step))
    img = torch.randn(1, 3, 1024, 1024)

    def step(scale):
        out = sum(t.float().pow(2).mean() for t in teacher(img, (320, 1024)))
        loss, log_vars = model.parse_losses({'loss': out * scale})
        wrapper.update_params(loss)
        guard.after_train_iter(runner, 0, None, log_vars)  # the guard does not stop a step the scaler skipped
    step(1.0)
    scale = wrapper.loss_scaler.get_scale()
    weights = [p.detach().clone() for p in params]
    step(1e38)  # the scaled loss overflows: infinite gradients, the scaler skips the step
    assert wrapper.loss_scaler.get_scale() == scale / 2
    assert all(torch.equal(w, p.detach()) for w, p in zip(weights, params))
    assert calls == [True, False]  # the allocation ran on the normal step only
    allocator = teacher.peft_tuner.rankallocator
    assert allocator.ipt and all(torch.isfinite(v).all() for v in allocator.ipt.values())
    assert all(torch.isfinite(v).all() for v in allocator.exp_avg_ipt.values())


def test_checkpoints_without_the_inference_weights_are_refused(synthetic_root, tmp_path, capsys):
    test = load_tool('test')
    options = ['--cfg-options', *data_options(synthetic_root)]
    garbage = str(tmp_path / 'garbage.pth')
    torch.save({'meta': {}, 'something': torch.zeros(3)}, garbage)
    assert test.main([BASELINE, garbage, '--work-dir', str(tmp_path / 'w1'), *options]) == 1
    err = capsys.readouterr().err
    assert garbage in err and 'backbone.point_mlp.0.weight' in err
    # an ELiTe checkpoint (student + teacher + decoders) into the student-only config: extra keys are fine
    elite = MODELS.build(Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py')).model)
    path = str(tmp_path / 'elite.pth')
    torch.save({'state_dict': elite.state_dict(), 'meta': {}}, path)
    assert test.main([BASELINE, path, '--work-dir', str(tmp_path / 'w2'), *options]) == 0
    # load_from of a training run goes through the same check
    assert load_tool('train').main([BASELINE, '--work-dir', str(tmp_path / 'w3'), '--cfg-options',
                                    *data_options(synthetic_root), f'load_from={garbage}']) == 1
    assert garbage in capsys.readouterr().err


def test_resume_passes_over_a_truncated_newest_checkpoint(synthetic_root, tmp_path, capsys):
    train = load_tool('train')
    work = str(tmp_path / 'work')
    assert train.main([BASELINE, '--work-dir', work, '--cfg-options', *data_options(synthetic_root, 2)]) == 0
    newest = os.path.join(work, 'epoch_2.pth')
    with open(newest, 'r+b') as f:  # as if the run had been killed while writing it
        f.truncate(os.path.getsize(newest) // 2)
    capsys.readouterr()
    assert train.main([BASELINE, '--work-dir', work, '--resume', '--cfg-options',
                       *data_options(synthetic_root, 2)]) == 0
    out = capsys.readouterr().out
    assert 'incomplete checkpoint' in out and 'resumed epoch: 1' in out
    assert os.path.getsize(newest) > 2 * 1024  # epoch 2 trained and written again, whole
    from elite.engine.runner_setup import is_complete_checkpoint
    assert is_complete_checkpoint(newest)


def test_amp_without_clipping_allocates_on_unscaled_gradients():
    """Without clip_grad mmengine's AmpOptimWrapper would unscale inside the scaler's step, after the allocation:
    the wrapper unscales first, so AdaLoRA's importance reads the gradients themselves, not times 2^16."""
    from elite.models.backbones import SAMViTTeacher
    seen = {}
    for amp in (False, True):
        torch.manual_seed(0)
        teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
        model = nn.Module()
        model.teacher = teacher
        params = [p for p in teacher.parameters() if p.requires_grad]
        optimizer = torch.optim.SGD(params, lr=0.0)
        wrapper = CPUFloat16AmpOptimWrapper(optimizer=optimizer) if amp else ELiTeOptimWrapper(optimizer=optimizer)
        runner = FakeRunner(model, wrapper)
        runner.max_iters, runner.iter = 600, 200  # inside the allocation phase
        wrapper.initialize_count_status(model, runner.iter, runner.max_iters)  # as the runner does
        AdaLoRARankAllocationHook().before_train(runner)
        allocate = teacher.update_and_allocate
        teacher.update_and_allocate = lambda step: (seen.setdefault(amp, [p.grad.clone() for p in params]),
                                                    allocate(step))[1]
        img = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
        loss = sum(t.pow(2).mean() for t in teacher(img))
        wrapper.update_params(loss)
    for plain, amp in zip(seen[False], seen[True]):
        torch.testing.assert_close(amp, plain)
