"""KL divergence between softened distributions, per point, as the paper's M2SKD logit term states it."""
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class PointwiseKLDivLoss(nn.Module):
    """``loss_weight * T^2 * KL(softmax(teacher / T) || softmax(student / T))``, summed over the classes and
    averaged over the points (``F.kl_div``'s ``'batchmean'``); the teacher detached, computed in float32.

    mmdet's ``KnowledgeDistillationKLDivLoss`` averages over the classes instead (the reference ELiTe's KD term):
    the same loss divided by the number of classes. Here ``loss_weight=1`` is the paper's weight.

    Args:
        T: the temperature.
        loss_weight: factor on the loss.
    """

    def __init__(self, T: float = 1.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.T, self.loss_weight = T, loss_weight

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        t = self.T
        target = F.softmax(teacher_logits.detach().float() / t, dim=1)
        kl = F.kl_div(F.log_softmax(student_logits.float() / t, dim=1), target, reduction='batchmean')
        return self.loss_weight * t ** 2 * kl
