"""Draw projected LiDAR points on the camera image."""
from typing import Optional, Sequence

import numpy as np

from ..sam_specs import SAM_PIXEL_MEAN, SAM_PIXEL_STD


def denormalize_image(img: np.ndarray, img_hw: Optional[Sequence[int]] = None,
                      mean: Sequence[float] = SAM_PIXEL_MEAN, std: Sequence[float] = SAM_PIXEL_STD) -> np.ndarray:
    """Undo ``NormalizePadImage``: (3, H, W) or (H, W, 3) float -> (h, w, 3) uint8 RGB without the padding."""
    if img.ndim == 3 and img.shape[0] == 3 and img.shape[-1] != 3:
        img = img.transpose(1, 2, 0)
    if img_hw is not None:
        img = img[:img_hw[0], :img_hw[1]]
    return np.clip(img * np.asarray(std) + np.asarray(mean), 0, 255).astype(np.uint8)


def draw_points_on_image(img: np.ndarray, img_indices: np.ndarray, colors: np.ndarray,
                         radius: int = 1) -> np.ndarray:
    """Paint each (row, col) of ``img_indices`` (M, 2) with ``colors`` (M, 3) uint8 as a square dot.

    Returns a new (H, W, 3) uint8 image; the input is not modified.
    """
    out = img.copy()
    height, width = out.shape[:2]
    for dr in range(-radius + 1, radius):
        for dc in range(-radius + 1, radius):
            rows = np.clip(img_indices[:, 0] + dr, 0, height - 1)
            cols = np.clip(img_indices[:, 1] + dc, 0, width - 1)
            out[rows, cols] = colors
    return out
