"""Small tensor helpers shared by the models."""
from typing import Optional, Sequence

import torch
from torch import Tensor

from .export_ops import index_add_rows


def scatter_mean(src: Tensor, index: Tensor, num: int, weight: Optional[Tensor] = None) -> Tensor:
    """(Weighted) mean of the rows of ``src`` (N, C) grouped by ``index`` (N,) into ``num`` rows, in ``src``'s dtype.

    With ``weight`` (N,), row i counts ``weight[i]`` times. Empty groups are 0. Sums and counts are accumulated in
    float32 (or float64 for float64 rows) and cast back: under AMP, float16 sums of a coarse voxel's features
    (times its point counts) overflow 65,504, and ``index_add_`` refuses mixed dtypes.
    """
    acc_dtype = torch.promote_types(src.dtype, torch.float32)
    rows = src.to(acc_dtype)
    if weight is None:
        total = group_counts(index, num, acc_dtype)
    else:
        weight = weight.to(acc_dtype)
        rows = rows * weight[:, None]
        total = index_add_rows(rows.new_zeros(num), index, weight)
    out = index_add_rows(rows.new_zeros((num, src.shape[1])), index, rows)
    return (out / total.clamp_(min=1e-12)[:, None]).to(src.dtype)


def group_counts(index: Tensor, num: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(num,) how many entries of ``index`` (N,) fall in each group, in ``dtype``: ``bincount`` without its
    host sync on a GPU (it reads the index maximum to size its output)."""
    return index_add_rows(torch.zeros(num, dtype=dtype, device=index.device), index,
                          torch.ones(index.shape[0], dtype=dtype, device=index.device))


def unique_rows(rows: Tensor, bounds: Optional[Sequence[int]] = None) -> tuple:
    """``torch.unique(rows, dim=0, return_inverse=True)`` for non-negative integer rows (N, D), much faster.

    Rows are packed into one int64 key (mixed radix of the column bounds, so the order stays
    lexicographic) and made unique in 1-D; ``unique(dim=0)`` compares rows one by one on the CPU.
    ``bounds``: exclusive upper bounds of the columns after the first (the first, most significant, needs none)
    when the caller knows them (a grid), else the column maxima are read (two host syncs on a GPU).
    Returns (unique rows (V, D) in lexicographic order, inverse (N,) long).
    """
    if len(rows) == 0:
        return rows.new_zeros((0, rows.shape[1])), rows.new_zeros((0,), dtype=torch.long)
    rows64 = rows.long()
    if bounds is not None:
        radix = [None, *bounds]
    else:
        if (rows64 < 0).any():
            raise ValueError('unique_rows needs non-negative coordinates')
        radix = rows64.amax(dim=0) + 1
        if float(torch.prod(radix.double())) >= 2 ** 63:
            return torch.unique(rows, dim=0, return_inverse=True)
    key = rows64[:, 0]
    for d in range(1, rows.shape[1]):
        key = key * radix[d] + rows64[:, d]
    unique_keys, inverse = torch.unique(key, return_inverse=True)
    columns = []
    for d in range(rows.shape[1] - 1, 0, -1):
        columns.append(unique_keys % radix[d])
        unique_keys = torch.div(unique_keys, radix[d], rounding_mode='floor')
    columns.append(unique_keys)
    return torch.stack(columns[::-1], dim=1).to(rows.dtype), inverse


def reference_indices(xyz: Tensor, cells: Tensor, range_min: Tensor, range_max: Tensor) -> Tensor:
    """2DPASS's ``sparse_quantize``, ``long(cells * (p - min) / (max - min))`` in the points' dtype, then clamped
    into the grid (out-of-range points, which the reference removes before training, keep a border voxel).

    xyz (N, 3), cells / range_min / range_max (3,) -> (N, 3) long.
    """
    cells_f = cells.to(xyz.dtype)
    idx = (cells_f * (xyz - range_min) / (range_max - range_min)).long()
    return torch.minimum(idx.clamp_(min=0), cells.to(idx.device) - 1)


def majority_vote(labels: Tensor, point2voxel: Tensor, num_voxels: int) -> Tensor:
    """Each voxel's most frequent point label (N,) -> (V,), as the reference's ``voxelize_labels``; every label
    value votes, the ignore label included (a voxel won by it is ignored). Ties go to the lowest label."""
    num_labels = int(labels.max()) + 1 if len(labels) else 1
    counts = torch.bincount(point2voxel * num_labels + labels.long(), minlength=num_voxels * num_labels)
    return counts.view(num_voxels, num_labels).argmax(dim=1)


def first_index(inverse: Tensor, num: int) -> Tensor:
    """(num,): the index of the first row of each group of ``inverse`` (N,) (N for an empty group)."""
    order = torch.arange(len(inverse), device=inverse.device)
    return torch.full((num,), len(inverse), dtype=torch.long, device=inverse.device).scatter_reduce_(
        0, inverse, order, reduce='amin')
