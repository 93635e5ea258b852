"""Hand AdaLoRA's teacher to the optimiser wrapper, with T, and keep its allocation state in checkpoints.

The allocation itself runs in the optimiser wrapper's step, at the point ``optim_wrapper.adalora_order`` names
(:mod:`elite.engine.optim_wrapper`: before clipping and the step, as the reference, by default). What the wrapper
cannot know comes from the runner here: the model's teacher, and T (optimiser steps = ``max_iters`` / the
gradient-accumulation count). AdaLoRA's allocation state (rank pattern, importance averages) is not in
``state_dict``: it is saved with every checkpoint and restored on resume, so resuming continues it.
"""
from typing import Optional

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook

from ..optim_wrapper import require_ordered_step
from .wrapping import unwrap_model


def _teacher(runner):
    """The model's AdaLoRA-tuned teacher, or None (no teacher, or another tuning mode)."""
    teacher = getattr(unwrap_model(runner.model), 'teacher', None)
    return teacher if getattr(teacher, 'tuning', None) == 'adalora' else None


@HOOKS.register_module()
class AdaLoRARankAllocationHook(Hook):
    """See the module docstring. A no-op for models without an AdaLoRA teacher."""
    priority = 'VERY_HIGH'  # as before: its checkpoint methods keep their place among the other hooks'

    def __init__(self, order: Optional[str] = None) -> None:
        if order is not None:
            raise ValueError('AdaLoRARankAllocationHook(order=...) moved to the optimiser wrapper: '
                             'optim_wrapper=dict(type=\'ELiTeOptimWrapper\', adalora_order=...)')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        teacher = _teacher(runner)
        if teacher is not None:
            checkpoint['adalora'] = teacher.adalora_state()

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        teacher = _teacher(runner)
        if teacher is not None:
            teacher.load_adalora_state(checkpoint.get('adalora', {}))

    def before_train(self, runner) -> None:
        teacher = _teacher(runner)
        if teacher is None:
            return
        optim_wrapper = require_ordered_step(runner.optim_wrapper, 'AdaLoRARankAllocationHook',
                                             'the model\'s AdaLoRA teacher needs its rank allocation at every step')
        teacher.set_total_steps(max(1, runner.max_iters // optim_wrapper._accumulative_counts))
        optim_wrapper.allocate_ranks_of(teacher)
