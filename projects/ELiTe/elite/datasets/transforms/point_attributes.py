"""Per-point values carried as extra attribute columns of the points, so that mmdet3d's transforms which
drop or reorder points (``PointSample``, ``PointsRangeFilter``, ``PointShuffle``) keep them aligned."""
from typing import Tuple

import numpy as np
from mmdet3d.structures.points import BasePoints

MAX_EXACT_VALUE = 2 ** 24  # float32 holds integers exactly up to here


def append_attribute(points: BasePoints, name: str, values: np.ndarray) -> BasePoints:
    """Points with one more column ``name`` (stored as float32)."""
    dims = dict(points.attribute_dims or {})
    if name in dims:
        raise RuntimeError(f'the points already carry {name!r}: the transform that adds it appears twice')
    dims[name] = points.tensor.shape[1]
    tensor = np.concatenate([points.tensor.numpy(), np.asarray(values, np.float32)[:, None]], axis=1)
    return type(points)(tensor, points_dim=tensor.shape[1], attribute_dims=dims)


def pop_attribute(points: BasePoints, name: str) -> Tuple[BasePoints, np.ndarray]:
    """Points without column ``name``, and that column's values."""
    dims = dict(points.attribute_dims or {})
    col = dims.pop(name)
    tensor = points.tensor
    keep = [i for i in range(tensor.shape[1]) if i != col]
    dims = {k: (v - 1 if v > col else v) for k, v in dims.items()}
    stripped = type(points)(tensor[:, keep], points_dim=len(keep), attribute_dims=dims or None)
    return stripped, tensor[:, col].numpy()
