"""Let mmengine's checkpoint loader read mmengine's own checkpoints under torch >= 2.6.

torch >= 2.6 loads with ``weights_only=True`` by default, which refuses mmengine 0.10.7's checkpoints: their
``meta`` holds mmengine's ``ConfigDict`` and the message hub's ``HistoryBuffer`` (numpy arrays, scalars, dtypes)
(open-mmlab/mmengine#1577), so ``--resume`` and ``load_from`` fail. An allow-list with
``torch.serialization.add_safe_globals`` was tried: those types would do, but ``HistoryBuffer`` also pickles
``builtins.getattr`` references to its statistics methods, and allowing ``getattr`` would weaken weights-only
loading for every file. So mmengine's loader (and only it) keeps the pre-2.6 default, ``weights_only=False``:
load only checkpoints you trust. Our own readers (SAM checkpoints, 2DPASS checkpoints) stay weights-only.
"""
import torch


class _TorchWithFullCheckpointLoad:
    """``torch`` as seen by mmengine's checkpoint module, with ``load`` defaulting to ``weights_only=False``."""

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def load(*args, **kwargs):
        kwargs.setdefault('weights_only', False)
        return torch.load(*args, **kwargs)


def allow_mmengine_checkpoints() -> None:
    """Give ``mmengine.runner.checkpoint`` the loading above (idempotent)."""
    import mmengine.runner.checkpoint as checkpoint
    if not isinstance(checkpoint.torch, _TorchWithFullCheckpointLoad):
        checkpoint.torch = _TorchWithFullCheckpointLoad()
