"""Run AdaLoRA's rank allocation inside mmengine's loop, where the reference runs it.

The reference (ELiTe on pytorch-lightning 1.5) calls the allocator in ``on_after_backward``: after backward, on
the unclipped gradients, before gradient clipping and the optimiser step (``order='reference'``, the default).
peft's documentation calls ``update_and_allocate`` right after the optimiser step instead, before the gradients
are zeroed (``order='after_step'``, a departure kept as an option). Either way this hook reads T from the runner
(optimiser steps = ``max_iters`` / gradient-accumulation count) and wraps the optimiser wrapper, so the
allocation follows every real optimiser step, whatever calls it (the model's ``train_step`` or a DDP wrapper's).

Where exactly: mmengine's ``OptimWrapper.step`` is "clip (``_clip_grad``), then ``optimizer.step``", and
``AmpOptimWrapper.step`` "unscale, clip, step". With ``order='reference'`` the allocation runs first thing in
``_clip_grad`` when clipping is configured (under AMP the gradients are unscaled by then), else first thing in
``step``, where under AMP this hook unscales them itself first (the grad scaler's ``unscale_``, which its
``step`` then does not repeat): the importance scores must read the reference's float32-scale gradients, not
gradients times a loss scale of 2^16. With ``order='after_step'`` the scaler's step has unscaled them.
"""
from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook

from .wrapping import unwrap_model, wrap_method_once


def _teacher(runner):
    teacher = getattr(unwrap_model(runner.model), 'teacher', None)
    return teacher if hasattr(teacher, 'update_and_allocate') else None


@HOOKS.register_module()
class AdaLoRARankAllocationHook(Hook):
    """Connect ``model.teacher.update_and_allocate`` to the optimiser and keep AdaLoRA's allocation state
    (rank pattern, importance averages; not in ``state_dict``) in checkpoints, so resuming continues it.
    A no-op for models without an AdaLoRA teacher.

    Args:
        order: ``'reference'`` (before clipping and the optimiser step) or ``'after_step'`` (peft's order).
    """
    priority = 'VERY_HIGH'
    ORDERS = ('reference', 'after_step')

    def __init__(self, order: str = 'reference') -> None:
        if order not in self.ORDERS:
            raise ValueError(f'AdaLoRARankAllocationHook: order must be one of {self.ORDERS}, got {order!r}')
        self.order = order

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
        if self.order == 'reference' and getattr(optim_wrapper, 'clip_grad_kwargs', None):
            name, allocate_first = '_clip_grad', True
        else:
            name, allocate_first = 'step', self.order == 'reference'

        scaler = getattr(optim_wrapper, 'loss_scaler', None)
        unscale_first = allocate_first and name == 'step' and scaler is not None

        def with_allocation(method):
            def allocate_around(*args, **kwargs):
                if unscale_first:
                    scaler.unscale_(optim_wrapper.optimizer)
                if allocate_first:
                    teacher.update_and_allocate(runner.iter // accumulation)
                result = method(*args, **kwargs)
                if not allocate_first:
                    teacher.update_and_allocate(runner.iter // accumulation)
                return result
            return allocate_around

        wrap_method_once(optim_wrapper, name, '_adalora_wrapped', with_allocation)
