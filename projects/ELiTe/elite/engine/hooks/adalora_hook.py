"""Run AdaLoRA's rank allocation inside mmengine's loop: after backward, before the gradients are zeroed.

peft's AdaLoRA needs ``update_and_allocate(step)`` right after the optimiser step, while the gradients
still exist, and the schedule length T. This hook reads T from the runner (optimiser steps =
``max_iters`` / gradient-accumulation count) and wraps the optimiser wrapper's ``step`` so the allocation
follows every real optimiser step, whatever calls it (the model's ``train_step`` or a DDP wrapper's), with
or without AMP.
"""
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmdet3d.registry import HOOKS


def _teacher(runner):
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    teacher = getattr(model, 'teacher', None)
    return teacher if hasattr(teacher, 'update_and_allocate') else None


@HOOKS.register_module()
class AdaLoRARankAllocationHook(Hook):
    """Connect ``model.teacher.update_and_allocate`` to the optimiser and keep AdaLoRA's allocation state
    (rank pattern, importance averages; not in ``state_dict``) in checkpoints, so resuming continues it.
    A no-op for models without an AdaLoRA teacher."""
    priority = 'VERY_HIGH'

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
        optim_wrapper = runner.optim_wrapper
        accumulation = getattr(optim_wrapper, '_accumulative_counts', 1)
        teacher.set_total_steps(max(1, runner.max_iters // accumulation))
        if getattr(optim_wrapper.step, '_adalora_wrapped', False):
            return
        step = optim_wrapper.step

        def step_then_allocate(**kwargs) -> None:
            step(**kwargs)
            teacher.update_and_allocate(runner.iter // accumulation)

        step_then_allocate._adalora_wrapped = True
        optim_wrapper.step = step_then_allocate
