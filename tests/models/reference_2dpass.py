"""The 2DPASS baseline 3D network (yanx27/2DPASS ``network/baseline.py``, ``network/voxel_fea_generator.py``,
``network/basic_block.py``), re-implemented for tests from reading those files: per point, in their order,
under their module names (so a 2DPASS ``model_3d`` state dict loads into it unchanged).

What it reproduces, each a place where our student could silently differ:
- every scale s in (2, 4, 8, 16, 1) quantised from the points, ``long(ceil(shape / s) * (p - min) / (max - min))``
  in float32, unique rows over [batch, x, y, z], sparse indices in [batch, z, y, x] order;
- point features [x, y, z, i, offset to the voxel's point mean, offset to the voxel's *corner*];
- each block: two SparseBasicBlocks (1 x 1 SubM + BN shortcut) at the previous scale; the point encoder's
  context on ``coors // 2`` of the previous scale (unweighted mean over voxels), ``layer_out`` per point,
  averaged per point into the next scale; the next tensor = point branch + per-point-averaged voxel branch;
  the per-point output = point branch only; classifier 256 -> 128 -> 20 per point.
Nothing from the package under test is used here, except the spconv CPU fixes (2DPASS ran on GPUs; spconv 2.3.8
on a CPU needs them, see elite/models/sparse/spconv_cpu.py).
"""
from typing import Dict, List, Sequence

import numpy as np
import spconv.pytorch as spconv
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from elite.models.sparse.spconv_cpu import install_spconv_cpu_fixes

install_spconv_cpu_fixes()


def scatter_mean(src: Tensor, index: Tensor, num: int) -> Tensor:
    """torch_scatter.scatter_mean over dim 0 (empty groups 0)."""
    out = torch.zeros((num,) + src.shape[1:], dtype=src.dtype).index_add_(0, index, src)
    count = torch.bincount(index, minlength=num).clamp(min=1).to(src.dtype)
    return out / count.view(-1, *([1] * (src.dim() - 1)))


class SparseBasicBlock(spconv.SparseModule):
    def __init__(self, in_channels: int, out_channels: int, indice_key: str) -> None:
        super().__init__()
        self.layers_in = spconv.SparseSequential(
            spconv.SubMConv3d(in_channels, out_channels, 1, indice_key=indice_key, bias=False),
            nn.BatchNorm1d(out_channels))
        self.layers = spconv.SparseSequential(
            spconv.SubMConv3d(in_channels, out_channels, 3, indice_key=indice_key, bias=False),
            nn.BatchNorm1d(out_channels), nn.LeakyReLU(0.1),
            spconv.SubMConv3d(out_channels, out_channels, 3, indice_key=indice_key, bias=False),
            nn.BatchNorm1d(out_channels))

    def forward(self, x):
        identity = self.layers_in(x)
        output = self.layers(x)
        return output.replace_feature(F.leaky_relu(output.features + identity.features, 0.1))


class PointEncoder(nn.Module):
    def __init__(self, channels: int, scale: int) -> None:
        super().__init__()
        self.scale = scale
        half = channels // 2
        self.layer_in = nn.Sequential(nn.Linear(channels, channels), nn.LeakyReLU(0.1, True))
        self.PPmodel = nn.Sequential(
            nn.Linear(channels, half), nn.LeakyReLU(0.1, True), nn.BatchNorm1d(half),
            nn.Linear(half, half), nn.LeakyReLU(0.1, True), nn.BatchNorm1d(half),
            nn.Linear(half, channels), nn.LeakyReLU(0.1, True))
        self.layer_out = nn.Sequential(nn.Linear(2 * channels, channels), nn.LeakyReLU(0.1, True),
                                       nn.Linear(channels, channels))

    def forward(self, features: Tensor, data: Dict) -> Tensor:
        coors = data['coors']  # previous scale, [b, z, y, x]
        inv = torch.unique(torch.cat([coors[:, :1], coors[:, 1:] // 2], 1), return_inverse=True, dim=0)[1]
        context = scatter_mean(features, inv, int(inv.max()) + 1)
        output = torch.cat([self.layer_in(features), self.PPmodel(context)[inv]], dim=1)
        nxt = data[f'scale_{self.scale}']
        v_feat = scatter_mean(self.layer_out(output[data['coors_inv']]), nxt['coors_inv'], len(nxt['coors']))
        data['coors'], data['coors_inv'] = nxt['coors'], nxt['coors_inv']
        return v_feat


class SPVBlock(nn.Module):
    def __init__(self, channels: int, indice_key: str, scale: int, last_scale: int,
                 spatial_shape: List[int]) -> None:
        super().__init__()
        self.scale, self.last_scale, self.spatial_shape = scale, last_scale, spatial_shape
        self.v_enc = spconv.SparseSequential(SparseBasicBlock(channels, channels, indice_key),
                                             SparseBasicBlock(channels, channels, indice_key))
        self.p_enc = PointEncoder(channels, scale)

    def forward(self, data: Dict) -> Tensor:
        coors_inv_last = data[f'scale_{self.last_scale}']['coors_inv']
        nxt = data[f'scale_{self.scale}']
        v_fea = self.v_enc(data['sparse_tensor'])
        v_fea_inv = scatter_mean(v_fea.features[coors_inv_last], nxt['coors_inv'], len(nxt['coors']))
        p_fea = self.p_enc(data['sparse_tensor'].features + v_fea.features, data)
        data['sparse_tensor'] = spconv.SparseConvTensor(p_fea + v_fea_inv, data['coors'], self.spatial_shape,
                                                        data['batch_size'])
        return p_fea[nxt['coors_inv']]


class VoxelGenerator(nn.Module):
    def __init__(self, in_channels: int, channels: int) -> None:
        super().__init__()
        self.PPmodel = nn.Sequential(nn.Linear(in_channels + 6, channels), nn.ReLU(True),
                                     nn.Linear(channels, channels))


class Reference2DPASSBaseline(nn.Module):
    """``get_model`` of 2DPASS's baseline.py without its loss: (N, 4) points + (N,) batch ids -> (N, 20) logits."""

    def __init__(self, spatial_shape: Sequence[int] = (1000, 1000, 60),
                 range_min: Sequence[float] = (-50, -50, -4), range_max: Sequence[float] = (50, 50, 2),
                 scales: Sequence[int] = (2, 4, 8, 16), channels: int = 64, num_classes: int = 20) -> None:
        super().__init__()
        self.spatial_shape = np.array(spatial_shape)
        self.range_min, self.range_max, self.scales = list(range_min), list(range_max), list(scales)
        strides = [s // scales[0] for s in scales]
        self.voxel_3d_generator = VoxelGenerator(4, channels)
        self.spv_enc = nn.ModuleList(
            SPVBlock(channels, f'spv_{i}', s, scales[i - 1] if i else 1,
                     np.int32(self.spatial_shape // strides[i])[::-1].tolist()) for i, s in enumerate(scales))
        self.classifier = nn.Sequential(nn.Linear(channels * len(scales), 128), nn.ReLU(True),
                                        nn.Linear(128, num_classes))

    def voxelize(self, points: Tensor, batch_idx: Tensor) -> Dict:
        data = dict(points=points, batch_size=int(batch_idx.max()) + 1)
        pc = points[:, :3]
        for scale in self.scales + [1]:
            idx = [(np.ceil(self.spatial_shape[d] / scale) * (pc[:, d] - self.range_min[d])
                    / (self.range_max[d] - self.range_min[d])).long() for d in range(3)]
            bxyz = torch.stack([batch_idx] + idx, dim=-1).long()
            unq, unq_inv = torch.unique(bxyz, return_inverse=True, dim=0)
            data[f'scale_{scale}'] = dict(full_coors=bxyz, coors_inv=unq_inv,
                                          coors=torch.cat([unq[:, :1], unq[:, [3, 2, 1]]], 1).int())
        return data

    def forward(self, points: Tensor, batch_idx: Tensor) -> Tensor:
        data = self.voxelize(points, batch_idx)
        s1 = data['scale_1']
        pc = points[:, :3]
        intervals = (torch.tensor(self.range_max) - torch.tensor(self.range_min)).float() / torch.tensor(
            self.spatial_shape).float()
        corners = s1['full_coors'][:, 1:] * intervals + torch.tensor(self.range_min).float()
        mean = scatter_mean(pc, s1['coors_inv'], len(s1['coors']))[s1['coors_inv']]
        feats = self.voxel_3d_generator.PPmodel(torch.cat([points, pc - mean, pc - corners], 1))
        data['sparse_tensor'] = spconv.SparseConvTensor(
            scatter_mean(feats, s1['coors_inv'], len(s1['coors'])), s1['coors'],
            np.int32(self.spatial_shape)[::-1].tolist(), data['batch_size'])
        data['coors'], data['coors_inv'] = s1['coors'], s1['coors_inv']
        return self.classifier(torch.cat([block(data) for block in self.spv_enc], 1))


def in_range(points: Tensor, range_min: Sequence[float] = (-50, -50, -4),
             range_max: Sequence[float] = (50, 50, 2)) -> Tensor:
    """2DPASS's dataset filter (strict on both sides)."""
    lo, hi = torch.tensor(range_min, dtype=points.dtype), torch.tensor(range_max, dtype=points.dtype)
    return ((points[:, :3] > lo) & (points[:, :3] < hi)).all(1)

