"""The training configs' optimiser step, in one place: the non-finite check, AdaLoRA's rank allocation, clipping,
the optimiser step.

mmengine's ``OptimWrapper.step`` clips, then steps; ``AmpOptimWrapper.step`` unscales, clips and steps through the
grad scaler. :class:`ELiTeOptimWrapper` and its AMP twin :class:`ELiTeAmpOptimWrapper` (which ``tools/train.py
--amp`` picks) do, in this order (:meth:`OrderedStep.step`):

1. refuse a step whose loss (or, without AMP, a gradient) is not finite, here or on any other process, before
   anything reads the gradients: the weights stay as they were. Under AMP infinite gradients are the grad
   scaler's business: it skips such steps and lowers its scale.
2. ``adalora_order='reference'`` (the default): AdaLoRA's allocation after backward, on the unclipped gradients,
   where the reference (pytorch-lightning's ``on_after_backward``) runs it. Under AMP the gradients are unscaled
   first (the scaler's ``unscale_``, which its step then does not repeat): the importance scores must read
   float32-scale gradients, not gradients times a loss scale of 2^16.
3. clipping (``clip_grad``); 4. the optimiser step;
5. ``adalora_order='after_step'``: the allocation after the step, before the gradients are zeroed (peft's
   documented place, a departure kept as an option).

What the wrapper cannot know is handed over by hooks at mmengine's points: ``AdaLoRARankAllocationHook`` gives it
the teacher in ``before_train``; ``NonFiniteGuardHook`` takes a refused step after the iteration and raises
:class:`NonFiniteTrainingError` naming the loss terms (only the iteration's outputs hold them), the parameters and
the batch's files. Without that hook the wrapper raises the error itself, with less to say.
"""
from dataclasses import dataclass, field
from typing import List, Optional, Union

import torch
from mmdet3d.registry import OPTIM_WRAPPERS
from mmengine import dist
from mmengine.optim import AmpOptimWrapper, OptimWrapper

ADALORA_ORDERS = ('reference', 'after_step')
AMP_TWINS = {'OptimWrapper': 'AmpOptimWrapper', 'ELiTeOptimWrapper': 'ELiTeAmpOptimWrapper'}


class NonFiniteTrainingError(RuntimeError):
    """Training met a non-finite loss or gradient; the message says where."""


@dataclass
class RefusedStep:
    """A step refused for non-finite values, and what this process found (neither: another process found it)."""
    step: int  # the optimiser step's index, from 0
    loss: bool = False  # this process's loss was not finite
    parameters: List[torch.Tensor] = field(default_factory=list)  # those with non-finite gradients here


def find_non_finite(loss: Optional[torch.Tensor], params: List[torch.Tensor], step: int) -> Optional[RefusedStep]:
    """A :class:`RefusedStep` if ``loss`` or a gradient of ``params`` is not finite on this process or any other.

    Under DDP every rank takes the same decision: the ranks' findings are all-reduced (one small collective per
    step). A rank alone refusing would leave the others waiting in the next gradient all-reduce (under AMP they
    would skip the step and go on), until the NCCL timeout. Locally the check costs one host sync.
    """
    grads = [p.grad for p in params]
    device = grads[0].device if grads else loss.device if loss is not None else torch.device('cpu')
    local = torch.zeros(2, dtype=torch.int, device=device)  # [loss, gradients] not finite here
    if loss is not None:
        local[0] = torch.isfinite(loss).all().logical_not().to(device)
    if grads:
        local[1] = torch.stack([torch.isfinite(g).all() for g in grads]).all().logical_not()
    found = local.clone()
    if dist.is_distributed():
        dist.all_reduce(found, op='max')
    if not bool(found.any()):
        return None
    loss_bad, grad_bad = (bool(v) for v in local.tolist())
    bad = [p for p in params if not torch.isfinite(p.grad).all()] if grad_bad else []
    return RefusedStep(step, loss_bad, bad)


class OrderedStep:
    """The step of :class:`ELiTeOptimWrapper` and :class:`ELiTeAmpOptimWrapper` (see the module docstring); they
    differ only in :meth:`_unscale_gradients` and :meth:`_optimizer_step`."""

    def __init__(self, adalora_order: str = 'reference', check_gradients: bool = True, **kwargs) -> None:
        super().__init__(**kwargs)
        if adalora_order not in ADALORA_ORDERS:
            raise ValueError(f'{type(self).__name__}: adalora_order must be one of {ADALORA_ORDERS}, '
                             f'got {adalora_order!r}')
        self.adalora_order, self.check_gradients = adalora_order, check_gradients
        self.teacher = None  # whose ranks to allocate: handed over by AdaLoRARankAllocationHook
        self.refused_step: Optional[RefusedStep] = None
        self._hook_reports = False
        self._loss: Optional[torch.Tensor] = None

    def allocate_ranks_of(self, teacher) -> None:
        """Call ``teacher.update_and_allocate(step)`` at every optimiser step (a second call replaces the teacher,
        so a hook listed twice does not allocate twice)."""
        self.teacher = teacher

    def report_refusals_in_hook(self) -> None:
        """A hook takes each refused step after the iteration (:meth:`take_refused_step`) and raises, naming the
        loss terms; until then the wrapper keeps it in :attr:`refused_step` instead of raising."""
        self._hook_reports = True

    def take_refused_step(self) -> Optional[RefusedStep]:
        refused, self.refused_step = self.refused_step, None
        return refused

    def backward(self, loss: torch.Tensor, **kwargs) -> None:
        # checked at the step: the sum over the backward passes it accumulates, non-finite if any of them is
        self._loss = loss.detach() if self._loss is None else self._loss + loss.detach()
        super().backward(loss, **kwargs)

    def step(self, **kwargs) -> None:
        """1. refuse a non-finite step; 2. AdaLoRA's allocation (``'reference'``; under AMP on unscaled gradients);
        3. clip; 4. the optimiser step; 5. AdaLoRA's allocation (``'after_step'``)."""
        loss, self._loss = self._loss, None
        if self._refused(loss):
            return
        allocate_first = self.teacher is not None and self.adalora_order == 'reference'
        if allocate_first or self.clip_grad_kwargs:
            self._unscale_gradients()
        if allocate_first:
            self.teacher.update_and_allocate(self._step_index())
        if self.clip_grad_kwargs:
            self._clip_grad()
        self._optimizer_step(**kwargs)
        if self.teacher is not None and self.adalora_order == 'after_step':
            self.teacher.update_and_allocate(self._step_index())

    def _step_index(self) -> int:
        """This optimiser step's index: the runner's iteration (mmengine starts the count there, also on resume)
        over the gradient-accumulation count, as T counts steps."""
        return max(0, self._inner_count - 1) // self._accumulative_counts

    def _refused(self, loss: Optional[torch.Tensor]) -> bool:
        check_gradients = self.check_gradients and not isinstance(self, AmpOptimWrapper)
        params = [p for group in self.optimizer.param_groups for p in group['params'] if p.grad is not None]
        refused = find_non_finite(loss, params if check_gradients else [], self._step_index())
        if refused is None:
            return False
        if not self._hook_reports:
            what = ('loss' if refused.loss else f'gradients in {len(refused.parameters)} parameters'
                    if refused.parameters else 'loss or gradients on another process')
            raise NonFiniteTrainingError(
                f'non-finite {what} at optimiser step {refused.step + 1}: the step was refused, so the weights and '
                'checkpoints are unharmed. NonFiniteGuardHook (custom_hooks) would name the loss terms, the '
                'parameters and the batch\'s files.')
        self.refused_step = refused
        return True


@OPTIM_WRAPPERS.register_module()
class ELiTeOptimWrapper(OrderedStep, OptimWrapper):
    """mmengine's ``OptimWrapper`` with the step of the module docstring.

    Args:
        adalora_order: ``'reference'`` (the allocation before clipping and the step) or ``'after_step'``.
        check_gradients: also check every gradient for non-finite values (a few ms a step); the loss always is.
        **kwargs: ``OptimWrapper``'s (``optimizer``, ``clip_grad``, ``accumulative_counts``).
    """

    def _unscale_gradients(self) -> None:
        """float32 training: nothing to unscale."""

    def _optimizer_step(self, **kwargs) -> None:
        self.optimizer.step(**kwargs)


@OPTIM_WRAPPERS.register_module()
class ELiTeAmpOptimWrapper(OrderedStep, AmpOptimWrapper):
    """mmengine's ``AmpOptimWrapper`` with the step of the module docstring; the same options as
    :class:`ELiTeOptimWrapper` (``check_gradients`` has no effect: the grad scaler handles non-finite gradients)
    and ``AmpOptimWrapper``'s (``loss_scale``, ``dtype``)."""

    def _unscale_gradients(self) -> None:
        self.loss_scaler.unscale_(self.optimizer)  # once a step: the scaler's step then does not repeat it

    def _optimizer_step(self, **kwargs) -> None:
        self.loss_scaler.step(self.optimizer, **kwargs)  # skips the step if a gradient is not finite
        self.loss_scaler.update(self._scale_update_param)


def require_ordered_step(optim_wrapper, hook: str, why: str) -> OrderedStep:
    """``optim_wrapper`` if it is one of this module's wrappers, else a ``TypeError`` saying what to name."""
    if not isinstance(optim_wrapper, OrderedStep):
        raise TypeError(f'{hook}: {why}, which the optimiser wrapper\'s step does, and this one is '
                        f'{type(optim_wrapper).__name__}: set optim_wrapper.type=\'ELiTeOptimWrapper\' (as '
                        'configs/_base_/schedules/sgd_cosine_64e.py does; tools/train.py --amp turns it into '
                        'ELiTeAmpOptimWrapper)')
    return optim_wrapper


def amp_twin(wrapper_type: Union[str, type]) -> Union[str, type]:
    """The optimiser wrapper ``tools/train.py --amp`` trains with where the config names ``wrapper_type``:
    its AMP twin (mmengine's ``OptimWrapper`` -> ``AmpOptimWrapper``), or itself if it is an AMP wrapper."""
    cls = wrapper_type if isinstance(wrapper_type, type) else OPTIM_WRAPPERS.get(wrapper_type)
    if cls is not None and issubclass(cls, AmpOptimWrapper):
        return wrapper_type
    name = getattr(wrapper_type, '__name__', wrapper_type)
    if name not in AMP_TWINS:
        raise ValueError(f'--amp: no AMP twin known for optim_wrapper type {name!r}; name one of '
                         f'{sorted(AMP_TWINS)} (or an AmpOptimWrapper subclass) in the config')
    return AMP_TWINS[name]
