"""A sparse backend of standard tensor ops: gather, matrix product and scatter-add over a kernel map.

For a 3 x 3 x 3 submanifold convolution the kernel map lists, for each of the 27 offsets d, the pairs (input
voxel u + d, output voxel u) where both are active. The convolution is then

    out[u] = sum_d  W_d x[u + d]      (cross-correlation, as ``torch.nn.functional.conv3d``),

computed as the centre product ``x @ W_0`` plus, for each of the other 26 offsets, a gather of its pairs' input
rows, a product and a scatter-add into their output rows. Every op is a plain torch op, so autograd trains
through it and any device runs it; a tracer (``torch.onnx``) sees the whole network, with the kernel map as an
input (:mod:`..export_ops`). The map is found with a sort and ``searchsorted`` on packed voxel keys, once per
voxel set (the convolutions on the same voxels share it). The weight is stored as spconv's (out, kx, ky, kz, in)
with module version 2, so a checkpoint moves between this backend, spconv and torchsparse unchanged.
"""
from dataclasses import dataclass
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

from ..export_ops import index_add_rows

OFFSETS = [(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)]  # weight index order
CENTRE = OFFSETS.index((0, 0, 0))
NON_CENTRE = [k for k in range(len(OFFSETS)) if k != CENTRE]


@dataclass
class KernelMap:
    """The active pairs of the 26 non-centre offsets (the centre pairs every voxel with itself), in
    :data:`OFFSETS` order: ``pairs[j]`` = (input rows, output rows) of offset ``NON_CENTRE[j]``. Within one offset
    every output row appears at most once, so its scatter-add never adds twice into one row."""
    pairs: List[Tuple[Tensor, Tensor]]


class KernelMapTensor:
    """Voxel features (V, C) with their coordinates (V, 4) [batch, x, y, z], the grid, and a cache of kernel maps
    shared by every tensor on the same voxels (filled in advance for an export)."""

    def __init__(self, features: Tensor, coors: Tensor, spatial_shape: Sequence[int], batch_size: int,
                 cache: Dict = None) -> None:
        self.features = features
        self.coors = coors
        self.spatial_shape = [int(s) for s in spatial_shape]
        self.batch_size = int(batch_size)
        self.cache = {} if cache is None else cache

    def replace_feature(self, features: Tensor) -> 'KernelMapTensor':
        return KernelMapTensor(features, self.coors, self.spatial_shape, self.batch_size, self.cache)

    def submanifold_map(self) -> KernelMap:
        """The 3 x 3 x 3 kernel map of these voxels (computed once)."""
        if 'subm3' not in self.cache:
            self.cache['subm3'] = submanifold_kernel_map(self.coors, self.spatial_shape)
        return self.cache['subm3']


def voxel_keys(coors: Tensor, spatial_shape: Sequence[int]) -> Tensor:
    """One int64 per voxel (V, 4) [batch, x, y, z], increasing with the coordinates, on the grid padded by one
    voxel on every side: a neighbour off the grid gets the key of a border cell, which no voxel has."""
    sx, sy, sz = (int(s) for s in spatial_shape)
    coors = coors.long()
    return ((coors[:, 0] * (sx + 2) + coors[:, 1] + 1) * (sy + 2) + coors[:, 2] + 1) * (sz + 2) + coors[:, 3] + 1


def submanifold_kernel_map(coors: Tensor, spatial_shape: Sequence[int]) -> KernelMap:
    """The 3 x 3 x 3 kernel map of the voxels ``coors`` (V, 4) [batch, x, y, z] on a grid of ``spatial_shape``."""
    sx, sy, sz = (int(s) for s in spatial_shape)
    sorted_keys, order = torch.sort(voxel_keys(coors, spatial_shape))
    rows = torch.arange(len(coors), device=coors.device)
    pairs = {}
    for offset in (OFFSETS[k] for k in NON_CENTRE):
        if offset in pairs:
            continue
        dx, dy, dz = offset
        wanted = sorted_keys + ((dx * (sy + 2) + dy) * (sz + 2) + dz)  # the neighbours' keys, also sorted
        position = torch.searchsorted(sorted_keys, wanted).clamp_(max=len(coors) - 1)
        found = sorted_keys[position] == wanted
        in_rows, out_rows = order[position[found]], order[rows[found]]
        pairs[offset] = (in_rows, out_rows)
        # v = u + d is a neighbour of u exactly when u = v - d is one of v: the opposite offset, free
        pairs[(-dx, -dy, -dz)] = (out_rows, in_rows)
    return KernelMap([pairs[OFFSETS[k]] for k in NON_CENTRE])


class KernelMapConv3d(nn.Module):
    """3 x 3 x 3 submanifold convolution over :meth:`KernelMapTensor.submanifold_map` (see the module)."""
    _version = 2  # spconv 2's weight layout: mmdet3d's spconv loader leaves it as it is

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, 3, 3, 3, in_channels))
        nn.init.kaiming_uniform_(self.weight.view(out_channels, -1), a=5 ** 0.5)

    def kernels(self) -> Tensor:
        """(27, in, out): one contiguous matrix per offset, in :data:`OFFSETS` order."""
        return self.weight.permute(1, 2, 3, 4, 0).reshape(len(OFFSETS), self.weight.shape[4], -1)

    def forward(self, x: KernelMapTensor) -> KernelMapTensor:
        features, kernels, pairs = x.features, self.kernels(), x.submanifold_map().pairs
        out = features @ kernels[CENTRE]  # the centre offset: every voxel with itself, no scatter
        products = ((features.index_select(0, in_rows) @ kernels[k]).to(out.dtype)
                    for k, (in_rows, _) in zip(NON_CENTRE, pairs))  # made one at a time
        if torch.onnx.is_in_onnx_export():  # one scatter: onnxruntime copies the output buffer at each one
            return x.replace_feature(index_add_rows(out, torch.cat([o for _, o in pairs]), torch.cat(list(products))))
        for (_, out_rows), product in zip(pairs, products):
            out.index_add_(0, out_rows, product)
        return x.replace_feature(out)
