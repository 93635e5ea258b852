"""The pixel-aligned label image that image transforms move together with the camera image."""
from typing import List

IMAGE_LABEL = 'img_seg_label'  # (H, W) int64 training ids, e.g. SAM pseudo-labels (SAMPseudoLabel)


def image_keys(results: dict) -> List[str]:
    """Keys of the arrays that every geometric image transform must apply to."""
    return ['img'] + ([IMAGE_LABEL] if IMAGE_LABEL in results else [])
