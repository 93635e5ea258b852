"""Stop training at the first non-finite loss or gradient, before it reaches the weights.

A NaN or infinite value in one batch (a damaged scan, a diverging loss) turns every weight into NaN at the
next optimiser step; mmengine then trains on, logs ``loss: nan`` and writes NaN checkpoints. This hook checks
the step's loss terms, and its gradients, right before the optimiser step: the first non-finite one stops the
run with a :class:`NonFiniteTrainingError` naming the iteration, the loss terms that went non-finite and the
batch's files; the weights (and every checkpoint) stay as they were before that step. (The forward pass has
already folded the batch into BatchNorm's running statistics; the run stops, so none of it is saved.)

Under AMP (an optimiser wrapper with a ``loss_scaler``) infinite gradients are the grad scaler's business: it
skips such steps and lowers its scale, so only non-finite loss terms stop the run there.
"""
from typing import Dict, List, Optional

import torch
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook

from .wrapping import unwrap_model, wrap_method_once


class NonFiniteTrainingError(RuntimeError):
    """Training met a non-finite loss or gradient; the message says where."""


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """See the module docstring. ``check_gradients``: also check every gradient without AMP (a few ms a step)."""
    priority = 'VERY_HIGH'

    def __init__(self, check_gradients: bool = True) -> None:
        self.check_gradients = check_gradients
        self._files: List[str] = []
        self._log_vars: Optional[Dict[str, torch.Tensor]] = None

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        samples = (data_batch or {}).get('data_samples') or []
        self._files = [str(s.metainfo.get('lidar_path', '?')) for s in samples if hasattr(s, 'metainfo')]
        self._log_vars = None

    def before_train(self, runner) -> None:
        model = unwrap_model(runner.model)
        optim_wrapper = runner.optim_wrapper

        def recording(parse_losses):
            def recording_parse_losses(losses):
                loss, log_vars = parse_losses(losses)
                self._log_vars = log_vars
                return loss, log_vars
            return recording_parse_losses

        def checked(step):
            def checked_step(*args, **kwargs):
                self.check(runner, model, amp=hasattr(optim_wrapper, 'loss_scaler'))
                return step(*args, **kwargs)
            return checked_step

        wrap_method_once(model, 'parse_losses', '_guard_wrapped', recording)
        wrap_method_once(optim_wrapper, 'step', '_guard_wrapped', checked)

    def check(self, runner, model, amp: bool) -> None:
        """Raise :class:`NonFiniteTrainingError` if this step's loss terms (or, without AMP, gradients) are not
        all finite."""
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        files = ', '.join(self._files) or 'unknown'
        terms = {k: float(v) for k, v in (self._log_vars or {}).items()
                 if torch.is_tensor(v) and not torch.isfinite(v).all()}
        if terms:
            listed = ', '.join(f'{k}={v}' for k, v in terms.items())
            raise NonFiniteTrainingError(
                f'non-finite loss at {where}: {listed}; batch: {files}. Training stopped before this step, so the '
                'weights and checkpoints are unharmed. Check those files (tools/create_data.py checks scans for '
                'non-finite values), or lower the learning rate if the loss diverged.')
        if amp or not self.check_gradients:
            return
        bad = [name for name, p in model.named_parameters()
               if p.grad is not None and not torch.isfinite(p.grad).all()]
        if bad:
            raise NonFiniteTrainingError(
                f'non-finite gradients at {where} in {len(bad)} parameters (first: {", ".join(bad[:3])}), with a '
                f'finite loss; batch: {files}. Training stopped before this step, so the weights and checkpoints '
                'are unharmed. Lower the learning rate, or train with --amp on a GPU.')
