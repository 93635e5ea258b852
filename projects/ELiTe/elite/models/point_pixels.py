"""The batch's point-to-pixel correspondence, in one batch-global form built once by the data preprocessor.

``PixelSet`` is a set of pixels of the batch's stacked images, (M, 3) long ``[sample, row, col]``; each
:class:`PatchDecoder` reads its features there. The sampling taps depend only on the pixels and the size of
the decoded cell map, so they are computed once per batch and shared by every stage's decoder.
``PointPixels`` pairs such a set with the rows of the batch's concatenated points that own those pixels.
"""
from dataclasses import dataclass, field
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import Tensor


@dataclass
class PixelSet:
    """Pixels ``[sample, row, col]`` (M, 3) long of images of ``img_hw`` (H, W) pixels."""

    pixels: Tensor
    img_hw: Tuple[int, int]
    _taps: Dict[tuple, Tuple[Tensor, Tensor]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_samples(cls, rows_cols: Sequence[Tensor], img_hw: Tuple[int, int]) -> 'PixelSet':
        """Each sample's (M_b, 2) (row, col) pixels -> one set of ``[sample, row, col]`` pixels."""
        pixels = torch.cat([torch.cat([rc.new_full((len(rc), 1), b), rc], 1) for b, rc in enumerate(rows_cols)])
        return cls(pixels.long(), tuple(int(s) for s in img_hw))

    def __len__(self) -> int:
        return len(self.pixels)

    def bilinear_taps(self, cell_hw: Tuple[int, int]) -> Tuple[Tensor, Tensor]:
        """Rows of the flattened (B * h * w) cell map and weights, (M, 4) each, that give at every pixel what
        ``F.interpolate(cells, img_hw, mode='bilinear', align_corners=False)`` gives there (half-pixel
        centres, clamped at the border); cached per cell size."""
        key = ('bilinear', tuple(cell_hw))
        if key not in self._taps:
            h, w = cell_hw
            y0, y1, wy = _axis_taps(self.pixels[:, 1], self.img_hw[0], h)
            x0, x1, wx = _axis_taps(self.pixels[:, 2], self.img_hw[1], w)
            base = self.pixels[:, 0] * (h * w)
            index = torch.stack([base + y0 * w + x0, base + y0 * w + x1, base + y1 * w + x0, base + y1 * w + x1], 1)
            weight = torch.stack([(1 - wy) * (1 - wx), (1 - wy) * wx, wy * (1 - wx), wy * wx], 1)
            self._taps[key] = (index, weight)
        return self._taps[key]

    def cell_rows(self, cell_hw: Tuple[int, int], stride: int) -> Tensor:
        """Row of the flattened cell map holding each pixel when every cell covers ``stride`` x ``stride``."""
        key = ('cell', tuple(cell_hw), stride)
        if key not in self._taps:
            h, w = cell_hw
            cell = torch.div(self.pixels[:, 1:], stride, rounding_mode='floor')
            self._taps[key] = (self.pixels[:, 0] * (h * w) + cell[:, 0] * w + cell[:, 1], None)
        return self._taps[key][0]


def _axis_taps(pixel: Tensor, size: int, cells: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Lower / upper cell and the upper weight of each pixel centre along one axis (align_corners=False)."""
    source = ((pixel.double() + 0.5) * (cells / size) - 0.5).clamp(0, cells - 1)
    lower = source.floor().long()
    return lower, (lower + 1).clamp(max=cells - 1), (source - lower).float()


@dataclass
class PointPixels:
    """Which points of the batch have a pixel, and which: ``point_index`` (M,) long rows of the concatenated
    points, ``pixels`` their :class:`PixelSet`."""

    point_index: Tensor
    pixels: PixelSet

    @classmethod
    def from_samples(cls, point_counts: Sequence[int], point2img_index: Sequence[Tensor],
                     img_indices: Sequence[Tensor], img_hw: Tuple[int, int]) -> 'PointPixels':
        """Per-sample positions (``point2img_index``) and (row, col) pixels -> the batch-global form."""
        offsets = torch.tensor([0, *point_counts[:-1]]).cumsum(0).tolist()
        point_index = torch.cat([index + offset for index, offset in zip(point2img_index, offsets)])
        return cls(point_index.long(), PixelSet.from_samples(img_indices, img_hw))

    def select_points(self, keep: Tensor) -> 'PointPixels':
        """The correspondence restricted to the points ``keep`` (N,) bool, renumbered among them."""
        position = torch.cumsum(keep.long(), 0) - 1
        mine = keep[self.point_index]
        return PointPixels(position[self.point_index[mine]], PixelSet(self.pixels.pixels[mine], self.pixels.img_hw))


def sample_pixels(cells: Tensor, pixels: PixelSet, stride: Optional[int]) -> Tensor:
    """Features (M, C) of (B, C, h, w) ``cells`` at ``pixels``: bilinear (``stride=None``) or the pixel's cell."""
    flat = cells.permute(0, 2, 3, 1).reshape(-1, cells.shape[1])
    if stride is not None:
        return flat[pixels.cell_rows(cells.shape[-2:], stride)]
    index, weight = pixels.bilinear_taps(cells.shape[-2:])
    weight = weight.to(flat.dtype)
    out = flat[index[:, 0]] * weight[:, :1]
    for tap in range(1, 4):  # one tap at a time: (M, C) temporaries, never (M, 4, C)
        out = out + flat[index[:, tap]] * weight[:, tap:tap + 1]
    return out
