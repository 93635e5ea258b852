"""The logit term of the released M2SKD code, which is neither a KL divergence nor mmdet's KD loss."""
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import Tensor, nn


def log_ratio_kd_loss(student_logits: Tensor, teacher_logits: Tensor, scale: float = 0.3,
                      threshold: float = 0.01) -> Tensor:
    """Per row ``mean_c p_t |log((p_t + 1e-6) / (p_s + 1e-6))|`` with ``p = softmax(scale * logits)``, averaged over
    the rows where it exceeds ``threshold`` (0 if none); the teacher detached (M2SKD ``train_cylinder_asym.py``)."""
    p_s = F.softmax(student_logits * scale, dim=1)
    p_t = F.softmax(teacher_logits.detach() * scale, dim=1)
    per_row = (p_t * torch.log((p_t + 1e-6) / (p_s + 1e-6)).abs()).mean(dim=1)
    kept = per_row[per_row > threshold]
    return kept.mean() if len(kept) else per_row.sum() * 0


@MODELS.register_module()
class LogRatioKDLoss(nn.Module):
    """:func:`log_ratio_kd_loss` times ``loss_weight``, computed in float32 (under AMP the logits come in float16,
    where ``1 / (p + 1e-6)`` overflows).

    Args:
        scale: the logits' factor before the softmax (the released code's 0.3, i.e. T = 1 / 0.3, without T^2).
        threshold: rows whose term is at most this are left out of the mean.
        loss_weight: factor on the loss.
    """

    def __init__(self, scale: float = 0.3, threshold: float = 0.01, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.scale, self.threshold, self.loss_weight = scale, threshold, loss_weight

    def forward(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        return self.loss_weight * log_ratio_kd_loss(student_logits.float(), teacher_logits.float(), self.scale,
                                                    self.threshold)
