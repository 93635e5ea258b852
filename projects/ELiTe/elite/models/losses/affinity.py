"""M2SKD's affinity term: how alike the student finds a group's points, against how alike the teacher finds them."""
from typing import List

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn


def affinity_loss(student: Tensor, teacher: Tensor, groups: List[Tensor], reduction: str = 'mean') -> Tensor:
    """The mean |cos-sim matrix of the student - that of the teacher| among each group's rows, averaged
    (``'mean'``) or summed (``'sum'``, the released M2SKD code's sum over classes) over the groups; 0 without groups.

    student / teacher: (N, C) features or logits of the same points; groups: index tensors (instances or classes).
    """
    losses = []
    for index in groups:
        s = F.normalize(student[index], dim=1)
        t = F.normalize(teacher[index], dim=1)
        losses.append((s @ s.t() - t @ t.t()).abs().mean())
    if not losses:
        return student.sum() * 0
    stacked = torch.stack(losses)
    return stacked.sum() if reduction == 'sum' else stacked.mean()


@MODELS.register_module()
class AffinityLoss(nn.Module):
    """:func:`affinity_loss` times ``loss_weight``, the teacher detached.

    Args:
        reduction: over the groups, ``'mean'`` (the paper's per-instance term) or ``'sum'`` (the released code's
            per-class term).
        loss_weight: factor on the loss.
    """

    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in ('mean', 'sum'):
            raise ValueError(f"AffinityLoss: reduction must be 'mean' or 'sum', got {reduction!r}")
        self.reduction = reduction
        self.loss_weight = loss_weight

    def forward(self, student: Tensor, teacher: Tensor, groups: List[Tensor]) -> Tensor:
        return self.loss_weight * affinity_loss(student, teacher.detach(), groups, self.reduction)
