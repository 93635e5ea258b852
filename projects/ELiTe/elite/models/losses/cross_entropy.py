"""Class-weighted cross-entropy normalised as ``torch.nn.CrossEntropyLoss(weight=...)``, the reference's loss."""
from typing import List, Optional, Union

from mmdet.models.losses import CrossEntropyLoss
from mmdet3d.registry import MODELS
from torch import Tensor


@MODELS.register_module()
class WeightedMeanCrossEntropyLoss(CrossEntropyLoss):
    """Softmax cross-entropy whose mean is the class-weighted sum over labelled targets divided by the sum of
    those targets' class weights, as torch's ``nn.CrossEntropyLoss(weight=w)`` (2DPASS / ELiTe ``criterion``).

    mmdet's ``CrossEntropyLoss(avg_non_ignore=True)`` divides the same sum by the number of labelled targets
    instead: with SemanticKITTI's weights (1 to 18) that scales the loss, and each batch's gradient, by the
    batch's mean target weight. That normalisation stays available as ``type='mmdet.CrossEntropyLoss'``.

    Args:
        class_weight: one weight per class (None: every class 1, i.e. the plain mean over labelled targets).
        loss_weight: factor on the loss.
        ignore_index: label excluded from both sums (can also be given per call, as mmdet's loss allows).
    """

    def __init__(self, class_weight: Optional[List[float]] = None, loss_weight: float = 1.0,
                 ignore_index: Optional[int] = None) -> None:
        super().__init__(use_sigmoid=False, use_mask=False, reduction='mean', class_weight=class_weight,
                         ignore_index=ignore_index, loss_weight=loss_weight, avg_non_ignore=False)

    def forward(self, cls_score: Tensor, label: Tensor, weight: Optional[Tensor] = None,
                avg_factor: Optional[Union[int, Tensor]] = None, reduction_override: Optional[str] = None,
                ignore_index: Optional[int] = None, **kwargs) -> Tensor:
        """cls_score (N, C) logits, label (N,) class ids -> scalar loss."""
        if avg_factor is None and (reduction_override or self.reduction) == 'mean':
            ignore = self.ignore_index if ignore_index is None else ignore_index
            labelled = label[label != ignore] if ignore is not None else label
            if self.class_weight is None:
                avg_factor = labelled.numel()
            else:
                avg_factor = cls_score.new_tensor(self.class_weight)[labelled].sum()
        return super().forward(cls_score, label, weight=weight, avg_factor=avg_factor,
                               reduction_override=reduction_override, ignore_index=ignore_index, **kwargs)
