"""The index work of the exported student, in numpy: voxels, stage grids and transfers, kernel maps.

An exported student (``tools/export_student.py --format onnx``) is a graph of gathers, matrix products and
scatter-adds that takes these arrays as inputs. They are what the training stack computes in
``elite.models.data_preprocessor`` (voxelisation), ``elite.models.backbones.stage_grids.reference_transfers`` and
``elite.models.sparse.kernel_map`` (a test checks that both give the same arrays, in the same order); here they
need nothing but numpy. ``grid``: the voxel grid the model was trained with (``point_cloud_range``,
``voxel_size``, ``spatial_shape``, the stage ``scales``), stored in the exported model.
"""
from typing import Dict, List, Sequence, Tuple

import numpy as np

OFFSETS = [(dx, dy, dz) for dx in (-1, 0, 1) for dy in (-1, 0, 1) for dz in (-1, 0, 1)]
NON_CENTRE = [o for o in OFFSETS if o != (0, 0, 0)]


def reference_indices(values: np.ndarray, cells: int, low: np.float32, high: np.float32) -> np.ndarray:
    """2DPASS's quantisation of one axis, ``int(cells * (v - low) / (high - low))`` in float32, clamped into the
    grid (points outside the range keep a border voxel)."""
    idx = (np.float32(cells) * (values - low) / (high - low)).astype(np.int64)
    return np.minimum(np.maximum(idx, 0), cells - 1)


def unique_inverse(keys: np.ndarray) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted unique ``keys``, each key's group and each group's first index."""
    unique, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    return unique, inverse.reshape(-1), first


def unique_rows(rows: np.ndarray, bounds: Sequence[int]) -> Tuple[np.ndarray, np.ndarray]:
    """Unique non-negative integer rows (N, D) in lexicographic order and the inverse; ``bounds``: exclusive bounds
    of the columns after the first."""
    key = rows[:, 0].astype(np.int64)
    for d, bound in enumerate(bounds, 1):
        key = key * bound + rows[:, d]
    unique, inverse, _ = unique_inverse(key)
    columns = []
    for bound in reversed(bounds):
        columns.append(unique % bound)
        unique = unique // bound
    columns.append(unique)
    return np.stack(columns[::-1], 1), inverse


def voxelise(xyz: np.ndarray, grid: Dict) -> Dict[str, np.ndarray]:
    """Each point's voxel (N, 4) [batch 0, x, y, z], the voxels (V, 4) and the point -> voxel map."""
    low, high = np.float32(grid['point_cloud_range'][:3]), np.float32(grid['point_cloud_range'][3:])
    cells = [int(c) for c in grid['spatial_shape']]
    point_coors = np.zeros((len(xyz), 4), dtype=np.int64)
    for d in range(3):
        point_coors[:, d + 1] = reference_indices(xyz[:, d], cells[d], low[d], high[d])
    coors, point2voxel = unique_rows(point_coors, cells)
    return dict(point_coors=point_coors, coors=coors, point2voxel=point2voxel)


def _context(coors: np.ndarray, cells: Sequence[int]) -> np.ndarray:
    """Each voxel's context group, ``coors // 2`` (2DPASS's point-branch downsampling)."""
    half = np.concatenate([coors[:, :1], coors[:, 1:] // 2], 1)
    return unique_rows(half, [-(-c // 2) for c in cells])[1]


def reference_transfers(xyz: np.ndarray, point_coors: np.ndarray, point2voxel: np.ndarray, coors: np.ndarray,
                        grid: Dict) -> Tuple[List[Dict[str, np.ndarray]], np.ndarray]:
    """Each stage's transfer (its output voxels, the (input, output) voxel pairs that hold points with their point
    counts, the context groups of its input voxels, each leaf's output voxel) and the point -> leaf map.

    The points are first grouped into *atoms*, the points that share their voxel at every scale, so all later
    work is on about V rows; see ``reference_transfers`` in the training stack for the reasoning.
    """
    cells = [int(c) for c in grid['spatial_shape']]
    low, high = np.float32(grid['point_cloud_range'][:3]), np.float32(grid['point_cloud_range'][3:])
    scales = [int(s) for s in grid['scales']]
    cells_s = [[-(-c // s) for c in cells] for s in scales]
    shifts, per_point, code = {}, {}, np.zeros(len(xyz), dtype=np.int64)
    for i, row in enumerate(cells_s):
        for d, cell in enumerate(row):
            ratio = cells[d] // cell
            if cell * ratio == cells[d] and ratio & (ratio - 1) == 0:  # nested: a shift of the input voxel
                shifts[i, d] = ratio.bit_length() - 1
                continue
            idx = reference_indices(xyz[:, d], cell, low[d], high[d])
            offset = idx - point_coors[:, d + 1] * cell // cells[d]
            if len(offset) and (offset.min() < -1 or offset.max() > 2):
                raise ValueError('grid offset outside -1..2 (a point far outside the grid?)')
            code |= (offset + 1) << (2 * len(per_point))
            per_point[i, d] = idx
    bits = 2 * len(per_point)
    atom_keys, point2atom, atom_first = unique_inverse((point2voxel << bits) | code)
    atom_voxel = atom_keys >> bits
    atom_points = np.bincount(point2atom, minlength=len(atom_keys)).astype(np.float32)
    atom_coors = coors[atom_voxel]
    atom_idx = [np.stack([atom_coors[:, d + 1] >> shifts[i, d] if (i, d) in shifts else per_point[i, d][atom_first]
                          for d in range(3)], 1) for i in range(len(scales))]
    transfers, atom2in, in_coors, in_cells, atom2outs = [], atom_voxel, coors, cells, []
    leaf_key, num_leaf_key = np.zeros_like(atom_voxel), 1
    for i in range(len(scales)):
        out_coors, atom2out = unique_rows(np.concatenate([atom_coors[:, :1], atom_idx[i]], 1), cells_s[i])
        pair_keys, atom2pair, _ = unique_inverse(atom2in * len(out_coors) + atom2out)
        pair_points = np.bincount(atom2pair, weights=atom_points, minlength=len(pair_keys)).astype(np.float32)
        transfers.append(dict(out_coors=out_coors, pair_in=pair_keys // len(out_coors),
                              pair_out=pair_keys % len(out_coors), pair_points=pair_points,
                              context=_context(in_coors, in_cells)))
        if num_leaf_key * len(out_coors) >= 2 ** 62:  # keep the packed leaf key within int64
            _, leaf_key, _ = unique_inverse(leaf_key)
            num_leaf_key = int(leaf_key.max()) + 1
        leaf_key, num_leaf_key = leaf_key * len(out_coors) + atom2out, num_leaf_key * len(out_coors)
        atom2outs.append(atom2out)
        atom2in, in_coors, in_cells = atom2out, out_coors, cells_s[i]
    _, atom2leaf, atom_of_leaf = unique_inverse(leaf_key)
    for transfer, atom2out in zip(transfers, atom2outs):
        transfer['out_of_leaf'] = atom2out[atom_of_leaf]
        transfer['context_sizes'] = np.bincount(transfer['context'])
    return transfers, atom2leaf[point2atom]


def submanifold_kernel_map(coors: np.ndarray, cells: Sequence[int]) -> List[Tuple[np.ndarray, np.ndarray]]:
    """(input rows, output rows) of the active pairs of each non-centre 3 x 3 x 3 offset (in the weight's offset
    order): keys on the grid padded by one voxel, neighbours found by a sorted search."""
    sx, sy, sz = (int(c) for c in cells)
    c = coors.astype(np.int64)
    keys = ((c[:, 0] * (sx + 2) + c[:, 1] + 1) * (sy + 2) + c[:, 2] + 1) * (sz + 2) + c[:, 3] + 1
    order = np.argsort(keys, kind='stable')
    sorted_keys = keys[order]
    pairs = {}
    for dx, dy, dz in NON_CENTRE:
        if (dx, dy, dz) in pairs:
            continue
        wanted = sorted_keys + ((dx * (sy + 2) + dy) * (sz + 2) + dz)
        position = np.minimum(np.searchsorted(sorted_keys, wanted), len(keys) - 1)
        found = np.flatnonzero(sorted_keys[position] == wanted)
        in_rows, out_rows = order[position[found]], order[found]
        pairs[dx, dy, dz] = (in_rows, out_rows)
        pairs[-dx, -dy, -dz] = (out_rows, in_rows)  # the opposite offset: the same pairs, swapped
    return [pairs[o] for o in NON_CENTRE]


def student_plan(points: np.ndarray, grid: Dict) -> Dict[str, np.ndarray]:
    """Every input of the exported student for one scan (N, >= 4) float32, by name."""
    points = np.ascontiguousarray(points[:, :int(grid.get('in_channels', 4))], dtype=np.float32)
    voxels = voxelise(points[:, :3], grid)
    transfers, point2leaf = reference_transfers(points[:, :3], voxels['point_coors'], voxels['point2voxel'],
                                                voxels['coors'], grid)
    plan = dict(points=points, point_coors=voxels['point_coors'].astype(np.int32), point2voxel=voxels['point2voxel'],
                coors=voxels['coors'].astype(np.int32), point2leaf=point2leaf)
    coors, scale = voxels['coors'], 1
    for i, transfer in enumerate(transfers):
        transfer['out_coors'] = transfer['out_coors'].astype(np.int32)
        plan.update({f'stage{i}.{name}': value for name, value in transfer.items()})
        kmap = submanifold_kernel_map(coors, [-(-int(c) // scale) for c in grid['spatial_shape']])
        for j, (in_rows, out_rows) in enumerate(kmap):
            plan[f'stage{i}.kmap{j}.in'], plan[f'stage{i}.kmap{j}.out'] = in_rows, out_rows
        coors, scale = transfer['out_coors'], int(grid['scales'][i])
    return plan
