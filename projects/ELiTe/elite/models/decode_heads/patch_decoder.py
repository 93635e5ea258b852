"""PatchDecoder: teacher token maps -> per-pixel features -> the features at given pixels, and their classes.

One decoder per distillation stage (PPMSKD). Variants (Table II):

- ``upscale_interpolate`` (the paper's choice): ConvTranspose 768 -> 192 (k2, s2), LayerNorm2d, GELU,
  ConvTranspose 192 -> 96 (k2, s2), GELU (tokens x 4), then bilinear interpolation to the crop size;
- ``maxpool_repeat`` / ``avgpool_repeat``: channels max- / average-pooled in groups (768 -> 96), each token
  repeated over its 16 x 16 patch;
- ``neck_repeat``: SAM-neck-like Conv1x1 768 -> 96, LayerNorm2d, Conv3x3, LayerNorm2d, then repeated.

Each decoder ends in its stage's 2D classifier, a :class:`PointDecoder` (96 -> 192 -> classes) that owns the
stage's 2D losses. Only the asked pixels are sampled (:class:`~elite.models.point_pixels.PixelSet`, with taps
shared by all stages; numerically the same as interpolating to full resolution and gathering), so no
(B, 96, 320, 1024) map is ever materialised.
"""
from typing import Dict, Optional, Tuple

from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from segment_anything.modeling.common import LayerNorm2d
from torch import Tensor, nn

from ..point_pixels import PixelSet, sample_pixels
from .point_decoder import PointDecoder

VARIANTS = ('upscale_interpolate', 'maxpool_repeat', 'avgpool_repeat', 'neck_repeat')


@MODELS.register_module()
class PatchDecoder(BaseModule):
    """Decode one teacher stage.

    Args:
        in_channels: teacher width (768 for vit_b).
        channels: pixel feature width (96).
        num_classes: classes of the stage's 2D classifier.
        variant: one of ``VARIANTS``.
        patch_size: pixels per token side (16).
        loss_decode / loss_lovasz: the 2D classifier's losses (:class:`PointDecoder`); their ``loss_weight``
            is the weight of the stage's 2D terms (1/4 in the paper).
        ignore_index: label the 2D losses leave out.
        with_classifier: build the stage's 2D classifier; False where nothing trains it (single-stage KD uses only
            the fused classifier; an unused classifier would stop DDP without ``find_unused_parameters``).
    """

    def __init__(self, in_channels: int = 768, channels: int = 96, num_classes: int = 19,
                 variant: str = 'upscale_interpolate', patch_size: int = 16, loss_decode: Optional[Dict] = None,
                 loss_lovasz: Optional[Dict] = None, ignore_index: int = 19, with_classifier: bool = True,
                 init_cfg=None) -> None:
        super().__init__(init_cfg)
        if variant not in VARIANTS:
            raise ValueError(f'unknown PatchDecoder variant {variant!r}; choose one of {VARIANTS}')
        self.variant = variant
        self.channels = channels
        self.patch_size = patch_size
        if variant == 'upscale_interpolate':
            self.layers = nn.Sequential(
                nn.ConvTranspose2d(in_channels, in_channels // 4, kernel_size=2, stride=2),
                LayerNorm2d(in_channels // 4), nn.GELU(),
                nn.ConvTranspose2d(in_channels // 4, channels, kernel_size=2, stride=2), nn.GELU())
            self.stride = patch_size // 4  # pixels per decoded cell
        elif variant == 'neck_repeat':
            self.layers = nn.Sequential(
                nn.Conv2d(in_channels, channels, kernel_size=1, bias=False), LayerNorm2d(channels),
                nn.Conv2d(channels, channels, kernel_size=3, padding=1, bias=False), LayerNorm2d(channels))
            self.stride = patch_size
        else:
            if in_channels % channels:
                raise ValueError(f'{variant}: in_channels {in_channels} must be a multiple of channels {channels}')
            self.layers = None
            self.stride = patch_size
        losses = {k: v for k, v in dict(loss_decode=loss_decode, loss_lovasz=loss_lovasz).items() if v is not None}
        self.classifier = PointDecoder(channels, num_classes, mid_channels=2 * channels, ignore_index=ignore_index,
                                       **losses) if with_classifier else None

    def decode(self, tokens: Tensor) -> Tensor:
        """(B, C_in, h, w) token map -> (B, channels, h * k, w * k) cells of ``stride`` pixels."""
        if self.layers is not None:
            return self.layers(tokens)
        group = tokens.shape[1] // self.channels
        grouped = tokens.unflatten(1, (self.channels, group))
        return grouped.amax(dim=2) if self.variant == 'maxpool_repeat' else grouped.mean(dim=2)

    def sample(self, cells: Tensor, pixels: PixelSet) -> Tensor:
        """Pixel features (M, channels) at ``pixels``: ``upscale_interpolate`` bilinearly, exactly where
        ``F.interpolate(cells, img_hw, 'bilinear', align_corners=False)`` puts them; the repeat variants the
        pixel's cell."""
        return sample_pixels(cells, pixels, None if self.variant == 'upscale_interpolate' else self.stride)

    def forward(self, tokens: Tensor, pixels: PixelSet) -> Tuple[Tensor, Tensor]:
        """The pixels' features (M, channels) and the stage classifier's logits (M, num_classes)."""
        features = self.sample(self.decode(tokens), pixels)
        return features, self.classifier(features)
