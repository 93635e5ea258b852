"""The student's classifier: the four stage features concatenated (256) -> 128 -> classes, per point."""
from typing import Dict, List, Optional

import torch
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList
from torch import Tensor

from ..stage_features import StageFeatures
from .point_decoder import PointDecoder


@MODELS.register_module()
class SPVCNNLiteHead(PointDecoder):
    """:class:`PointDecoder` on the concatenated stage features, with cross-entropy (class-weighted) +
    Lovasz-softmax losses against the data samples' point labels.

    Args:
        channels: input width, the concatenated stage features (4 x 64).
        mid_channels: hidden width of the two-layer classifier.
        loss_decode: the cross-entropy (``loss_sem_seg``); its ``class_weight`` from
            ``(max_freq / freq) ** (1/3)`` of the training labels.
        loss_lovasz: the Lovasz-softmax (``loss_lovasz``), weight 0.1 in the paper; None to switch off.
    """

    def __init__(self, channels: int = 256, num_classes: int = 19, mid_channels: int = 128,
                 loss_lovasz: Optional[Dict] = dict(type='LovaszLoss', loss_type='multi_class',
                                                    reduction='none', loss_weight=0.1),
                 **kwargs) -> None:
        super().__init__(channels, num_classes, mid_channels=mid_channels, loss_lovasz=loss_lovasz, **kwargs)

    def forward(self, stage_features: StageFeatures) -> Tensor:
        """Stage features -> (N, num_classes) logits.

        The classifier runs once per row (all points of a row share every stage's features, hence their logits;
        without dropout, the values and gradients are those of the per-point classifier) and the logits are
        gathered to the points.
        """
        if self.dropout is not None:
            return self.cls_seg(torch.cat(list(stage_features), dim=1))
        logits = self.classify(stage_features.rows)
        return logits if stage_features.point2row is None else logits[stage_features.point2row]

    def classify(self, stage_features: List[Tensor]) -> Tensor:
        """The classifier on the concatenated features, computed as a sum of per-stage products for its
        first layer, which never materialises the (rows, 256) concatenation (same values)."""
        first = self.conv_seg[0]
        widths = [f.shape[1] for f in stage_features]
        weights = first.weight.split(widths, dim=1)
        hidden = torch.addmm(first.bias, stage_features[0], weights[0].t())
        # in place into the first product's dtype (float16 under autocast): the in-place op is not autocast, so
        # its operands take that dtype explicitly (a no-op in float32)
        for features, weight in zip(stage_features[1:], weights[1:]):
            hidden = hidden.addmm_(features.to(hidden.dtype), weight.t().to(hidden.dtype))
        return self.conv_seg[1:](hidden)

    def _stack_batch_gt(self, batch_data_samples: SampleList) -> Tensor:
        return torch.cat([s.gt_pts_seg.pts_semantic_mask for s in batch_data_samples]).long()

    def loss_by_feat(self, seg_logits: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        return self.loss_by_labels(seg_logits, self._stack_batch_gt(batch_data_samples))
