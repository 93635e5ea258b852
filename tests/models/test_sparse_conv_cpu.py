"""Each backend's submanifold convolution on the CPU (with elite's fixes) equals a dense conv3d, forward and
backward, on a batch of two scans.

float32 only: spconv 2.3.8's CPU kernels give wrong float64 results (seen here: errors of 0.1). torchsparse
1.4.0's CPU neighbour hash mixes up the scans of a batch and its CPU backward is missing (both fixed in
elite.models.sparse.torchsparse_cpu): the two-scan batch and the gradients check both.
"""
import pytest
import torch
import torch.nn.functional as F
from backends import BACKENDS

from elite.models.sparse import get_sparse_backend


@pytest.mark.parametrize('backend_name', BACKENDS + ['kernel_map'])
def test_submanifold_conv_forward_and_backward_match_dense_conv3d(backend_name):
    backend = get_sparse_backend(backend_name)
    torch.manual_seed(0)
    shape = (6, 5, 7)
    coords = [(torch.rand(shape) < 0.4).nonzero().int() for _ in range(2)]  # two scans of a batch
    indices = torch.cat([torch.cat([torch.full((len(c), 1), b, dtype=torch.int32), c], 1)
                         for b, c in enumerate(coords)])
    feats = torch.randn(len(indices), 3, requires_grad=True)
    conv = backend.subm_conv3d(3, 4, 'k')
    out = backend.features(conv(backend.tensor(feats, indices, list(shape), 2)))
    grad_out = torch.randn_like(out)
    (out * grad_out).sum().backward()

    dense_feats = feats.detach().clone().requires_grad_(True)
    grid = torch.zeros(2, 3, *shape)
    b, x, y, z = indices.long().T
    grid[b, :, x, y, z] = dense_feats
    weight = conv.weight.detach().clone().permute(0, 4, 1, 2, 3).requires_grad_(True)  # KRSC -> OIDHW
    dense = F.conv3d(grid, weight, padding=1).permute(0, 2, 3, 4, 1)[b, x, y, z]
    (dense * grad_out).sum().backward()

    torch.testing.assert_close(out, dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats.grad, dense_feats.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv.weight.grad.permute(0, 4, 1, 2, 3), weight.grad, rtol=1e-5, atol=1e-5)


def test_submanifold_conv_is_exact_on_several_threads():
    """Regression for spconv's racy CPU scatter_add (fixed in elite.models.sparse.spconv_cpu): 64 channels,
    2 threads."""
    import spconv.pytorch as spconv

    from elite.models.sparse.spconv_cpu import install_spconv_cpu_fixes
    install_spconv_cpu_fixes()
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        for seed in range(5):
            torch.manual_seed(seed)
            shape = (16, 16, 16)
            coords = (torch.rand(shape) < 0.3).nonzero().int()
            indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords], 1)
            feats = torch.randn(len(coords), 64)
            conv = spconv.SubMConv3d(64, 64, 3, bias=False, indice_key='k')
            out = conv(spconv.SparseConvTensor(feats, indices, list(shape), 1)).features
            grid = torch.zeros(1, 64, *shape)
            grid[0, :, coords[:, 0], coords[:, 1], coords[:, 2]] = feats.T
            dense = F.conv3d(grid, conv.weight.detach().permute(0, 4, 1, 2, 3), padding=1)
            torch.testing.assert_close(out, dense[0, :, coords[:, 0], coords[:, 1], coords[:, 2]].T,
                                       rtol=1e-4, atol=1e-4)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize('backend_name', BACKENDS)
def test_cpu_fixes_are_installed_on_a_machine_with_cuda_too(backend_name):
    """The fixes act on CPU tensors; a CPU run on a CUDA machine needs them as much (a fresh process, where
    torch reports CUDA)."""
    import subprocess
    import sys
    check = {'spconv': 'import spconv.pytorch.ops as ops; fixed = type(ops.SpconvOps).__name__ == '
                       '"_SpconvOpsWithSerialScatterAdd"',
             'torchsparse': 'import torchsparse.nn.functional.conv as conv; '
                            'fixed = getattr(conv.ConvolutionFunction, "_elite_cpu_backward", False)'}[backend_name]
    code = ('import torch; torch.cuda.is_available = lambda: True\n'
            'from elite.models.sparse import get_sparse_backend\n'
            f'get_sparse_backend("{backend_name}")\n{check}\nprint("fixed" if fixed else "not fixed")')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert result.stdout.strip().endswith('fixed') and 'not fixed' not in result.stdout, result.stderr[-2000:]


def test_kernel_map_convolution_under_float16_autocast():
    """The library-free backend is plain torch: under autocast it computes in float16 (as a GPU would) and its
    result and gradients stay those of float32 within float16's precision."""
    backend = get_sparse_backend('kernel_map')
    torch.manual_seed(0)
    coords = (torch.rand(8, 8, 8) < 0.4).nonzero().int()
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords], 1)
    feats = torch.randn(len(indices), 16, requires_grad=True)
    conv = backend.subm_conv3d(16, 8, 'k')
    results = []
    for autocast in (False, True):
        conv.zero_grad()
        feats.grad = None
        with torch.autocast('cpu', dtype=torch.float16, enabled=autocast):
            out = backend.features(conv(backend.tensor(feats, indices, [8, 8, 8], 1)))
        assert out.dtype == (torch.float16 if autocast else torch.float32)
        out.float().pow(2).sum().backward()
        results.append((out.float().detach(), conv.weight.grad.clone(), feats.grad.clone()))
    for full, half in zip(*results):
        torch.testing.assert_close(half, full, rtol=2e-2, atol=2e-2 * float(full.abs().max()))


@pytest.mark.parametrize('backend_name', BACKENDS)
def test_a_precomputed_kernel_map_is_the_kernel_map_backends_alone(backend_name):
    """An export's kernel map reaches the tensor through the backend; the library backends refuse one, the
    kernel_map backend's convolution uses it as given."""
    from elite.models.sparse.kernel_map import submanifold_kernel_map
    coords = (torch.rand(6, 6, 6) < 0.5).nonzero().int()
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords], 1)
    feats = torch.randn(len(indices), 4)
    kernel_map = submanifold_kernel_map(indices, [6, 6, 6])
    with pytest.raises(ValueError, match='needs the kernel_map backend'):
        get_sparse_backend(backend_name).tensor(feats, indices, [6, 6, 6], 1, kernel_map=kernel_map)
    x = get_sparse_backend('kernel_map').tensor(feats, indices, [6, 6, 6], 1, kernel_map=kernel_map)
    assert x.submanifold_map() is kernel_map
