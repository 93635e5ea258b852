"""The pixel-aligned label image that image transforms move together with the camera image."""
from typing import List, Sequence

import numpy as np

IMAGE_LABEL = 'img_seg_label'  # (H, W) int64 training ids, e.g. SAM pseudo-labels (SAMPseudoLabel)


def image_keys(results: dict) -> List[str]:
    """Keys of the arrays that every geometric image transform must apply to."""
    return ['img'] + ([IMAGE_LABEL] if IMAGE_LABEL in results else [])


def mirror_columns(results: dict, keys: Sequence[str]) -> None:
    """Mirror the arrays ``keys`` left-right and the pixels of the correspondence with them
    (``col = W - 1 - col``, W the camera image's width)."""
    width = results['img'].shape[1]
    for key in keys:
        results[key] = np.ascontiguousarray(results[key][:, ::-1])
    if 'img_indices' in results:
        indices = np.array(results['img_indices'], copy=True)
        indices[:, 1] = width - 1 - indices[:, 1]
        results['img_indices'] = indices
