"""Cross-entropy class weights ``(max_freq / freq) ** (1/3)`` from per-class point counts."""
from typing import Iterable, List, Sequence

import numpy as np


def class_weights_from_counts(counts: Sequence[int], power: float = 1 / 3) -> List[float]:
    """Weights for classes with points; a class never seen gets the largest weight (it cannot be rarer)."""
    counts = np.asarray(counts, dtype=np.float64)
    seen = counts > 0
    if not seen.any():
        raise ValueError('no labelled points: cannot compute class weights')
    weights = np.ones_like(counts)
    weights[seen] = (counts[seen].max() / counts[seen]) ** power
    weights[~seen] = weights[seen].max()
    return weights.round(4).tolist()


def count_labels(label_paths: Iterable[str], label_map: np.ndarray, num_classes: int) -> np.ndarray:
    """Per-class point counts over ``.label`` files; ``label_map`` maps raw semantic ids to 0..num_classes."""
    counts = np.zeros(num_classes + 1, dtype=np.int64)
    for path in label_paths:
        semantic = np.fromfile(path, dtype=np.uint32) & 0xFFFF
        counts += np.bincount(label_map[semantic], minlength=num_classes + 1)[:num_classes + 1]
    return counts[:num_classes]
