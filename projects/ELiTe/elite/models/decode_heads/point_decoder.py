"""PointDecoder: a per-stage point classifier on the student's stage features (ELITE.md section 4)."""
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn


@MODELS.register_module()
class PointDecoder(BaseModule):
    """(N, in_channels) stage features -> (N, num_classes) logits: Linear 64 -> 128, ReLU, Linear 128 -> C."""

    def __init__(self, in_channels: int = 64, channels: int = 128, num_classes: int = 19, init_cfg=None) -> None:
        super().__init__(init_cfg)
        self.classifier = nn.Sequential(nn.Linear(in_channels, channels), nn.ReLU(True),
                                        nn.Linear(channels, num_classes))

    def forward(self, features: Tensor) -> Tensor:
        return self.classifier(features)
