"""A sparse backend of standard tensor ops: gather, matrix product and scatter-add over a kernel map.

For a 3 x 3 x 3 submanifold convolution the kernel map lists, for each of the 27 offsets d, the pairs (input
voxel u + d, output voxel u) where both are active. The convolution is then

    out[u] = sum_d  W_d x[u + d]      (cross-correlation, as ``torch.nn.functional.conv3d``),

computed offset by offset as ``out.index_add_(0, out_d, x[in_d] @ W_d^T)``. Every op is a plain torch op, so
autograd trains through it, any device runs it, and a tracer (``torch.onnx``) sees the whole network; the kernel
map itself is found with a sort and ``searchsorted`` on packed voxel keys, once per voxel set (the convolutions on
the same voxels share it). The weight is stored as spconv's (out, kx, ky, kz, in) with module version 2, so a
checkpoint moves between this backend, spconv and torchsparse unchanged.
"""
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

OFFSETS = [(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)]  # weight index order


class KernelMapTensor:
    """Voxel features (V, C) with their coordinates (V, 4) [batch, x, y, z], the grid, and a cache of kernel maps
    shared by every tensor on the same voxels."""

    def __init__(self, features: Tensor, coors: Tensor, spatial_shape: Sequence[int], batch_size: int,
                 cache: Dict = None) -> None:
        self.features = features
        self.coors = coors
        self.spatial_shape = [int(s) for s in spatial_shape]
        self.batch_size = int(batch_size)
        self.cache = {} if cache is None else cache

    def replace_feature(self, features: Tensor) -> 'KernelMapTensor':
        return KernelMapTensor(features, self.coors, self.spatial_shape, self.batch_size, self.cache)

    def submanifold_map(self) -> List[Tuple[Tensor, Tensor]]:
        """Per offset of :data:`OFFSETS`: (input rows, output rows) of the active pairs (computed once)."""
        if 'subm3' not in self.cache:
            self.cache['subm3'] = submanifold_kernel_map(self.coors, self.spatial_shape)
        return self.cache['subm3']


def submanifold_kernel_map(coors: Tensor, spatial_shape: Sequence[int]) -> List[Tuple[Tensor, Tensor]]:
    """The 3 x 3 x 3 kernel map of the voxels ``coors`` (V, 4) [batch, x, y, z] on a grid of ``spatial_shape``."""
    coors = coors.long()
    sx, sy, sz = (int(s) for s in spatial_shape)

    def keys(c: Tensor) -> Tensor:
        return ((c[:, 0] * (sx + 2) + c[:, 1] + 1) * (sy + 2) + c[:, 2] + 1) * (sz + 2) + c[:, 3] + 1

    sorted_keys, order = torch.sort(keys(coors))
    rows = torch.arange(len(coors), device=coors.device)
    found_pairs = {(0, 0, 0): (rows, rows)}  # every voxel is its own centre neighbour
    for offset in OFFSETS:
        if offset in found_pairs:
            continue
        shift = coors.new_tensor((0,) + offset)
        # a neighbour off the grid gets a key of the one-voxel border around it, which no voxel has
        wanted = keys(coors + shift)
        position = torch.searchsorted(sorted_keys, wanted).clamp_(max=len(coors) - 1)
        found = sorted_keys[position] == wanted
        in_rows, out_rows = order[position[found]], rows[found]
        found_pairs[offset] = (in_rows, out_rows)
        # v = u + d is a neighbour of u exactly when u = v - d is one of v: the opposite offset, free
        found_pairs[tuple(-o for o in offset)] = (out_rows, in_rows)
    return [found_pairs[offset] for offset in OFFSETS]


class KernelMapConv3d(nn.Module):
    """3 x 3 x 3 submanifold convolution over :meth:`KernelMapTensor.submanifold_map` (see the module)."""
    _version = 2  # spconv 2's weight layout: mmdet3d's spconv loader leaves it as it is

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(out_channels, 3, 3, 3, in_channels))
        nn.init.kaiming_uniform_(self.weight.view(out_channels, -1), a=5 ** 0.5)

    def forward(self, x: KernelMapTensor) -> KernelMapTensor:
        features = x.features
        # (27, in, out), offsets in OFFSETS order: one contiguous matrix per offset
        kernels = self.weight.permute(1, 2, 3, 4, 0).reshape(len(OFFSETS), self.weight.shape[4], -1)
        # the centre offset pairs every voxel with itself: its product is the output's first term, no scatter
        centre = OFFSETS.index((0, 0, 0))
        out = features @ kernels[centre]
        for k, (in_rows, out_rows) in enumerate(x.submanifold_map()):
            if k != centre:  # in place: no copy of the output per offset
                out.index_add_(0, out_rows, (features[in_rows] @ kernels[k]).to(out.dtype))
        return x.replace_feature(out)
