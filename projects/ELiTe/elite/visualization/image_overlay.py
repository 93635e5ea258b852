"""Draw projected LiDAR points on the camera image."""
import numpy as np


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
