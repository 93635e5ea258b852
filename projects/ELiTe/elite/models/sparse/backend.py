"""A minimal sparse-tensor interface so the student runs on spconv, torchsparse or plain torch ops unchanged.

The student needs only: build a sparse tensor from voxel features and ``[batch, x, y, z]`` coordinates,
a 3 x 3 x 3 submanifold convolution, and reading / replacing features. Every backend stores the
convolution weight in the state dict in spconv's layout ``(out, kx, ky, kz, in)``, so a checkpoint moves
between them. ``'kernel_map'`` (:mod:`.kernel_map`) needs no library: gather, matrix product and scatter-add
over a kernel map, traceable for export. On a CPU, spconv's stream lookup and racy scatter are fixed by
:mod:`.spconv_cpu`, torchsparse 1.4.0's neighbour hash and missing backward by :mod:`.torchsparse_cpu`, when the
backend is built.

torchsparse versions: 1.4.0 (what mmdet3d 1.4's torchsparse models are written for; coordinates
``[x, y, z, batch]``, kernel maps in ``kmaps``; runs on CPU and GPU, tested here on the CPU) and >= 2.1
(coordinates ``[batch, x, y, z]``, caches in ``_caches``; GPU only: its import and kernels need CUDA, so that
path could not be run here).
"""
import contextlib
import functools
import importlib.util
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn


def float32_off_cuda(device_type: str) -> bool:
    """Whether a sparse convolution on ``device_type`` must leave autocast and compute in float32.

    spconv and torchsparse 1.4 take part in AMP through ``torch.cuda.amp.custom_fwd(cast_inputs=float16)``, which
    acts under CUDA autocast only. Under another device's autocast (CPU float16 or bfloat16) they would receive
    float16 features beside float32 weights and fail in backward; there they run in float32 instead.
    """
    return device_type != 'cuda' and torch.is_autocast_enabled(device_type)


@contextlib.contextmanager
def sparse_autocast(device_type: str):
    """Autocast switched off where :func:`float32_off_cuda` says so; otherwise unchanged."""
    with torch.autocast(device_type, enabled=False) if float32_off_cuda(device_type) else contextlib.nullcontext():
        yield


class SparseBackend:
    """Interface; see :class:`SpconvBackend` for the semantics of each method."""
    name = ''

    def subm_conv3d(self, in_channels: int, out_channels: int, indice_key: str) -> nn.Module:
        raise NotImplementedError

    def tensor(self, features: Tensor, coors: Tensor, spatial_shape: Sequence[int], batch_size: int,
               kernel_map=None):
        """A sparse tensor of ``features`` on the voxels ``coors``; ``kernel_map``: its submanifold kernel map,
        computed beforehand (an export's plan), which only the ``kernel_map`` backend accepts."""
        raise NotImplementedError

    def refuse_kernel_map(self, kernel_map) -> None:
        if kernel_map is not None:
            raise ValueError(f'a precomputed kernel map needs the kernel_map backend, not {self.name}')

    @staticmethod
    def features(x) -> Tensor:
        return x.features if hasattr(x, 'features') else x.F

    def replace_features(self, x, features: Tensor):
        raise NotImplementedError


class SpconvBackend(SparseBackend):
    """spconv 2.x: ``SubMConv3d`` with weight (out, kx, ky, kz, in), indices (N, 4) int32 [b, x, y, z]."""
    name = 'spconv'

    def __init__(self) -> None:
        from .spconv_cpu import install_spconv_cpu_fixes
        install_spconv_cpu_fixes()  # they act on CPU tensors only, also on a machine with CUDA

    def subm_conv3d(self, in_channels: int, out_channels: int, indice_key: str) -> nn.Module:
        return _spconv_subm_conv3d_class()(in_channels, out_channels, 3, padding=1, bias=False, indice_key=indice_key)

    def tensor(self, features: Tensor, coors: Tensor, spatial_shape: Sequence[int], batch_size: int,
               kernel_map=None):
        self.refuse_kernel_map(kernel_map)
        import spconv.pytorch as spconv
        return spconv.SparseConvTensor(features, coors.int(), list(spatial_shape), batch_size)

    def replace_features(self, x, features: Tensor):
        return x.replace_feature(features)


@functools.lru_cache(maxsize=None)
def _spconv_subm_conv3d_class() -> type:
    """spconv's ``SubMConv3d`` (same parameters, state dict and loading), in float32 under non-CUDA autocast
    (:func:`float32_off_cuda`); under CUDA autocast spconv casts to float16 itself."""
    import spconv.pytorch as spconv

    class SubMConv3d(spconv.SubMConv3d):
        def forward(self, x):
            device_type = x.features.device.type
            if float32_off_cuda(device_type):
                with sparse_autocast(device_type):
                    return super().forward(x.replace_feature(x.features.float()))
            return super().forward(x)
    return SubMConv3d


class TorchsparseConv3d(nn.Module):
    """torchsparse ``Conv3d`` (3 x 3 x 3, stride 1) whose parameter is stored in spconv's layout.

    torchsparse keeps the kernel as (27, in, out) with the x offset varying fastest (1.4 and 2.1 alike); the
    parameter here is (out, kx, ky, kz, in) and is rearranged at each call, so the state dict is the same as
    spconv's. ``_version = 2`` marks that layout in checkpoints, as spconv 2's modules do: mmdet3d's loading
    hook for spconv permutes the weight of any convolution saved with an older version (spconv 1's layout).

    The functional ``conv3d`` is called with the arguments torchsparse's own ``Conv3d`` module passes in each
    version (:meth:`conv3d_kwargs`). In 2.1 that includes ``training``: without it the kernel maps for the
    backward pass are not built and the first ``backward()`` fails; and ``padding`` (k - 1) // 2 of a
    submanifold convolution. Under CUDA autocast both operands are cast to the autocast dtype, as torchsparse
    1.4's ``custom_fwd(cast_inputs=half)`` does and torchsparse 2.1 does for any float16 operand; under another
    device's autocast the convolution runs in float32 (:func:`float32_off_cuda`).
    """
    _version = 2

    def __init__(self, in_channels: int, out_channels: int, version: Tuple[int, int] = (1, 4)) -> None:
        super().__init__()
        self.version = version
        self.weight = nn.Parameter(torch.empty(out_channels, 3, 3, 3, in_channels))
        nn.init.kaiming_uniform_(self.weight.view(out_channels, -1), a=5 ** 0.5)

    def conv3d_kwargs(self) -> Dict:
        """Keyword arguments of ``torchsparse.nn.functional.conv3d`` besides input and weight, as
        ``torchsparse.nn.Conv3d(in, out, 3, stride=1, bias=False)`` passes them in this version."""
        kwargs = dict(kernel_size=(3, 3, 3), bias=None, stride=(1, 1, 1), dilation=1, transposed=False)
        if self.version >= (2, 0):
            kwargs.update(padding=(1, 1, 1), config=None, generative=False, training=self.training)
        return kwargs

    def kernel(self) -> Tensor:
        """(27, in, out), offsets with x fastest: torchsparse's kernel layout."""
        return self.weight.permute(3, 2, 1, 4, 0).reshape(27, self.weight.shape[4], self.weight.shape[0])

    def forward(self, x):
        import torchsparse.nn.functional as TF
        kernel = self.kernel()
        device_type = x.F.device.type
        if torch.is_autocast_enabled(device_type):
            dtype = torch.get_autocast_dtype(device_type) if device_type == 'cuda' else torch.float32
            x, kernel = torchsparse_with_features(x, x.F.to(dtype), self.version), kernel.to(dtype)
        with sparse_autocast(device_type):
            return TF.conv3d(x, kernel.contiguous(), **self.conv3d_kwargs())


def torchsparse_with_features(x, features: Tensor, version: Tuple[int, int]):
    """A torchsparse tensor on the voxels of ``x`` (sharing its kernel-map caches) with other features."""
    import torchsparse
    if version >= (2, 0):  # 2.x also carries the grid's extent
        out = torchsparse.SparseTensor(features, x.C, x.stride, spatial_range=x.spatial_range)
        out._caches = x._caches
    else:  # the kernel maps built by the first convolution serve the others on these voxels
        out = torchsparse.SparseTensor(features, x.C, x.stride)
        out.cmaps, out.kmaps = x.cmaps, x.kmaps
    return out


class TorchsparseBackend(SparseBackend):
    """torchsparse 1.4 (coordinates [x, y, z, b]) or >= 2.1 (GPU; [b, x, y, z]); see the module docstring."""
    name = 'torchsparse'

    def __init__(self) -> None:
        import torchsparse
        self.version = tuple(int(v) for v in torchsparse.__version__.split('.')[:2])
        if self.version < (2, 0):  # the fixes act on CPU tensors only, also on a machine with CUDA
            from .torchsparse_cpu import install_torchsparse_cpu_fixes
            install_torchsparse_cpu_fixes()

    def subm_conv3d(self, in_channels: int, out_channels: int, indice_key: str) -> nn.Module:
        return TorchsparseConv3d(in_channels, out_channels, self.version)

    def tensor(self, features: Tensor, coors: Tensor, spatial_shape: Sequence[int], batch_size: int,
               kernel_map=None):
        self.refuse_kernel_map(kernel_map)
        import torchsparse
        coords = coors if self.version >= (2, 0) else coors[:, [1, 2, 3, 0]]
        return torchsparse.SparseTensor(features, coords.int().contiguous())

    def replace_features(self, x, features: Tensor):
        return torchsparse_with_features(x, features, self.version)


class KernelMapBackend(SparseBackend):
    """Plain torch ops over a kernel map (:mod:`.kernel_map`): no library, traceable, trains; any device."""
    name = 'kernel_map'

    def subm_conv3d(self, in_channels: int, out_channels: int, indice_key: str) -> nn.Module:
        from .kernel_map import KernelMapConv3d
        return KernelMapConv3d(in_channels, out_channels)

    def tensor(self, features: Tensor, coors: Tensor, spatial_shape: Sequence[int], batch_size: int,
               kernel_map=None):
        from .kernel_map import KernelMapTensor
        return KernelMapTensor(features, coors, spatial_shape, batch_size,
                               cache=None if kernel_map is None else {'subm3': kernel_map})

    def replace_features(self, x, features: Tensor):
        return x.replace_feature(features)


_BACKENDS = {'spconv': SpconvBackend, 'torchsparse': TorchsparseBackend, 'kernel_map': KernelMapBackend}
LIBRARY_FREE = ('kernel_map',)


def available_backends() -> List[str]:
    """Importable backends, in order of preference for ``'auto'`` on this device: on a GPU torchsparse first
    (the paper's), on a CPU spconv first (the measured and faster CPU path; torchsparse >= 2 cannot run there)."""
    order = ('torchsparse', 'spconv') if torch.cuda.is_available() else ('spconv', 'torchsparse')
    return [name for name in order if importlib.util.find_spec(name) is not None]


def get_sparse_backend(name: str = 'auto') -> SparseBackend:
    """``'spconv'``, ``'torchsparse'``, ``'kernel_map'`` (plain torch ops) or ``'auto'`` (the first of
    :func:`available_backends`)."""
    if name == 'auto':
        found = available_backends()
        if not found:
            raise ImportError('no sparse convolution backend: install spconv (pip install spconv==2.3.8, or '
                              'spconv-cuXXX for your CUDA) or torchsparse')
        name = found[0]
    if name not in _BACKENDS:
        raise ValueError(f'unknown sparse backend {name!r}; choose one of {sorted(_BACKENDS)} or "auto"')
    if name not in LIBRARY_FREE and importlib.util.find_spec(name) is None:
        raise ImportError(f'sparse backend {name!r} is not installed; install it or set sparse_backend="auto"')
    return _BACKENDS[name]()
