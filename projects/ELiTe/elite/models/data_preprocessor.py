"""Batch points and images and voxelise on whatever device the data is on (CPU or GPU)."""
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample, PointData
from mmdet3d.structures.det3d_data_sample import SampleList
from torch import Tensor, nn

from .point_pixels import PointPixels
from .sparse.spconv_cpu import install_spconv_cpu_fixes
from .sparse.torchsparse_cpu import install_torchsparse_cpu_fixes
from .utils import first_index, reference_indices, unique_rows


def unique_voxels(coors: Tensor, bounds: Optional[Sequence[int]] = None) -> tuple:
    """Unique rows of ``coors`` (N, D) int, in lexicographic order (``bounds``: the grid, see
    :func:`~elite.models.utils.unique_rows`).

    Returns (voxel_coors (V, D), point2voxel (N,) long, first_point (V,) long: the lowest point index
    falling in each voxel). Works on any device, unlike mmdet3d's numpy ``sparse_quantize``, and gives
    the same voxel order for non-negative coordinates.
    """
    voxel_coors, point2voxel = unique_rows(coors, bounds)
    return voxel_coors, point2voxel, first_index(point2voxel, len(voxel_coors))


def preprocess_scan(data_preprocessor: nn.Module, points: Tensor) -> Dict:
    """The model inputs of one scan (N, C) for inference: a batch of one, without labels or image."""
    return data_preprocessor(dict(inputs=dict(points=[points]), data_samples=[Det3DDataSample()]))['inputs']


@MODELS.register_module()
class PointImageDataPreprocessor(Det3DDataPreprocessor):
    """:class:`Det3DDataPreprocessor` that voxelises without ``.cuda()`` and keeps every point.

    ``voxel_type``:

    - ``'point_voxel'`` (SPVCNN-style students): every point is kept; voxel coordinates are 2DPASS's
      ``long(cells * (xyz - range_min) / (range_max - range_min))`` clamped into the grid, so points
      outside the range still get a voxel (and a prediction). ``inputs['voxels']`` holds
      ``points`` (N_total, C), ``point_coors`` (N_total, 4) [batch, x, y, z] int32, ``coors`` (V, 4) the unique
      voxels, ``point2voxel_map`` (N_total,) long into ``coors``, ``spatial_shape`` [X, Y, Z] and
      ``voxel_size`` / ``point_cloud_range``.
    - ``'minkunet'``: mmdet3d's format (one point per voxel, ``point2voxel_map`` on each data sample),
      computed on the data's device, so mmdet3d's ``MinkUNet`` runs on the CPU too (with
      ``sparseconv_backend='torchsparse'`` and ``batch_first=False``): spconv and torchsparse 1.4.0 get their CPU
      fixes here (:mod:`elite.models.sparse`).
    - anything else: mmdet3d's own implementation.

    Images are normalised (``mean`` / ``std``: SAM's statistics in the ELiTe configs) and stacked to
    ``inputs['imgs']`` (B, 3, H, W) by the parent. The point-to-pixel correspondence of the data samples
    (``point2img_index``, ``img_indices``) becomes one batch-global :class:`PointPixels`,
    ``inputs['point_pixels']``. A fused multi-scan batch (samples with ``original_mask``) also gets
    ``inputs['single_scan']``: the original points, their voxels (the fused scan's voxel coordinates of those
    points, not quantised again), their correspondence and data samples, for the single-scan student (M2SKD).
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.voxel_type == 'minkunet':
            # mmdet3d's spconv / torchsparse models may run on a CPU: their CPU fixes, once (they act on CPU tensors
            # only; no-ops where the library is absent)
            install_spconv_cpu_fixes()
            install_torchsparse_cpu_fixes()

    def simple_process(self, data: dict, training: bool = False) -> dict:
        data = super().simple_process(data, training)
        inputs, samples = data['inputs'], data['data_samples']
        if samples and 'img_indices' in samples[0] and 'points' in inputs and 'imgs' in inputs:
            sizes = {tuple(s.metainfo['img_shape']) for s in samples if 'img_shape' in s.metainfo}
            if len(sizes) > 1:  # the pixels would be read on the padded batch, not on each image's own grid
                raise ValueError(f'the images of one batch have different sizes {sorted(sizes)}; crop them to one '
                                 'size (BottomCropImage) for the point-to-pixel correspondence')
            inputs['point_pixels'] = PointPixels.from_samples(
                [len(p) for p in inputs['points']], [s.point2img_index for s in samples],
                [s.img_indices for s in samples], tuple(inputs['imgs'].shape[-2:]))
        if samples and 'original_mask' in samples[0] and 'points' in inputs:
            inputs['single_scan'] = self.single_scan_inputs(inputs, samples)
        return data

    def single_scan_inputs(self, inputs: Dict, samples: List[Det3DDataSample]) -> Dict:
        """The original points of fused scans, with their voxels, correspondence and data samples (see the class)."""
        masks = [s.original_mask for s in samples]
        single_samples = single_scan_samples(samples)
        single = dict(inputs, points=[p[m] for p, m in zip(inputs['points'], masks)], data_samples=single_samples)
        keep = torch.cat(masks)
        if 'voxels' in inputs and self.voxel_type == 'point_voxel':
            fused = inputs['voxels']
            single['voxels'] = dict(fused, points=fused['points'][keep], point_coors=fused['point_coors'][keep])
            coors, point2voxel_map, _ = unique_voxels(single['voxels']['point_coors'], fused['spatial_shape'])
            single['voxels'].update(coors=coors, point2voxel_map=point2voxel_map)
        elif 'voxels' in inputs:  # e.g. 'minkunet', which also writes per-sample maps: on the single-scan samples
            single['voxels'] = self.voxelize(single['points'], single_samples)
        if 'point_pixels' in inputs:
            single['point_pixels'] = inputs['point_pixels'].select_points(keep)
        return single

    def voxelize(self, points: List[Tensor], data_samples: List[Det3DDataSample]) -> Dict[str, Tensor]:
        if self.voxel_type == 'point_voxel':
            return self._voxelize_point_voxel(points)
        if self.voxel_type == 'minkunet':
            return self._voxelize_minkunet(points, data_samples)
        return super().voxelize(points, data_samples)

    def _voxelize_point_voxel(self, points: List[Tensor]) -> Dict[str, Tensor]:
        voxel_size = points[0].new_tensor(self.voxel_layer.voxel_size)
        pc_range = points[0].new_tensor(self.voxel_layer.point_cloud_range)
        # the grid on the host, in the float32 arithmetic of the tensors (no device round trip)
        range32 = np.asarray(self.voxel_layer.point_cloud_range, dtype=np.float32)
        spatial_shape = [int(c) for c in np.round((range32[3:] - range32[:3]) / np.asarray(
            self.voxel_layer.voxel_size, dtype=np.float32))]
        cells = torch.tensor(spatial_shape, device=pc_range.device)
        point_coors = torch.cat([F.pad(reference_indices(res[:, :3], cells, pc_range[:3], pc_range[3:]),
                                       (1, 0), value=i) for i, res in enumerate(points)]).int()
        coors, point2voxel_map, _ = unique_voxels(point_coors, spatial_shape)
        return dict(points=torch.cat(points), point_coors=point_coors, coors=coors, batch_size=len(points),
                    point2voxel_map=point2voxel_map, spatial_shape=spatial_shape,
                    voxel_size=voxel_size, point_cloud_range=pc_range)

    def _voxelize_minkunet(self, points: List[Tensor], data_samples: List[Det3DDataSample]) -> Dict[str, Tensor]:
        voxel_size = points[0].new_tensor(self.voxel_layer.voxel_size)
        voxels, coors = [], []
        for i, (res, data_sample) in enumerate(zip(points, data_samples)):
            res_coors = torch.round(res[:, :3] / voxel_size).int()
            res_coors -= res_coors.min(0)[0]
            _, point2voxel_map, inds = unique_voxels(res_coors)
            if self.training and self.max_voxels is not None and len(inds) > self.max_voxels:
                keep = np.random.choice(len(inds), self.max_voxels, replace=False)
                inds = inds[torch.from_numpy(keep).to(inds.device)]
            if hasattr(data_sample.gt_pts_seg, 'pts_semantic_mask'):
                data_sample.gt_pts_seg.voxel_semantic_mask = data_sample.gt_pts_seg.pts_semantic_mask[inds]
            res_voxel_coors = F.pad(res_coors[inds], (1, 0) if self.batch_first else (0, 1), value=i)
            data_sample.batch_idx = res_voxel_coors[:, 0 if self.batch_first else -1]
            data_sample.point2voxel_map = point2voxel_map.long()
            voxels.append(res[inds])
            coors.append(res_voxel_coors)
        return dict(voxels=torch.cat(voxels), coors=torch.cat(coors))


def single_scan_samples(batch_data_samples: SampleList) -> SampleList:
    """Data samples restricted to the original points (their point labels); the single-scan correspondence is
    ``inputs['single_scan']['point_pixels']``, so the fused scan's per-sample one is left out."""
    singles = []
    for sample in batch_data_samples:
        single = sample.clone()  # shallow: the fields below are replaced, never modified in place
        mask = sample.original_mask
        # per-point fields restricted; per-voxel ones ('minkunet': voxel_semantic_mask) are made anew by the
        # single scan's voxelisation
        single.gt_pts_seg = PointData(**{k: v[mask] for k, v in sample.gt_pts_seg.items() if len(v) == len(mask)})
        for key in ('point2img_index', 'img_indices'):
            if key in single:
                single.pop(key)
        singles.append(single)
    return singles
