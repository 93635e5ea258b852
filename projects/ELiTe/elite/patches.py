"""Every patch this plugin applies to third-party code, in one place, each with the reason.

Applied once when ``elite`` is imported. Each patch is idempotent and leaves documented behaviour alone.
"""
import numpy as np
import torch
from mmdet3d.datasets.transforms import RandomFlip3D

from .datasets.transforms.image_label import IMAGE_LABEL

_PATCHED_ATTR = '_elite_patched'


def patch_random_flip3d_keeps_correspondence() -> None:
    """mmdet3d 1.4.0 ``RandomFlip3D`` flips ``results['img']`` whenever an image is present, even with
    ``sync_2d=False`` (its 2D parent runs unconditionally), which would break the point-to-pixel
    correspondence. After the patch, ``sync_2d=False`` leaves the image alone (a pure point-cloud flip), and
    with ``sync_2d=True`` a horizontal image flip also mirrors ``img_indices`` and the image label.
    """
    if getattr(RandomFlip3D.transform, _PATCHED_ATTR, False):
        return
    original = RandomFlip3D.transform

    def transform(self: RandomFlip3D, results: dict) -> dict:
        if 'img' in results and not self.sync_2d:
            img = results.pop('img')
            try:
                return original(self, results)
            finally:
                results['img'] = img
        results = original(self, results)
        if ('img' in results and results.get('flip') and results.get('flip_direction') == 'horizontal'
                and 'img_indices' in results):
            indices = np.array(results['img_indices'], copy=True)
            indices[:, 1] = results['img'].shape[1] - 1 - indices[:, 1]
            results['img_indices'] = indices
            if IMAGE_LABEL in results:
                results[IMAGE_LABEL] = np.ascontiguousarray(results[IMAGE_LABEL][:, ::-1])
        return results

    setattr(transform, _PATCHED_ATTR, True)
    transform.__doc__ = original.__doc__
    RandomFlip3D.transform = transform


def patch_spconv_cpu_stream() -> None:
    """spconv 2.3.8's backward (and its hash table) asks ``torch.cuda.current_stream()`` unconditionally, which
    raises without a GPU. Report the default stream 0 when CUDA is unavailable; on a GPU nothing changes.
    The name is imported by value into ``ops`` and ``hash``, so it is replaced there too.
    """
    import spconv.pytorch.cppcore as cppcore
    import spconv.pytorch.hash as spconv_hash
    import spconv.pytorch.ops as ops
    if getattr(cppcore.get_current_stream, _PATCHED_ATTR, False):
        return
    original = cppcore.get_current_stream

    def get_current_stream() -> int:
        return original() if torch.cuda.is_available() else 0

    setattr(get_current_stream, _PATCHED_ATTR, True)
    for module in (cppcore, ops, spconv_hash):
        module.get_current_stream = get_current_stream


class _SpconvOpsWithSerialScatterAdd:
    """spconv's ``SpconvOps`` whose CPU ``scatter_add`` runs on one thread (see below); the rest is unchanged."""

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


def patch_spconv_cpu_scatter_add() -> None:
    """spconv 2.3.8's CPU ``scatter_add`` races when torch runs more than one thread: a 64-channel
    submanifold convolution on 2 threads gave wrong rows in every one of 30 trials here (forward and
    backward use it). Running that one kernel on a single thread makes the results exact again.
    """
    import spconv.pytorch.ops as ops
    if not isinstance(ops.SpconvOps, _SpconvOpsWithSerialScatterAdd):
        ops.SpconvOps = _SpconvOpsWithSerialScatterAdd(ops.SpconvOps)


class _TorchWithFullCheckpointLoad:
    """``torch`` as seen by mmengine's checkpoint module, with ``load`` defaulting to ``weights_only=False``."""

    def __getattr__(self, name: str):
        return getattr(torch, name)

    @staticmethod
    def load(*args, **kwargs):
        kwargs.setdefault('weights_only', False)
        return torch.load(*args, **kwargs)


def patch_mmengine_checkpoint_load() -> None:
    """torch >= 2.6 loads with ``weights_only=True`` by default, which refuses mmengine 0.10.7's own
    checkpoints (they hold its ``ConfigDict`` and message-hub state), so resuming and ``load_from`` fail.
    mmengine's checkpoint loader gets the pre-2.6 behaviour back; as before, load only checkpoints you trust.
    """
    import mmengine.runner.checkpoint as checkpoint
    if not isinstance(checkpoint.torch, _TorchWithFullCheckpointLoad):
        checkpoint.torch = _TorchWithFullCheckpointLoad()


def apply_all() -> None:
    patch_random_flip3d_keeps_correspondence()
    patch_spconv_cpu_stream()
    patch_spconv_cpu_scatter_add()
    patch_mmengine_checkpoint_load()
