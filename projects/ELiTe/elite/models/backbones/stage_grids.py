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

from ..utils import first_index, group_counts, reference_indices, unique_rows

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
    out_of_leaf: (L,) output voxel of each leaf (see :func:`reference_transfers`); None: the leaves are
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


def _unique_pairs(first: Tensor, second: Tensor, num_second: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Unique (first, second) rows of two non-negative index columns: (first (P,), second (P,), inverse (N,))."""
    keys, inverse = torch.unique(first * num_second + second, return_inverse=True)
    return torch.div(keys, num_second, rounding_mode='floor'), keys % num_second, inverse


def quantise(coors: Tensor, factor: int, bounds: Optional[Sequence[int]] = None) -> Tuple[Tensor, Tensor]:
    """Voxels ``factor`` times larger, nested: their coors (V', 4) [batch, x, y, z] and the map (V,) from each
    row of ``coors`` to its voxel. Re-quantising voxels gives the same voxels as re-quantising their points,
    ``floor(floor(c / a) / b) == floor(c / (a * b))``, with far fewer rows. ``bounds``: the grid of ``coors``
    if known (3 ints; no host sync for the column maxima then)."""
    coarse = torch.cat([coors[:, :1], torch.div(coors[:, 1:], factor, rounding_mode='floor')], 1)
    return unique_rows(coarse, None if bounds is None else [-(-int(c) // factor) for c in bounds])


def _context(coors: Tensor, cells: Optional[Sequence[int]] = None) -> Tuple[Tensor, int]:
    """Each voxel's context group (``coors // 2``) and their number; ``cells``: the grid of ``coors`` if known."""
    grouped, index = quantise(coors.long(), 2, cells)
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


def reference_transfers(xyz: Tensor, point_coors: Tensor, point2voxel: Tensor, coors: Tensor, cells: Sequence[int],
                        range_min: Tensor, range_max: Tensor, scales: Sequence[int]
                        ) -> Tuple[List[StageTransfer], Tensor]:
    """Stage transfers of 2DPASS's grids and the point -> leaf map.

    The points are grouped once into *atoms*: the points that share their voxel at every scale. An atom is
    almost always one input voxel (its points straddle a coarse cell boundary otherwise), so everything after
    the grouping runs on about V rows instead of N. The leaves are the atoms' distinct (scale 2, 4, ...) voxels.

    xyz (N, 3) the points, point_coors (N, 4) and point2voxel (N,) their input voxels ``coors`` (V, 4),
    cells (3 ints) the input grid; scales as ``SPVCNNLite.scales``. Grid sizes stay on the host: on a GPU the
    host waits only for the sizes of the unique sets and for one range check.
    """
    cells = [int(c) for c in cells]
    device = xyz.device
    cells_s = [[-(-c // s) for c in cells] for s in scales]  # ceil(cells / s), (S, 3)
    # Where cells = cells_s * 2^k (x / y at scales 2, 4, 8 of 1000 cells, z at 2 and 4 of 60), the reference
    # formula gives exactly idx_1 >> k (float scaling by a power of two is exact): nested, no per-point work.
    # The other (scale, axis) pairs are computed per point, and each such index lies within a cell or so of
    # the one that holds the input voxel's corner, so the input voxel plus 2 bits per pair identifies an atom
    # (the points that share their voxel at every scale): one packed key, one unique over the N points.
    shifts, per_point, code = {}, {}, torch.zeros_like(point2voxel)
    outside = torch.zeros((), dtype=torch.bool, device=device)
    for i, row in enumerate(cells_s):
        for d, cell in enumerate(row):
            ratio = cells[d] // cell
            if cell * ratio == cells[d] and ratio & (ratio - 1) == 0:
                shifts[i, d] = ratio.bit_length() - 1
                continue
            cell_t = torch.tensor([cell], device=device)
            idx = reference_indices(xyz[:, d:d + 1], cell_t, range_min[d:d + 1], range_max[d:d + 1])[:, 0]
            offset = idx - torch.div(point_coors[:, d + 1].long() * cell, cells[d], rounding_mode='floor')
            outside = outside | ((offset < -1) | (offset > 2)).any()
            code = code | ((offset + 1) << (2 * len(per_point)))
            per_point[i, d] = idx
    if bool(outside):  # one host sync for every pair
        raise RuntimeError('reference_transfers: grid offset outside -1..2 (a point far outside the grid?)')
    bits = 2 * len(per_point)
    atom_keys, point2atom = torch.unique((point2voxel << bits) | code, return_inverse=True)
    atom_voxel = atom_keys >> bits
    atom_points = group_counts(point2atom, len(atom_keys), xyz.dtype)
    atom_coors = coors[atom_voxel].long()
    atom_first = first_index(point2atom, len(atom_keys))  # one point of each atom
    atom_batch = atom_coors[:, 0]
    atom_idx = [torch.stack([atom_coors[:, d + 1] >> shifts[i, d] if (i, d) in shifts
                             else per_point[i, d][atom_first] for d in range(3)], 1) for i in range(len(scales))]
    transfers, atom2in, in_coors, in_cells, atom2outs = [], atom_voxel, coors, cells, []
    leaf_key, num_leaf_key = torch.zeros_like(atom_voxel), 1
    for i in range(len(scales)):
        out_coors, atom2out = unique_rows(torch.cat([atom_batch[:, None], atom_idx[i]], 1), cells_s[i])
        pair_in, pair_out, atom2pair = _unique_pairs(atom2in, atom2out, len(out_coors))
        pair_points = atom_points.new_zeros(len(pair_in)).index_add_(0, atom2pair, atom_points)
        transfers.append(StageTransfer(out_coors.to(coors.dtype), pair_in, pair_out, pair_points,
                                       *_context(in_coors, in_cells), None))
        # leaves: the atoms' distinct output voxels over all stages, one packed key (made compact if it would
        # overflow int64)
        if num_leaf_key * len(out_coors) >= 2 ** 62:
            distinct, leaf_key = torch.unique(leaf_key, return_inverse=True)
            num_leaf_key = len(distinct)
        leaf_key, num_leaf_key = leaf_key * len(out_coors) + atom2out, num_leaf_key * len(out_coors)
        atom2outs.append(atom2out)
        atom2in, in_coors, in_cells = atom2out, out_coors, cells_s[i]
    leaves, atom2leaf = torch.unique(leaf_key, return_inverse=True)
    atom_of_leaf = first_index(atom2leaf, len(leaves))
    for transfer, atom2out in zip(transfers, atom2outs):
        transfer.out_of_leaf = atom2out[atom_of_leaf]
    return transfers, atom2leaf[point2atom]
