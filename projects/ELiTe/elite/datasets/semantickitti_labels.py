"""SemanticKITTI label conventions in one place: raw ids <-> mmdet3d's 19 train ids (19 = ignored).

``LABELS_MAP`` is mmdet3d's ``labels_map`` (``mmdet3d::_base_/datasets/semantickitti.py``, copied so that
tools need no config; a test checks they agree). It is many-to-one (car 10 and moving-car 252 both become
0; bus 13, on-rails 16, other-vehicle 20 and four moving classes all become 4), so its inverse is not
defined by it: ``LEARNING_MAP_INV`` is the official ``learning_map_inv`` of ``semantic-kitti.yaml``
shifted to mmdet3d's numbering (official train id ``c + 1`` is mmdet3d's ``c``), one canonical raw id per
class, which is what the benchmark server expects in submissions.

The reference code (2DPASS / ELiTe) trains on ``learning_map`` ids instead: 0 = unlabelled, ``c + 1`` = mmdet3d's
class ``c``. SAM-PLG works, and its pseudo-label PNGs are written, in those ids (:func:`raw_to_learning`,
:func:`learning_to_train`).

``CLASS_NAMES`` and ``PALETTE`` are mmdet3d's own, so metric keys match ``SegMetric``'s. Note mmdet3d's
spelling: class 4 is called ``'bus'`` but is other-vehicle (raw 20), and ``'trunck'``, ``'terrian'``.
"""
from typing import Dict, Mapping

import numpy as np
from mmdet3d.datasets import SemanticKittiDataset

CLASS_NAMES = tuple(SemanticKittiDataset.METAINFO['classes'])
PALETTE = tuple(tuple(c) for c in SemanticKittiDataset.METAINFO['palette'])
IGNORE_INDEX = 19

LABELS_MAP: Dict[int, int] = {
    0: 19, 1: 19,  # unlabeled, outlier
    10: 0, 11: 1, 13: 4, 15: 2, 16: 4, 18: 3, 20: 4,  # car, bicycle, bus, motorcycle, on-rails, truck, other-vehicle
    30: 5, 31: 6, 32: 7,  # person, bicyclist, motorcyclist
    40: 8, 44: 9, 48: 10, 49: 11,  # road, parking, sidewalk, other-ground
    50: 12, 51: 13, 52: 19,  # building, fence, other-structure
    60: 8,  # lane-marking
    70: 14, 71: 15, 72: 16, 80: 17, 81: 18,  # vegetation, trunk, terrain, pole, traffic-sign
    99: 19,  # other-object
    252: 0, 253: 6, 254: 5, 255: 7, 256: 4, 257: 4, 258: 3, 259: 4,  # moving-*
}

LEARNING_MAP_INV: Dict[int, int] = {
    0: 10, 1: 11, 2: 15, 3: 18, 4: 20, 5: 30, 6: 31, 7: 32, 8: 40, 9: 44,
    10: 48, 11: 49, 12: 50, 13: 51, 14: 70, 15: 71, 16: 72, 17: 80, 18: 81,
}


def _lookup(ids: np.ndarray, mapping: Mapping[int, int], dtype: type, what: str, source: str) -> np.ndarray:
    """Map ``ids`` through ``mapping`` with a table; unknown ids raise a ValueError naming ``source``."""
    ids = np.asarray(ids).astype(np.int64, copy=False)
    table = np.zeros(max(mapping) + 1, dtype=dtype)
    known = np.zeros(len(table), dtype=bool)
    for key, value in mapping.items():
        table[key] = value
        known[key] = True
    inside = (ids >= 0) & (ids < len(table))
    valid = inside.copy()
    valid[inside] = known[ids[inside]]
    if not valid.all():
        bad = np.unique(ids[~valid])
        raise ValueError(f'{source or "labels"}: {what} {bad[:10].tolist()}{" ..." if len(bad) > 10 else ""} '
                         f'not in the map (known: {sorted(mapping)})')
    return table[ids]


def raw_to_train(raw: np.ndarray, labels_map: Mapping[int, int] = LABELS_MAP, source: str = '') -> np.ndarray:
    """Raw SemanticKITTI semantic ids (low 16 bits of ``.label``) -> train ids 0..18, 19 = ignored (int64)."""
    return _lookup(raw, labels_map, np.int64, 'raw ids', source)


def train_to_raw(train: np.ndarray, learning_map_inv: Mapping[int, int] = LEARNING_MAP_INV,
                 source: str = '') -> np.ndarray:
    """Train ids -> canonical raw ids (uint32), as written in submission ``.label`` files."""
    return _lookup(train, learning_map_inv, np.uint32, 'class ids', source)


def raw_to_learning(raw: np.ndarray, labels_map: Mapping[int, int] = LABELS_MAP, source: str = '') -> np.ndarray:
    """Raw ids -> the reference's ``learning_map`` ids (int64): 0 = unlabelled, ``c + 1`` = train id ``c``."""
    train = raw_to_train(raw, labels_map, source)
    return np.where(train == IGNORE_INDEX, 0, train + 1)


def learning_to_train(learning: np.ndarray, source: str = '') -> np.ndarray:
    """``learning_map`` ids (0 = unlabelled, 1..19) -> train ids 0..18, 19 = ignored (int64)."""
    learning = np.asarray(learning).astype(np.int64, copy=False)
    if learning.size and (learning.min() < 0 or learning.max() > IGNORE_INDEX):
        bad = np.unique(learning[(learning < 0) | (learning > IGNORE_INDEX)])
        raise ValueError(f'{source or "labels"}: ids {bad[:10].tolist()} are not learning_map ids (0 = unlabelled, '
                         f'1..{IGNORE_INDEX})')
    return np.where(learning == 0, IGNORE_INDEX, learning - 1)
