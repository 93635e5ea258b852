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
from mmengine import dist
from mmengine.hooks import Hook

from .wrapping import unwrap_model, wrap_method_once


class NonFiniteTrainingError(RuntimeError):
    """Training met a non-finite loss or gradient; the message says where."""


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """See the module docstring. ``check_gradients``: also check every gradient without AMP (a few ms a step).

    Priority ``'HIGH'``, below :class:`AdaLoRARankAllocationHook`'s ``'VERY_HIGH'``: mmengine runs ``before_train``
    in priority order, so this hook wraps the optimiser step last, outermost, and its check comes first: a
    non-finite step stops before AdaLoRA's allocation reads the gradients.
    """
    priority = 'HIGH'

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
        all finite on this process or any other.

        Under DDP every rank takes the same decision: the ranks' findings are all-reduced (one small collective
        per step). A rank alone stopping would leave the others waiting in the next gradient all-reduce (under
        AMP they would skip the step and go on), until the NCCL timeout. Locally the check costs one host sync.
        """
        terms = {k: v for k, v in (self._log_vars or {}).items() if torch.is_tensor(v)}
        grads = [p.grad for p in model.parameters() if p.grad is not None] if self.check_gradients and not amp else []
        device = grads[0].device if grads else next(iter(terms.values())).device if terms else torch.device('cpu')
        local = torch.zeros(2, dtype=torch.int, device=device)  # [loss terms, gradients] not finite here
        if terms:
            local[0] = torch.stack([torch.isfinite(v).all().to(device) for v in terms.values()]).all().logical_not()
        if grads:
            local[1] = torch.stack([torch.isfinite(g).all() for g in grads]).all().logical_not()
        found = local.clone()
        if dist.is_distributed():
            dist.all_reduce(found, op='max')
        loss_bad, grad_bad = (bool(v) for v in found.tolist())
        if not (loss_bad or grad_bad):
            return
        message = self._describe(runner, model, terms, bool(local[0]), bool(local[1]))
        if dist.is_distributed():
            found_on = [m for m in dist.all_gather_object(message) if m]
            message = f'on rank {dist.get_rank()} of {dist.get_world_size()}: ' + ' | '.join(
                found_on or ['another rank stopped'])
        raise NonFiniteTrainingError(message)

    def _describe(self, runner, model, terms: Dict[str, torch.Tensor], loss_bad: bool, grad_bad: bool) -> str:
        """What this process found ('' if nothing): the iteration, the terms or parameters, the batch's files."""
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        rank = f' on rank {dist.get_rank()}' if dist.is_distributed() else ''
        files = ', '.join(self._files) or 'unknown'
        if loss_bad:
            listed = ', '.join(f'{k}={float(v)}' for k, v in terms.items() if not torch.isfinite(v).all())
            return (f'non-finite loss at {where}{rank}: {listed}; batch: {files}. Training stopped before this step, '
                    'so the weights and checkpoints are unharmed. Check those files (tools/create_data.py checks scans '
                    'for non-finite values), or lower the learning rate if the loss diverged.')
        if grad_bad:
            bad = [name for name, p in model.named_parameters()
                   if p.grad is not None and not torch.isfinite(p.grad).all()]
            return (f'non-finite gradients at {where}{rank} in {len(bad)} parameters (first: {", ".join(bad[:3])}), '
                    f'with a finite loss; batch: {files}. Training stopped before this step, so the weights and '
                    'checkpoints are unharmed. Lower the learning rate, or train with --amp on a GPU.')
        return ''
