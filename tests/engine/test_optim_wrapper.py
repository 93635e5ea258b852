"""The plugin's optimiser step, in its order: non-finite check, AdaLoRA's allocation, clipping, the optimiser step;
the hooks that hand it the teacher and report a refused step; ``--amp``'s choice of its AMP twin."""
import os

import pytest
import torch
from cpu_amp import CPUFloat16AmpOptimWrapper
from mmengine.config import Config
from mmengine.optim import OptimWrapper
from torch import nn

import elite.engine.optim_wrapper as optim_wrapper_module
from elite.engine.hooks import AdaLoRARankAllocationHook, NonFiniteGuardHook, NonFiniteTrainingError
from elite.engine.optim_wrapper import ELiTeOptimWrapper, amp_twin
from elite.engine.runner_setup import use_amp

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class FakeRunner:
    def __init__(self, model, optim_wrapper):
        self.model, self.optim_wrapper, self.max_iters, self.iter, self.epoch = model, optim_wrapper, 10, 0, 0


class RecordingTeacher(nn.Module):
    tuning = 'adalora'

    def __init__(self, events):
        super().__init__()
        self.events, self.steps = events, []

    def set_total_steps(self, total):
        self.total = total

    def update_and_allocate(self, step):
        self.events.append('allocate')
        self.steps.append(step)


def recorded(events, name, method):
    def record(*args, **kwargs):
        events.append(name)
        return method(*args, **kwargs)
    return record


def recording_setup(amp, order, monkeypatch, hooks=(AdaLoRARankAllocationHook, NonFiniteGuardHook)):
    """A wrapper whose check, unscaling, allocation, clipping and optimiser step each note their name in ``events``."""
    events = []
    model = nn.Module()
    model.weight = nn.Parameter(torch.ones(3))
    model.teacher = RecordingTeacher(events)
    optimizer = torch.optim.SGD([model.weight], lr=0.1)
    optimizer.step = recorded(events, 'step', optimizer.step)
    wrapper_type = CPUFloat16AmpOptimWrapper if amp else ELiTeOptimWrapper
    wrapper = wrapper_type(optimizer=optimizer, clip_grad=dict(max_norm=1.0), adalora_order=order)
    wrapper.clip_func = recorded(events, 'clip', wrapper.clip_func)
    if amp:
        wrapper.loss_scaler.unscale_ = recorded(events, 'unscale', wrapper.loss_scaler.unscale_)
    monkeypatch.setattr(optim_wrapper_module, 'find_non_finite',
                        recorded(events, 'check', optim_wrapper_module.find_non_finite))
    runner = FakeRunner(model, wrapper)
    for hook in hooks:
        hook().before_train(runner)
    return model, wrapper, events


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'amp'])
@pytest.mark.parametrize('order, expected', [
    ('reference', ['check', 'unscale', 'allocate', 'clip', 'step']),
    ('after_step', ['check', 'unscale', 'clip', 'step', 'allocate'])])
def test_the_step_checks_allocates_clips_and_steps_in_this_order(amp, order, expected, monkeypatch):
    model, wrapper, events = recording_setup(amp, order, monkeypatch)
    wrapper.update_params((model.weight * 3).sum())
    assert events == [e for e in expected if amp or e != 'unscale']
    assert model.teacher.steps == [0] and model.teacher.total == 10
    assert not torch.equal(model.weight.detach(), torch.ones(3))


@pytest.mark.parametrize('amp', [False, True], ids=['fp32', 'amp'])
@pytest.mark.parametrize('order', ['reference', 'after_step'])
def test_a_non_finite_step_stops_at_the_check(amp, order, monkeypatch):
    """Nothing after the check runs: no unscaling, no allocation, no clipping, no step; the guard then stops."""
    model, wrapper, events = recording_setup(amp, order, monkeypatch)
    wrapper.update_params((model.weight * float('nan')).sum())
    assert events == ['check'] and torch.equal(model.weight.detach(), torch.ones(3))
    with pytest.raises(NonFiniteTrainingError, match='non-finite loss at iteration 1'):
        NonFiniteGuardHook().after_train_iter(FakeRunner(model, wrapper), 0, None,
                                              dict(loss=torch.tensor(float('nan'))))


def test_without_the_guard_hook_the_wrapper_stops_itself(monkeypatch):
    model, wrapper, events = recording_setup(False, 'reference', monkeypatch, hooks=(AdaLoRARankAllocationHook,))
    with pytest.raises(NonFiniteTrainingError, match='non-finite loss at optimiser step 1: the step was refused'):
        wrapper.update_params((model.weight * float('inf')).sum())
    assert events == ['check'] and torch.equal(model.weight.detach(), torch.ones(3))


def test_hooks_listed_twice_allocate_once_a_step(monkeypatch):
    hooks = (AdaLoRARankAllocationHook, AdaLoRARankAllocationHook, NonFiniteGuardHook, NonFiniteGuardHook)
    model, wrapper, events = recording_setup(False, 'reference', monkeypatch, hooks=hooks)
    wrapper.update_params(model.weight.sum())
    wrapper.update_params(model.weight.sum())
    assert events.count('allocate') == 2 and model.teacher.steps == [0, 1]


def test_a_plain_mmengine_wrapper_is_refused_clearly():
    """The hooks cannot change mmengine's own step: a config naming type='OptimWrapper' stops at before_train."""
    model = nn.Module()
    model.weight, model.teacher = nn.Parameter(torch.ones(1)), RecordingTeacher([])
    runner = FakeRunner(model, OptimWrapper(torch.optim.SGD([model.weight], lr=0.1)))
    for hook in (NonFiniteGuardHook(), AdaLoRARankAllocationHook()):
        with pytest.raises(TypeError, match="OptimWrapper: set optim_wrapper.type='ELiTeOptimWrapper'"):
            hook.before_train(runner)
    model.teacher.tuning = 'lora'  # a teacher tuned otherwise (Table II's other rows) has nothing to allocate
    AdaLoRARankAllocationHook().before_train(runner)
    del model.teacher  # nor has a model without a teacher
    AdaLoRARankAllocationHook().before_train(runner)


def test_the_hooks_former_options_say_where_they_moved():
    with pytest.raises(ValueError, match='adalora_order'):
        AdaLoRARankAllocationHook(order='after_step')
    with pytest.raises(ValueError, match='check_gradients'):
        NonFiniteGuardHook(check_gradients=False)
    with pytest.raises(ValueError, match='adalora_order must be one of'):
        ELiTeOptimWrapper(optimizer=torch.optim.SGD([nn.Parameter(torch.ones(1))], lr=0.1), adalora_order='before')


def test_amp_takes_the_twin_of_the_configs_wrapper():
    cfg = use_amp(Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py')))
    assert cfg.optim_wrapper.type == 'ELiTeAmpOptimWrapper' and cfg.optim_wrapper.loss_scale == 'dynamic'
    assert cfg.optim_wrapper.adalora_order == 'reference' and cfg.optim_wrapper.clip_grad.max_norm == 1.0
    assert amp_twin('OptimWrapper') == 'AmpOptimWrapper'  # mmengine's own types keep working
    assert amp_twin('AmpOptimWrapper') == 'AmpOptimWrapper' and amp_twin(CPUFloat16AmpOptimWrapper) is \
        CPUFloat16AmpOptimWrapper
    with pytest.raises(ValueError, match="no AMP twin known for optim_wrapper type 'Unknown'"):
        amp_twin('Unknown')
