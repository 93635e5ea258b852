"""Every shipped training config's model trains under CUDA's float16 AMP rules, checked on the CPU.

Each step is mmengine's ``BaseModel.train_step`` with the plugin's ``ELiTeAmpOptimWrapper`` (CPU autocast in
float16 and a real dynamic grad scaler, :mod:`cpu_amp`; the non-finite check and AdaLoRA's allocation in its step)
and the guard and AdaLoRA hooks, as the runner runs them (:func:`elite.benchmark.train_steps.run_train_steps`).
Besides finite losses and weights that move, every trainable parameter must receive a gradient at every step: DDP
without ``find_unused_parameters`` stops on one that does not.
"""
import glob
import os

import pytest
import torch
from backends import needs_torchsparse
from cpu_amp import CPUFloat16AmpOptimWrapper
from synthetic_pseudo_labels import pseudo_labelled_copy

from elite.benchmark.train_steps import build_for_steps, run_train_steps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# every training config but those whose model is another's: the demos (their parents' with the small teacher used
# here anyway) and the benchmark recipe (row l's model); the torchsparse SPVCNN student where torchsparse is there
SAME_MODEL_AS_ANOTHER = ('_demo.py', 'elite_semantickitti_benchmark.py')
CONFIGS = sorted(p for p in glob.glob(os.path.join(REPO, 'configs', '*.py')) + glob.glob(
    os.path.join(REPO, 'configs', 'ablations', '*.py')) if not p.endswith(SAME_MODEL_AS_ANOTHER))
PARAMS = [pytest.param(p, marks=needs_torchsparse) if p.endswith('elite_spvcnn_semantickitti.py') else p
          for p in CONFIGS]


@pytest.fixture(scope='module')
def labelled_root(synthetic_root, tmp_path_factory):
    """The synthetic dataset with SAM pseudo-label files (the configs of Table II row l read them)."""
    return pseudo_labelled_copy(synthetic_root, str(tmp_path_factory.mktemp('amp_data')))


@pytest.mark.parametrize('path', PARAMS, ids=lambda p: os.path.relpath(p, os.path.join(REPO, 'configs')))
def test_training_steps_under_float16_autocast(path, labelled_root):
    torch.manual_seed(0)
    cfg, model, dataset = build_for_steps(path, labelled_root)
    params = [p for p in model.parameters() if p.requires_grad]
    # the grad scaler starts at 2^12, not 2^16: from 2^16 it may skip every one of these few steps while it halves
    # its way down (as over the first iterations of a run); skipping itself is tested in test_training_guards
    wrapper = CPUFloat16AmpOptimWrapper(optimizer=torch.optim.SGD(params, lr=0.01, momentum=0.9),
                                        clip_grad=cfg.optim_wrapper.get('clip_grad'),
                                        loss_scale=dict(init_scale=2.**12))
    report = run_train_steps(model, dataset, wrapper, steps=3)
    assert report.half_precision, 'the student head did not run in float16: autocast was not in effect'
    assert report.finite, report.losses
    assert not report.no_grad, f'parameters without a gradient (DDP would stop): {report.no_grad[:5]}'
    assert 0 < report.loss_scale < float('inf') and report.skipped_steps < 3, report.skipped_steps
    assert not report.frozen_weights, f'{len(report.frozen_weights)} weights with gradients never changed: ' \
                                      f'{report.frozen_weights[:5]}'
    student = {n for n, p in model.named_parameters() if n.startswith(('backbone.', 'decode_head.'))}
    moved = student & set(report.moved)
    assert len(moved) > 0.9 * len(student), f'the student did not train: {len(moved)} of {len(student)} weights moved'
