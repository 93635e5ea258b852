"""PointDecoder: a two-layer per-point (or per-voxel, per-pixel) classifier that owns its CE + Lovasz losses.

The distiller's stage heads (PPMSKD), the classifier of each :class:`PatchDecoder`, the fused 2D
classifier and, on the concatenated stage features, the student's own :class:`SPVCNNLiteHead` are all this
head: Linear ``channels -> mid_channels``, ReLU, Linear ``mid_channels -> num_classes``.
"""
from typing import Dict, Optional

from mmdet3d.models.decode_heads.decode_head import Base3DDecodeHead
from mmdet3d.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class PointDecoder(Base3DDecodeHead):
    """(N, channels) features -> (N, num_classes) logits, and the losses of such logits.

    Args:
        channels: input width (64 for a stage of SPVCNNLite).
        mid_channels: hidden width (128).
        loss_decode: the cross-entropy, logged as ``loss_sem_seg``; its ``loss_weight`` is the term's weight.
        loss_lovasz: the Lovasz-softmax, logged as ``loss_lovasz``; None to switch it off.
    """

    def __init__(self, channels: int = 64, num_classes: int = 19, mid_channels: int = 128,
                 dropout_ratio: float = 0.0, ignore_index: int = 19,
                 loss_decode: Dict = dict(type='WeightedMeanCrossEntropyLoss', loss_weight=1.0),
                 loss_lovasz: Optional[Dict] = dict(type='LovaszLoss', loss_type='multi_class',
                                                    reduction='none', loss_weight=1.0),
                 **kwargs) -> None:
        self.mid_channels = mid_channels
        super().__init__(channels, num_classes, dropout_ratio=dropout_ratio, loss_decode=loss_decode,
                         ignore_index=ignore_index, **kwargs)
        self.loss_lovasz = MODELS.build(loss_lovasz) if loss_lovasz else None

    def build_conv_seg(self, channels: int, num_classes: int, kernel_size: int) -> nn.Module:
        return nn.Sequential(nn.Linear(channels, self.mid_channels), nn.ReLU(True),
                             nn.Linear(self.mid_channels, num_classes))

    def init_weights(self) -> None:
        """Keep PyTorch's default initialisation of the linear layers (as 2DPASS / ELiTe do)."""

    def forward(self, features: Tensor) -> Tensor:
        return self.cls_seg(features)

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        """Also read checkpoints written before the heads were decode heads: their two linear layers sat under
        ``classifier.`` (PointDecoder) or directly under the head (PatchDecoder's classifier, the fused one)."""
        for old_prefix in (prefix + 'classifier.', prefix):
            for key in ('0.weight', '0.bias', '2.weight', '2.bias'):
                old, new = old_prefix + key, f'{prefix}conv_seg.{key}'
                if old in state_dict and new not in state_dict:
                    state_dict[new] = state_dict.pop(old)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def loss_by_labels(self, logits: Tensor, labels: Tensor) -> Dict[str, Tensor]:
        """``loss_sem_seg`` (and ``loss_lovasz``) of (N, C) logits against (N,) labels, ``ignore_index`` left out.

        Computed in float32 whatever the logits' dtype: under AMP they arrive in float16, where CUDA autocast
        upcasts some loss ops and not others (and CPU autocast fewer), so the loss is the same everywhere."""
        logits = logits.float()
        losses = dict(loss_sem_seg=self.loss_decode(logits, labels, ignore_index=self.ignore_index))
        if self.loss_lovasz is not None:
            losses['loss_lovasz'] = (self.loss_lovasz(logits, labels, ignore_index=self.ignore_index)
                                     if len(labels) else logits.sum() * 0)
        return losses
