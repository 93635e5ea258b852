"""spconv 2.3.8 on the CPU: two fixes, applied by the parts that run spconv, never on import.

1. Its backward (and its hash table) asks ``torch.cuda.current_stream()`` unconditionally, which raises without
   a GPU (``spconv/pytorch/cppcore.py`` ``get_current_stream``, imported by value into ``ops`` and ``hash``):
   the default stream 0 is reported when CUDA is unavailable; on a GPU nothing changes.
2. Its CPU ``scatter_add`` races when torch runs more than one thread: a 64-channel submanifold convolution on
   2 threads gave wrong rows in every one of 30 trials here (forward and backward use it). That one kernel
   runs on a single thread (switching costs little, measured).

Both are keyed on the tensors' device, not on the machine: a CPU run on a CUDA machine needs fix 2 as much as
one without a GPU, and CUDA tensors never reach either. So they are installed whether or not CUDA is there, by
:class:`~elite.models.sparse.backend.SpconvBackend`, ``MinkUNetStageFeatures`` and ``PointImageDataPreprocessor``
(for mmdet3d's spconv models).
"""
import torch

_MARK = '_elite_cpu_fix'


class _SpconvOpsWithSerialScatterAdd:
    """spconv's ``SpconvOps`` whose CPU ``scatter_add`` runs on one thread; the rest is unchanged."""

    def __init__(self, ops) -> None:
        self._ops = ops

    def __getattr__(self, name: str):
        return getattr(self._ops, name)

    def scatter_add_cpu(self, *args):
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            return self._ops.scatter_add_cpu(*args)
        finally:
            torch.set_num_threads(threads)


def install_spconv_cpu_fixes() -> bool:
    """Apply both fixes (idempotent; they act on CPU tensors only). Returns whether spconv is there."""
    try:
        import spconv.pytorch.cppcore as cppcore
        import spconv.pytorch.hash as spconv_hash
        import spconv.pytorch.ops as ops
    except ImportError:
        return False
    if getattr(cppcore.get_current_stream, _MARK, False):
        return True
    original = cppcore.get_current_stream

    def get_current_stream() -> int:
        return original() if torch.cuda.is_available() else 0

    setattr(get_current_stream, _MARK, True)
    for module in (cppcore, ops, spconv_hash):
        module.get_current_stream = get_current_stream
    if not isinstance(ops.SpconvOps, _SpconvOpsWithSerialScatterAdd):
        ops.SpconvOps = _SpconvOpsWithSerialScatterAdd(ops.SpconvOps)
    return True
