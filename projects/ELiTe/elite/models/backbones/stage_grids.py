"""The voxel grids of the student's stages and how each stage moves features from one grid to the next.

Two gridding modes (``SPVCNNLite(grid=...)``):

- ``'reference'`` (default): as 2DPASS's ``voxelization`` (``network/voxel_fea_generator.py``), every scale s
  is quantised from the points themselves, ``long(ceil(shape / s) * (p - min) / (max - min))`` per axis.
  ``ceil(60 / 8) = 8`` z cells of 0.75 m, ``ceil(1000 / 16) = 63`` x / y cells of 1.5873 m: a coarse voxel does
  not contain whole finer voxels, so the points of one voxel may go to two coarser ones.
- ``'nested'``: coarser voxels are finer voxels re-quantised, ``floor(coors / s)``, so every voxel lies in
  exactly one coarser voxel (faster; a departure from the reference).

Both are described by the same :class:`StageTransfer` per stage, computed once per batch on the voxels, never
per point in the stages: averages "over points" become averages over (input voxel, output voxel) *pairs*
weighted by their point counts. In both modes the point branch's context groups the input voxels by
``coors // 2`` of the input grid, as 2DPASS's ``point_encoder.downsample``.
"""
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from ..utils import reference_indices, unique_rows

GRIDS = ('reference', 'nested')


@dataclass
class StageTransfer:
    """One stage, from its input voxels (scale a) to its output voxels (scale b).

    coors: (V_b, 4) [batch, x, y, z] output voxels.
    pair_in: (P,) input voxel of each (input, output) pair that holds points; None when the pairs are the
        input voxels themselves (nested grids).
    pair_out: (P,) output voxel of each pair.
    pair_points: (P,) number of points of each pair (float): the weights of every average "over points".
    context: (V_a,) context group of each input voxel (``coors_a // 2``); ``num_context`` groups.
    out_of_leaf: (L,) output voxel of each leaf (see :func:`build_stage_transfers`); None: the leaves are
        the output voxels.
    """
    coors: Tensor
    pair_in: Optional[Tensor]
    pair_out: Tensor
    pair_points: Tensor
    context: Tensor
    num_context: int
    out_of_leaf: Optional[Tensor]

    def gather_pairs(self, features: Tensor) -> Tensor:
        """(V_a, C) per input voxel -> (P, C) per pair."""
        return features if self.pair_in is None else features[self.pair_in]


def _pack_small(columns: Sequence[Tensor]) -> Tensor:
    """Small integer columns (each (N,), any sign) as one non-negative int64 column (mixed radix)."""
    key = torch.zeros_like(columns[0], dtype=torch.long)
    for column in columns:
        shifted = column.long() - column.min()
        key = key * (int(shifted.max()) + 1) + shifted
    return key


def _first_of(inverse: Tensor, num: int) -> Tensor:
    """Index of the first row of each of the ``num`` groups of ``inverse`` (N,)."""
    order = torch.arange(len(inverse), device=inverse.device)
    return torch.full((num,), len(inverse), dtype=torch.long, device=inverse.device).scatter_reduce_(
        0, inverse, order, reduce='amin')


def quantise(coors: Tensor, factor: int) -> Tuple[Tensor, Tensor]:
    """Voxels ``factor`` times larger, nested: their coors (V', 4) [batch, x, y, z] and the map (V,) from each
    row of ``coors`` to its voxel. Re-quantising voxels gives the same voxels as re-quantising their points,
    ``floor(floor(c / a) / b) == floor(c / (a * b))``, with far fewer rows."""
    coarse = torch.cat([coors[:, :1], torch.div(coors[:, 1:], factor, rounding_mode='floor')], 1)
    return unique_rows(coarse)


def _context(coors: Tensor) -> Tuple[Tensor, int]:
    grouped, index = quantise(coors, 2)
    return index, len(grouped)


def nested_transfers(coors: Tensor, point2voxel: Tensor, voxel_points: Tensor, scales: Sequence[int]
                     ) -> Tuple[List[StageTransfer], Tensor]:
    """Stage transfers of nested grids and the point -> leaf map; the leaves are the first stage's output
    voxels (every point of one of them shares every stage's voxel)."""
    transfers, scale, leaf2level = [], 1, None
    for i, next_scale in enumerate(scales):
        next_coors, in2out = quantise(coors, next_scale // scale)
        context = (in2out, len(next_coors)) if next_scale // scale == 2 else _context(coors)
        if i == 1:
            leaf2level = in2out
        elif i > 1:
            leaf2level = in2out[leaf2level]
        transfers.append(StageTransfer(next_coors, None, in2out, voxel_points, *context,
                                       None if i == 0 else leaf2level))
        voxel_points = voxel_points.new_zeros(len(next_coors)).index_add_(0, in2out, voxel_points)
        coors, scale = next_coors, next_scale
    return transfers, transfers[0].pair_out[point2voxel]


def reference_transfers(xyz: Tensor, point_coors: Tensor, point2voxel: Tensor, coors: Tensor, cells: Tensor,
                        range_min: Tensor, range_max: Tensor, scales: Sequence[int]
                        ) -> Tuple[List[StageTransfer], Tensor]:
    """Stage transfers of 2DPASS's grids and the point -> leaf map.

    The points are grouped once into *atoms*: the points that share their voxel at every scale. An atom is
    almost always one input voxel (its points straddle a coarse cell boundary otherwise), so everything after
    the grouping runs on about V rows instead of N. The leaves are the atoms' distinct (scale 2, 4, ...) voxels.

    xyz (N, 3) the points, point_coors (N, 4) and point2voxel (N,) their input voxels ``coors`` (V, 4),
    cells (3,) the input grid; scales as ``SPVCNNLite.scales``.
    """
    # Each coarse index lies within one cell of the coarse cell that holds the input voxel's lower corner, so
    # the input voxel plus one small offset per scale and axis identifies an atom (a short packed key).
    per_scale, offsets = [], []
    for s in scales:
        cells_s = torch.div(cells + s - 1, s, rounding_mode='floor')
        idx = reference_indices(xyz, cells_s, range_min, range_max)
        base = torch.div(point_coors[:, 1:].long() * cells_s, cells, rounding_mode='floor')
        per_scale.append(idx)
        offsets.extend((idx - base).unbind(1))
    atoms, point2atom = unique_rows(torch.stack([point2voxel, _pack_small(offsets)], 1))
    atom_voxel = atoms[:, 0]
    atom_points = torch.bincount(point2atom, minlength=len(atoms)).to(xyz.dtype)
    atom_batch = coors[atom_voxel, :1].long()
    atom_first = _first_of(point2atom, len(atoms))  # one point of each atom
    transfers, atom2in, in_coors = [], atom_voxel, coors
    leaf_columns = []
    for i, idx in enumerate(per_scale):
        out_coors, atom2out = unique_rows(torch.cat([atom_batch, idx[atom_first]], 1))
        pairs, atom2pair = unique_rows(torch.stack([atom2in, atom2out], 1))
        pair_points = atom_points.new_zeros(len(pairs)).index_add_(0, atom2pair, atom_points)
        transfers.append(StageTransfer(out_coors.to(coors.dtype), pairs[:, 0], pairs[:, 1], pair_points,
                                       *_context(in_coors), None))
        leaf_columns.append(atom2out)
        atom2in, in_coors = atom2out, out_coors
    leaves, atom2leaf = unique_rows(torch.stack(leaf_columns, 1))
    for transfer, out_of_leaf in zip(transfers, leaves.unbind(1)):
        transfer.out_of_leaf = out_of_leaf
    return transfers, atom2leaf[point2atom]
