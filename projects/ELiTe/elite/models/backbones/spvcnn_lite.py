"""SPVCNNLite: the ~1.9 M-parameter point-voxel student of 2DPASS / ELiTe.

Points get a 10-d feature (x, y, z, intensity, offset to their 0.1 m voxel's point mean, offset to that
voxel's centre), an MLP 10 -> 64 -> 64, and are averaged into voxels. Four point-voxel stages follow, at
scales 2, 4, 8, 16: each runs two residual blocks of 3 x 3 x 3 submanifold convolutions on the voxels of
the previous scale, a point branch, and fuses both into the voxels of its own scale (coarser voxels come
from quantising the points again, never from strided convolutions; :mod:`.stage_grids` has both grid modes).
Each stage's
features belong to every point: the backbone returns them as :class:`~..stage_features.StageFeatures`, stored once
per leaf (the points that share their voxel at every stage), which the classifier head concatenates and the
distiller's heads read one by one.
"""
from typing import Dict, List, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

from ..sparse import SparseBackend, get_sparse_backend
from ..stage_features import StageFeatures
from ..utils import group_counts, scatter_mean
from .stage_grids import GRIDS, StageTransfer, nested_transfers, reference_transfers


class SparseResBlock(nn.Module):
    """Two 3 x 3 x 3 submanifold convolutions (BN, LeakyReLU 0.1) plus a 1 x 1 shortcut (a per-voxel linear)."""

    def __init__(self, channels: int, backend: SparseBackend, indice_key: str) -> None:
        super().__init__()
        self.backend = backend
        self.shortcut = nn.Linear(channels, channels, bias=False)
        self.shortcut_norm = nn.BatchNorm1d(channels)
        self.conv1 = backend.subm_conv3d(channels, channels, indice_key)
        self.norm1 = nn.BatchNorm1d(channels)
        self.conv2 = backend.subm_conv3d(channels, channels, indice_key)
        self.norm2 = nn.BatchNorm1d(channels)

    def forward(self, x):
        features = self.backend.features
        identity = self.shortcut_norm(self.shortcut(features(x)))
        # in place where autograd allows it: fewer fresh (V, C) buffers, which cost page faults on the CPU
        out = self.conv1(x)
        out = self.backend.replace_features(out, F.leaky_relu_(self.norm1(features(out)), 0.1))
        out = self.conv2(out)
        return self.backend.replace_features(out, F.leaky_relu_(self.norm2(features(out)).add_(identity), 0.1))


class PointBranch(nn.Module):
    """2DPASS's point encoder: voxel features at the previous scale, a context MLP on their average at the
    next scale, fused per point and averaged into the next scale's voxels."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        half = channels // 2
        self.layer_in = nn.Sequential(nn.Linear(channels, channels), nn.LeakyReLU(0.1, True))
        self.context = nn.Sequential(
            nn.Linear(channels, half), nn.LeakyReLU(0.1, True), nn.BatchNorm1d(half),
            nn.Linear(half, half), nn.LeakyReLU(0.1, True), nn.BatchNorm1d(half),
            nn.Linear(half, channels), nn.LeakyReLU(0.1, True))
        self.layer_out = nn.Sequential(nn.Linear(2 * channels, channels), nn.LeakyReLU(0.1, True),
                                       nn.Linear(channels, channels))

    def forward(self, features: Tensor, transfer: StageTransfer) -> Tensor:
        """features: (V_in, C) -> (V_out, C).

        2DPASS applies ``layer_out`` to every point and averages the points into the output voxels; all points
        of an input voxel carry the same value, so it is computed once per input voxel and averaged over the
        (input, output) voxel pairs with their point counts as weights (the same result, with far fewer rows).
        """
        fuse, out = self.layer_out[0], self.layer_out[1:]
        own_weight, context_weight = fuse.weight.split(features.shape[1], dim=1)
        # layer_out's first layer on cat([layer_in(features), context]) as two products; the context's is
        # taken per context group before its gather (the same values, fewer rows and no concatenation)
        context = self.context(scatter_mean(features, transfer.context, transfer.num_context))
        fused = torch.addmm(torch.mm(context, context_weight.t())[transfer.context], self.layer_in(features),
                            own_weight.t()).add_(fuse.bias)
        return scatter_mean(transfer.gather_pairs(out(fused)), transfer.pair_out, transfer.coors.shape[0],
                            weight=transfer.pair_points)


class PointVoxelStage(nn.Module):
    def __init__(self, channels: int, backend: SparseBackend, indice_key: str) -> None:
        super().__init__()
        self.voxel_blocks = nn.ModuleList([SparseResBlock(channels, backend, indice_key) for _ in range(2)])
        self.point_branch = PointBranch(channels)
        self.backend = backend

    def forward(self, x, transfer: StageTransfer):
        """x: sparse tensor at the input scale -> (point-branch features at the output scale (V_out, C),
        the next stage's voxel features (V_out, C), the voxel branch's output at the input scale (V_in, C)).
        Averages into the output voxels are averages over points, as in 2DPASS."""
        v = x
        for block in self.voxel_blocks:
            v = block(v)
        v_features = self.backend.features(v)
        v_next = scatter_mean(transfer.gather_pairs(v_features), transfer.pair_out, transfer.coors.shape[0],
                              weight=transfer.pair_points)
        p_next = self.point_branch(self.backend.features(x) + v_features, transfer)
        return p_next, p_next + v_next, v_features


def point_features(points: Tensor, point_coors: Tensor, point2voxel: Tensor, num_voxels: int,
                   voxel_size: Tensor, range_min: Tensor) -> Tensor:
    """(N, 10): the point's 4 values, its offset to its voxel's point mean and to its voxel's centre."""
    xyz = points[:, :3]
    mean = scatter_mean(xyz, point2voxel, num_voxels)[point2voxel]
    centre = (point_coors[:, 1:].to(xyz.dtype) + 0.5) * voxel_size + range_min
    return torch.cat([points[:, :4], xyz - mean, xyz - centre], dim=1)


@MODELS.register_module()
class SPVCNNLite(BaseModule):
    """The ELiTe student backbone.

    Args:
        in_channels: point values used (x, y, z, intensity).
        channels: hidden width of every stage.
        scales: voxel scale of each stage's output, relative to the input voxels (each a multiple of the
            previous one).
        sparse_backend: ``'auto'`` (torchsparse when importable, else spconv), ``'spconv'`` or
            ``'torchsparse'``.
        grid: ``'reference'`` (2DPASS's per-scale grids quantised from the points, default) or ``'nested'``
            (coarser voxels by re-quantising finer ones; faster, a departure). See :mod:`.stage_grids`.

    Input: the ``voxels`` dict of :class:`PointImageDataPreprocessor` (``voxel_type='point_voxel'``).
    Output: :class:`~..stage_features.StageFeatures`, stored once per leaf (the points that share their voxel at
    every stage), with each stage's voxel-branch output for per-voxel distillation.
    """

    def __init__(self, in_channels: int = 4, channels: int = 64, scales: Sequence[int] = (2, 4, 8, 16),
                 sparse_backend: str = 'auto', grid: str = 'reference', init_cfg=None) -> None:
        super().__init__(init_cfg)
        if any(b % a for a, b in zip((1,) + tuple(scales), scales)):
            raise ValueError(f'each scale must be a multiple of the previous one, got {scales}')
        if grid not in GRIDS:
            raise ValueError(f'grid must be one of {GRIDS}, got {grid!r}')
        self.in_channels = in_channels
        self.scales = tuple(scales)
        self.grid = grid
        self.stage_channels = (channels,) * len(self.scales)
        self.backend = get_sparse_backend(sparse_backend)
        self.point_mlp = nn.Sequential(nn.Linear(in_channels + 6, channels), nn.ReLU(True),
                                       nn.Linear(channels, channels))
        self.stages = nn.ModuleList(
            PointVoxelStage(channels, self.backend, f'stage{i}') for i in range(len(self.scales)))

    def voxel_mlp(self, points: Tensor, point_coors: Tensor, point2voxel: Tensor, num_voxels: int,
                  voxel_size: Tensor, range_min: Tensor) -> Tensor:
        """The point MLP averaged into the input voxels (V, C). The average is taken before the last
        (affine) layer, which commutes with it: the same values as 2DPASS's order, with V rows instead of N."""
        hidden = self.point_mlp[:-1](point_features(points, point_coors, point2voxel, num_voxels, voxel_size,
                                                    range_min))
        return self.point_mlp[-1](scatter_mean(hidden, point2voxel, num_voxels))

    def stage_transfers(self, voxel_dict: Dict) -> Tuple[List[StageTransfer], Tensor]:
        """Each stage's :class:`StageTransfer` and the point -> leaf map, for this batch's grids."""
        coors, point2voxel = voxel_dict['coors'], voxel_dict['point2voxel_map']
        if self.grid == 'nested':
            voxel_points = group_counts(point2voxel, coors.shape[0], voxel_dict['points'].dtype)
            return nested_transfers(coors, point2voxel, voxel_points, self.scales)
        pc_range = voxel_dict['point_cloud_range']
        return reference_transfers(voxel_dict['points'][:, :3], voxel_dict['point_coors'], point2voxel, coors,
                                   voxel_dict['spatial_shape'], pc_range[:3], pc_range[3:], self.scales)

    def stage_shapes(self, spatial_shape: Sequence[int]) -> List[List[int]]:
        """The grid each stage's voxel blocks run on: ceil(shape / scale) cells of its input scale (1, 2, 4, 8),
        which hold every voxel of that scale in both grid modes."""
        return [[-(-int(c) // scale) for c in spatial_shape] for scale in (1,) + self.scales[:-1]]

    def forward(self, voxel_dict: Dict) -> StageFeatures:
        """``voxel_dict``: see the class. An export passes the index work done beforehand as
        ``voxel_dict['stage_plan']`` = (transfers, point -> leaf map, one :class:`~..sparse.kernel_map.KernelMap`
        per stage) and runs the kernel-map backend; otherwise both are computed here."""
        points = voxel_dict['points'][:, :self.in_channels]
        point_coors = voxel_dict['point_coors']
        batch_size = voxel_dict.get('batch_size') or (int(point_coors[:, 0].max()) + 1 if len(point_coors) else 1)
        coors, point2voxel = voxel_dict['coors'], voxel_dict['point2voxel_map']
        voxel_features = self.voxel_mlp(points, point_coors, point2voxel, coors.shape[0], voxel_dict['voxel_size'],
                                        voxel_dict['point_cloud_range'][:3])
        if 'stage_plan' in voxel_dict:
            transfers, point2leaf, kernel_maps = voxel_dict['stage_plan']
        else:
            (transfers, point2leaf), kernel_maps = self.stage_transfers(voxel_dict), [None] * len(self.stages)
        stage_features, branch_features = [], []
        for stage, transfer, shape, kernel_map in zip(self.stages, transfers,
                                                       self.stage_shapes(voxel_dict['spatial_shape']), kernel_maps):
            x = self.backend.tensor(voxel_features, coors, shape, batch_size, kernel_map=kernel_map)
            point_out, voxel_features, branch = stage(x, transfer)
            stage_features.append(point_out if transfer.out_of_leaf is None else point_out[transfer.out_of_leaf])
            branch_features.append(branch)
            coors = transfer.coors
        # stage i > 0 reads the voxels stage i - 1 wrote
        input_of_leaf = [None] + [t.out_of_leaf for t in transfers[:-1]]
        return StageFeatures(stage_features, point2leaf, branch_features, point2voxel, input_of_leaf)
