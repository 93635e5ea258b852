"""The reference code's learning-rate schedule (2DPASS / ELiTe ``utils/schedulers.py``), as an mmengine scheduler."""
import math

from mmdet3d.registry import PARAM_SCHEDULERS
from mmengine.dist import get_world_size
from mmengine.optim.scheduler.lr_scheduler import LRSchedulerMixin
from mmengine.optim.scheduler.param_scheduler import _ParamScheduler


def reference_lr_factor(step: int, total_steps: int, warmup_steps: int) -> float:
    """``cosine_schedule_with_warmup``: (k + 1) / W during the warm-up, then 0.5 (1 + cos(pi (k - W) / T)).
    The cosine runs over the whole run's T steps after the warm-up, so it ends a little above 0, as there."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / total_steps))


class ReferenceCosineParamScheduler(_ParamScheduler):
    """Cosine decay per iteration from the base value towards 0 over ``end - begin`` steps, after a linear warm-up
    of ``warmup_iters // world_size`` steps when more than one process trains (none with one), as the reference.

    With one process it is the same as ``CosineAnnealingLR(eta_min=0)`` over the run. Use it with
    ``by_epoch=True, begin=0, convert_to_iter_based=True`` and no ``end``: the runner ends it with the run
    (``train_cfg.max_epochs``), as the configs do.
    """

    def __init__(self, optimizer, param_name: str, warmup_iters: int = 1000, begin: int = 0, end: int = 0,
                 last_step: int = -1, by_epoch: bool = True, verbose: bool = False) -> None:
        if end <= begin:
            raise ValueError(f'ReferenceCosineLR needs end > begin (got begin={begin}, end={end}); build it '
                             'through the runner, which sets end to the run length, or give end')
        world_size = get_world_size()
        self.warmup_steps = warmup_iters // world_size if world_size > 1 else 0
        super().__init__(optimizer, param_name, begin=begin, end=end, last_step=last_step, by_epoch=by_epoch,
                         verbose=verbose)

    def _get_value(self) -> list:
        factor = reference_lr_factor(self.last_step - self.begin, self.end - self.begin, self.warmup_steps)
        return [base * factor for base in self.base_values]

    @classmethod
    def build_iter_from_epoch(cls, *args, begin: int = 0, end: int = 0, by_epoch: bool = True,
                              epoch_length: int = None, **kwargs):
        """Epochs -> iterations (``convert_to_iter_based=True``)."""
        return cls(*args, begin=begin * epoch_length, end=end * epoch_length, by_epoch=False, **kwargs)


@PARAM_SCHEDULERS.register_module()
class ReferenceCosineLR(LRSchedulerMixin, ReferenceCosineParamScheduler):
    """:class:`ReferenceCosineParamScheduler` on the learning rate."""
