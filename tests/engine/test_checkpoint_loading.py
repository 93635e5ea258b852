"""mmengine's checkpoints load weights-only: the few types mmengine saves are allowed for one load, nothing else."""
import os

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.logging import HistoryBuffer
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint
from toy_runner import LinearModel, toy_dataloader, unique_experiment_name

import elite  # noqa: F401  (registers the loader)


def _run(work_dir, epochs, resume=False):
    runner = Runner(model=LinearModel(), work_dir=str(work_dir),
                    optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1)), train_dataloader=toy_dataloader(4, 2),
                    train_cfg=dict(by_epoch=True, max_epochs=epochs), resume=resume, default_scope='mmdet3d',
                    experiment_name=unique_experiment_name(),
                    default_hooks=dict(logger=dict(type='LoggerHook', interval=1)), custom_hooks=[Hook()])
    runner.train()
    return runner


class _Refused:
    def __init__(self, call, args):
        self.call, self.args = call, args

    def __reduce__(self):
        return self.call, self.args


def test_runner_checkpoints_resume_weights_only_and_other_objects_are_refused(tmp_path):
    _run(tmp_path, 1)
    path = os.path.join(tmp_path, 'epoch_1.pth')
    with pytest.raises(Exception, match='Weights only load failed'):
        torch.load(path)  # torch's own default refuses mmengine's message hub
    checkpoint = _load_checkpoint(path, map_location='cpu')
    assert isinstance(checkpoint['message_hub']['log_scalars']['train/loss'], HistoryBuffer)
    assert _run(tmp_path, 2, resume=True).iter == 4  # resumed at iteration 2, trained two more

    # getattr is allowed only for HistoryBuffer's statistics; any other global stays refused
    for name, payload in [('getattr', _Refused(getattr, (HistoryBuffer, '__init__'))),
                          ('system', _Refused(os.system, ('true',)))]:
        bad = str(tmp_path / f'{name}.pth')
        torch.save(dict(state_dict={}, extra=payload), bad)
        with pytest.raises(Exception, match='getattr|system'):
            _load_checkpoint(bad, map_location='cpu')
    with pytest.raises(FileNotFoundError, match='missing.pth'):
        _load_checkpoint(str(tmp_path / 'missing.pth'))
