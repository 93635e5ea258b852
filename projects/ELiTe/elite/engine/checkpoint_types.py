"""Weights-only loading of mmengine's own checkpoints under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses mmengine 0.10.7's checkpoints
(open-mmlab/mmengine#1577): besides tensors their ``message_hub`` holds mmengine's ``HistoryBuffer`` (numpy
arrays, scalars and dtypes) and its statistics methods, pickled as ``getattr(HistoryBuffer, 'mean')``. So
``--resume``, ``load_from`` and ``tools/test.py`` would fail. The plugin registers, through mmengine's own
``CheckpointLoader.register_scheme``, a local-file loader that stays weights-only and allows exactly those types
for the duration of one load (``torch.serialization.safe_globals``); ``getattr`` is allowed only as a stand-in
that returns HistoryBuffer's statistics methods and refuses anything else. A checkpoint holding any other object
is refused with torch's message naming it.
"""
import os
from typing import Any, List, Optional

import numpy as np
import torch
from mmengine.config import ConfigDict
from mmengine.logging import HistoryBuffer
from mmengine.runner.checkpoint import CheckpointLoader

_BUILTIN_STATISTICS = {'min', 'max', 'current', 'mean'}  # HistoryBuffer registers these on first use
_NUMPY_DTYPES = ('bool', 'int8', 'int16', 'int32', 'int64', 'uint8', 'uint16', 'uint32', 'uint64', 'float16',
                 'float32', 'float64')


def history_buffer_statistic(obj: Any, name: str) -> Any:
    """``getattr`` as mmengine's checkpoints use it: ``HistoryBuffer``'s statistics methods only."""
    if obj is HistoryBuffer and name in _BUILTIN_STATISTICS | set(HistoryBuffer._statistics_methods):
        return getattr(obj, name)
    raise RuntimeError(f'refused getattr({obj!r}, {name!r}) while loading a checkpoint: only HistoryBuffer '
                       'statistics are allowed')


def mmengine_checkpoint_globals() -> List[Any]:
    """The globals an mmengine checkpoint needs beyond torch's weights-only defaults."""
    multiarray = np._core.multiarray if hasattr(np, '_core') else np.core.multiarray
    allowed = [HistoryBuffer, ConfigDict, np.ndarray, np.dtype]
    allowed += [type(np.dtype(name)) for name in _NUMPY_DTYPES]  # numpy >= 1.25 pickles dtypes by their class
    for module in ('numpy._core.multiarray', 'numpy.core.multiarray'):  # numpy 2 and numpy 1 names
        allowed += [(multiarray._reconstruct, f'{module}._reconstruct'), (multiarray.scalar, f'{module}.scalar')]
    allowed += [(history_buffer_statistic, 'builtins.getattr'), (history_buffer_statistic, '__builtin__.getattr')]
    return allowed


def load_local_checkpoint(filename: str, map_location: Optional[Any] = None) -> Any:
    """mmengine's local-file loader, weights-only with :func:`mmengine_checkpoint_globals` allowed."""
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    with torch.serialization.safe_globals(mmengine_checkpoint_globals()):
        return torch.load(filename, map_location=map_location, weights_only=True)


def register_checkpoint_loader() -> None:
    """Make :func:`load_local_checkpoint` mmengine's loader for local paths (idempotent). Torch before 2.5 has no
    ``safe_globals`` and loads everything by default (``weights_only=False``), so mmengine's loader stays there."""
    if hasattr(torch.serialization, 'safe_globals'):
        CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
