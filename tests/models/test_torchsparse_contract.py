"""The student's torchsparse convolution calls torchsparse's functional ``conv3d`` exactly as torchsparse's own
``Conv3d`` module does, in 1.4 and in 2.1 (which cannot run on a CPU: its import and kernels need CUDA, so its
call contract is checked against its signature here).

Read from mit-han-lab/torchsparse: v1.4.0 ``torchsparse/nn/modules/conv.py`` passes ``kernel_size, bias, stride,
dilation, transposed``; 2.1.0 (commit afa2e3b, "Release the source code of TorchSparse v2.1") also ``padding``
(``(k - 1) // 2`` per axis for an odd kernel at stride 1), ``generative``, ``config`` and ``training=self.training``,
whose default False builds no kernel maps for the backward pass. Both keep the kernel as (volume, in, out), the x
offset varying fastest.
"""
import inspect
import sys
import types

import pytest
import torch

from elite.models.sparse.backend import TorchsparseBackend


def conv3d_v2_1(input, weight, kernel_size, bias=None, stride=1, padding=0, dilation=1, config=None,
                transposed=False, generative=False, training=False):
    """torchsparse 2.1.0's ``torchsparse.nn.functional.conv3d`` signature (its body needs CUDA)."""


def conv3d_v1_4(input, weight, kernel_size, bias=None, stride=1, dilation=1, transposed=False):
    """torchsparse 1.4.0's ``torchsparse.nn.functional.conv3d`` signature."""


# what torchsparse's Conv3d(in, out, kernel_size=3, stride=1, bias=False) passes besides input and weight
MODULE_ARGS = {
    (1, 4): dict(kernel_size=(3, 3, 3), bias=None, stride=(1, 1, 1), dilation=1, transposed=False),
    (2, 1): dict(kernel_size=(3, 3, 3), bias=None, stride=(1, 1, 1), padding=(1, 1, 1), dilation=1,
                 transposed=False, generative=False, config=None),
}
SIGNATURES = {(1, 4): conv3d_v1_4, (2, 1): conv3d_v2_1}


class RecordingSparseTensor:
    def __init__(self, feats, coords, stride=1, spatial_range=None):
        self.F, self.C, self.stride, self.spatial_range, self._caches = feats, coords, stride, spatial_range, {}
        self.cmaps, self.kmaps = {}, {}


@pytest.fixture
def fake_torchsparse(monkeypatch):
    """torchsparse's modules as the backend imports them, recording each functional conv3d call."""
    calls = []

    def install(version):
        signature = inspect.signature(SIGNATURES[version])

        def conv3d(*args, **kwargs):
            bound = signature.bind(*args, **kwargs)  # a TypeError here is a call torchsparse would refuse
            bound.apply_defaults()
            calls.append(dict(bound.arguments, autocast_on=torch.is_autocast_enabled('cpu')))
            return bound.arguments['input']
        package = types.ModuleType('torchsparse')
        package.__version__ = '.'.join(map(str, version)) + '.0'
        package.SparseTensor = RecordingSparseTensor
        package.nn = types.ModuleType('torchsparse.nn')
        package.nn.functional = types.ModuleType('torchsparse.nn.functional')
        package.nn.functional.conv3d = conv3d
        for name, module in (('torchsparse', package), ('torchsparse.nn', package.nn),
                             ('torchsparse.nn.functional', package.nn.functional)):
            monkeypatch.setitem(sys.modules, name, module)
        return calls
    return install


def fake_backend(version):
    """The backend on the fake modules, without installing 1.4's CPU fixes (they patch torchsparse's internals,
    which the fake does not have)."""
    backend = TorchsparseBackend.__new__(TorchsparseBackend)
    backend.version = version
    return backend


@pytest.mark.parametrize('version', [(1, 4), (2, 1)])
def test_conv3d_is_called_as_torchsparse_conv3d_calls_it(fake_torchsparse, version):
    calls = fake_torchsparse(version)
    backend = fake_backend(version)
    conv = backend.subm_conv3d(5, 7, 'k')
    features, coors = torch.randn(4, 5), torch.tensor([[0, 1, 2, 3], [0, 1, 2, 4], [1, 0, 0, 0], [1, 5, 5, 5]])
    x = backend.tensor(features, coors, (10, 10, 10), 2)
    # coordinates as each version orders them: 2.x [batch, x, y, z], 1.4 [x, y, z, batch]; int32
    expected_coords = coors if version >= (2, 0) else coors[:, [1, 2, 3, 0]]
    assert x.C.dtype == torch.int32 and torch.equal(x.C, expected_coords.int())
    for training in (True, False):
        conv.train(training)
        conv(x)
        call = calls[-1]
        expected = dict(MODULE_ARGS[version], **({'training': training} if version >= (2, 0) else {}))
        assert {k: v for k, v in call.items() if k not in ('input', 'weight', 'autocast_on')} == expected
    kernel = calls[-1]['weight']
    assert kernel.shape == (27, 5, 7)
    for dx, dy, dz in ((-1, 0, 1), (1, 1, -1), (0, 0, 0)):  # x fastest: index (dx+1) + 3 (dy+1) + 9 (dz+1)
        k = (dx + 1) + 3 * (dy + 1) + 9 * (dz + 1)
        torch.testing.assert_close(kernel[k], conv.weight[:, dx + 1, dy + 1, dz + 1, :].t())


def test_under_cpu_autocast_the_convolution_runs_in_float32(fake_torchsparse):
    """torchsparse takes part in AMP on CUDA only (1.4: ``torch.cuda.amp.custom_fwd``); under CPU autocast it would
    get float16 features beside a float32 kernel, so there it runs in float32 with autocast off. (The CUDA cast is
    checked by tools/gpu_acceptance.py.)"""
    calls = fake_torchsparse((2, 1))
    conv = fake_backend((2, 1)).subm_conv3d(5, 7, 'k')
    x = fake_backend((2, 1)).tensor(torch.randn(3, 5).half(), torch.zeros(3, 4, dtype=torch.long), (4, 4, 4), 1)
    with torch.autocast('cpu', dtype=torch.float16):
        conv(x)
    assert calls[-1]['input'].F.dtype == calls[-1]['weight'].dtype == torch.float32
    assert not calls[-1]['autocast_on']
    assert x.F.dtype == torch.float16  # the caller's tensor is left as it was
