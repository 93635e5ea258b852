"""Stop training at the first non-finite loss or gradient, naming the iteration, the loss terms and the files.

A NaN or infinite value in one batch (a damaged scan, a diverging loss) turns every weight into NaN at the
next optimiser step; mmengine then trains on, logs ``loss: nan`` and writes NaN checkpoints. The optimiser
wrapper (:class:`~elite.engine.optim_wrapper.ELiTeOptimWrapper`) refuses such a step before anything reads its
gradients, on every process alike; this hook then stops the run with a :class:`NonFiniteTrainingError` naming the
iteration, the loss terms that went non-finite (the iteration's ``outputs``), the parameters and the batch's
files. The weights (and every checkpoint) stay as they were before that step. (The forward pass has already
folded the batch into BatchNorm's running statistics; the run stops, so none of it is saved.)
"""
from typing import Dict, List, Optional

import torch
from mmdet3d.registry import HOOKS
from mmengine import dist
from mmengine.hooks import Hook

from ..optim_wrapper import NonFiniteTrainingError, RefusedStep, require_ordered_step
from .wrapping import unwrap_model

__all__ = ['NonFiniteGuardHook', 'NonFiniteTrainingError']


@HOOKS.register_module()
class NonFiniteGuardHook(Hook):
    """See the module docstring. What is checked (and whether gradients are) is the optimiser wrapper's
    business: ``optim_wrapper.check_gradients``."""
    priority = 'HIGH'  # after_train_iter: before the logger and the checkpoint hooks see the iteration

    def __init__(self, check_gradients: Optional[bool] = None) -> None:
        if check_gradients is not None:
            raise ValueError('NonFiniteGuardHook(check_gradients=...) moved to the optimiser wrapper: '
                             'optim_wrapper=dict(type=\'ELiTeOptimWrapper\', check_gradients=...)')
        self._files: List[str] = []

    def before_train(self, runner) -> None:
        require_ordered_step(runner.optim_wrapper, 'NonFiniteGuardHook', 'it reports the steps refused for '
                             'non-finite values').report_refusals_in_hook()

    def before_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None) -> None:
        samples = (data_batch or {}).get('data_samples') or []
        self._files = [str(s.metainfo.get('lidar_path', '?')) for s in samples if hasattr(s, 'metainfo')]

    def after_train_iter(self, runner, batch_idx: int, data_batch: Optional[dict] = None,
                         outputs: Optional[dict] = None) -> None:
        """Raise :class:`NonFiniteTrainingError` if the optimiser wrapper refused this iteration's step. It refused
        on every process alike, so every process gathers the findings and stops with the same message."""
        refused = runner.optim_wrapper.take_refused_step()
        if refused is None:
            return
        terms = {k: v for k, v in (outputs or {}).items() if torch.is_tensor(v)}
        message = self._describe(runner, refused, terms)
        if dist.is_distributed():
            found_on = [m for m in dist.all_gather_object(message) if m]
            message = f'on rank {dist.get_rank()} of {dist.get_world_size()}: ' + ' | '.join(
                found_on or ['another rank stopped'])
        raise NonFiniteTrainingError(message)

    def _describe(self, runner, refused: RefusedStep, terms: Dict[str, torch.Tensor]) -> str:
        """What this process found ('' if nothing): the iteration, the terms or parameters, the batch's files."""
        where = f'iteration {runner.iter + 1} (epoch {runner.epoch + 1})'
        rank = f' on rank {dist.get_rank()}' if dist.is_distributed() else ''
        files = ', '.join(self._files) or 'unknown'
        if refused.loss:
            listed = ', '.join(f'{k}={float(v)}' for k, v in terms.items() if not torch.isfinite(v).all())
            return (f'non-finite loss at {where}{rank}: {listed or "the summed loss"}; batch: {files}. Training '
                    'stopped before this step, so the weights and checkpoints are unharmed. Check those files '
                    '(tools/create_data.py checks scans for non-finite values), or lower the learning rate if the '
                    'loss diverged.')
        if refused.parameters:
            bad = {id(p) for p in refused.parameters}
            names = [name for name, p in unwrap_model(runner.model).named_parameters() if id(p) in bad]
            return (f'non-finite gradients at {where}{rank} in {len(bad)} parameters (first: {", ".join(names[:3])}), '
                    f'with a finite loss; batch: {files}. Training stopped before this step, so the weights and '
                    'checkpoints are unharmed. Lower the learning rate, or train with --amp on a GPU.')
        return ''
