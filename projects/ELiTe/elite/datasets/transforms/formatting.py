"""Pack points, image and the point-to-pixel correspondence into mmdet3d's inputs and data sample."""
import inspect

import numpy as np
import torch
from mmdet3d.datasets.transforms import Pack3DDetInputs
from mmdet3d.registry import TRANSFORMS

from .image_label import IMAGE_LABEL
from .point_attributes import pop_attribute
from .projection import ORIGINAL, resolve_point2img_index

_MMDET3D_META_KEYS = inspect.signature(Pack3DDetInputs.__init__).parameters['meta_keys'].default
META_KEYS = tuple(_MMDET3D_META_KEYS) + tuple(
    k for k in ('crop_offset', 'img_flip', 'sequence', 'frame_id', 'lidar_pose')
    if k not in _MMDET3D_META_KEYS)


@TRANSFORMS.register_module()
class PackPointImageInputs(Pack3DDetInputs):
    """:class:`Pack3DDetInputs` that also carries the correspondence.

    ``inputs`` gets ``points`` (N, C) and ``img`` (3, H, W) as loaded (the data preprocessor normalises it);
    the data sample gets ``point2img_index``
    (M,) int64, positions in ``points`` of the points that have a pixel, and ``img_indices`` (M, 2) int64,
    their (row, col) in ``img``; with ``SAMPseudoLabel`` also ``img_seg_label`` (H, W) int64, the dense
    image labels aligned with ``img``; with ``MultiScanHardInstances`` also ``original_mask`` (N,) bool.
    Without ``ProjectPointsToImage`` it packs like its parent.
    """

    def __init__(self, keys: tuple = ('points', 'img', 'pts_semantic_mask'),
                 meta_keys: tuple = META_KEYS) -> None:
        super().__init__(keys=keys, meta_keys=meta_keys)

    def pack_single_results(self, results: dict) -> dict:
        has_correspondence = 'pixel_point_ids' in results
        if has_correspondence:
            resolve_point2img_index(results)
        original = None
        if ORIGINAL in (getattr(results.get('points'), 'attribute_dims', None) or {}):
            results['points'], original = pop_attribute(results['points'], ORIGINAL)
        packed = super().pack_single_results(results)
        sample = packed['data_samples']
        if has_correspondence:
            sample.point2img_index = torch.from_numpy(np.ascontiguousarray(results['point2img_index']))
            sample.img_indices = torch.from_numpy(np.ascontiguousarray(results['img_indices']))
        if original is not None:
            sample.original_mask = torch.from_numpy(original > 0)
        if IMAGE_LABEL in results:
            setattr(sample, IMAGE_LABEL, torch.from_numpy(np.ascontiguousarray(results[IMAGE_LABEL])).long())
        return packed
