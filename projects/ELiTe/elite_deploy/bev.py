"""Bird's-eye-view pictures of labelled scans and titled side-by-side panels, for comparing predictions.

Images are RGB uint8 (as in ``elite.visualization``); convert to BGR only when saving with cv2.
"""
from typing import Sequence, Tuple

import cv2
import numpy as np

IGNORE_COLOR = (128, 128, 128)  # labels without a palette entry (the ignore index 19) are grey
TITLE_HEIGHT = 32  # pixels of the title bar above each panel


def label_colors(labels: np.ndarray, palette: Sequence[Sequence[int]]) -> np.ndarray:
    """(N, 3) uint8 colours: ``palette[label]``, grey for labels outside the palette (ignored points)."""
    table = np.concatenate([np.asarray(palette, dtype=np.uint8).reshape(-1, 3),
                            np.asarray([IGNORE_COLOR], dtype=np.uint8)])
    labels = np.asarray(labels).astype(np.int64, copy=False)
    inside = (labels >= 0) & (labels < len(table) - 1)
    return table[np.where(inside, labels, len(table) - 1)]


def bev_pixels(points_xyz: np.ndarray, extent: float = 50.0, resolution: float = 0.1
               ) -> Tuple[np.ndarray, np.ndarray]:
    """(row, col) int64 of each point in the BEV image, and which points fall inside it.

    The LiDAR sits at the image centre, x (forward) points up and y (left) points left; the image covers
    ``[-extent, extent)`` metres in x and y at ``resolution`` metres per pixel.
    """
    size = int(round(2 * extent / resolution))
    rows = np.floor((extent - points_xyz[:, 0]) / resolution).astype(np.int64)
    cols = np.floor((extent - points_xyz[:, 1]) / resolution).astype(np.int64)
    inside = (rows >= 0) & (rows < size) & (cols >= 0) & (cols < size)
    return np.stack([rows, cols], axis=1), inside


def draw_bev(points_xyz: np.ndarray, labels: np.ndarray, palette: Sequence[Sequence[int]],
             extent: float = 50.0, resolution: float = 0.1) -> np.ndarray:
    """(H, W, 3) uint8 RGB top view, H = W = 2 * extent / resolution, points coloured by label on black.

    Where several points share a pixel the highest one is shown, as seen from above.
    """
    size = int(round(2 * extent / resolution))
    image = np.zeros((size, size, 3), dtype=np.uint8)
    pixels, inside = bev_pixels(points_xyz, extent, resolution)
    order = np.argsort(points_xyz[inside, 2], kind='stable')  # low to high
    pixels = pixels[inside][order]
    colors = label_colors(np.asarray(labels)[inside][order], palette)
    flat = pixels[:, 0] * size + pixels[:, 1]
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    top = len(flat) - 1 - first_from_end  # the last (highest) point of each pixel
    image[pixels[top, 0], pixels[top, 1]] = colors[top]
    return image


def add_title(image: np.ndarray, title: str) -> np.ndarray:
    """The image with a black title bar of ``TITLE_HEIGHT`` pixels above it, white text."""
    bar = np.zeros((TITLE_HEIGHT, image.shape[1], 3), dtype=np.uint8)
    cv2.putText(bar, title, (8, TITLE_HEIGHT - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.7, (255, 255, 255), 1,
                cv2.LINE_AA)
    return np.concatenate([bar, image], axis=0)


def side_by_side(images: Sequence[np.ndarray], titles: Sequence[str], gap: int = 8) -> np.ndarray:
    """Titled panels left to right (e.g. prediction | ground truth), bottoms padded black to one height."""
    if len(images) != len(titles):
        raise ValueError(f'side_by_side: {len(images)} images but {len(titles)} titles; give one title each.')
    height = max(img.shape[0] for img in images)
    panels = []
    for i, (img, title) in enumerate(zip(images, titles)):
        padded = np.zeros((height, img.shape[1] + (gap if i else 0), 3), dtype=np.uint8)
        padded[:img.shape[0], padded.shape[1] - img.shape[1]:] = img
        panels.append(add_title(padded, title))
    return np.concatenate(panels, axis=1)
