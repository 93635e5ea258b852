"""spconv's submanifold convolution on the CPU (with elite's stream patch) equals a dense conv3d.

float32 only: spconv 2.3.8's CPU kernels give wrong float64 results (seen here: errors of 0.1).
"""
import torch
import torch.nn.functional as F

import elite  # noqa: F401  (applies the spconv CPU patch)


def test_submanifold_conv_forward_and_backward_match_dense_conv3d():
    import spconv.pytorch as spconv
    torch.manual_seed(0)
    shape = (6, 5, 7)
    active = torch.rand(shape) < 0.4
    coords = active.nonzero().int()
    indices = torch.cat([torch.zeros(len(coords), 1, dtype=torch.int32), coords], 1)
    feats = torch.randn(len(coords), 3, requires_grad=True)
    conv = spconv.SubMConv3d(3, 4, 3, bias=False, indice_key='k')
    out = conv(spconv.SparseConvTensor(feats, indices, list(shape), 1))
    grad_out = torch.randn_like(out.features)
    (out.features * grad_out).sum().backward()

    dense_feats = feats.detach().clone().requires_grad_(True)
    grid = torch.zeros(1, 3, *shape)
    grid[0, :, coords[:, 0], coords[:, 1], coords[:, 2]] = dense_feats.T
    weight = conv.weight.detach().clone().permute(0, 4, 1, 2, 3).requires_grad_(True)  # KRSC -> OIDHW
    dense = F.conv3d(grid, weight, padding=1)[0, :, coords[:, 0], coords[:, 1], coords[:, 2]].T
    (dense * grad_out).sum().backward()

    torch.testing.assert_close(out.features, dense, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(feats.grad, dense_feats.grad, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(conv.weight.grad.permute(0, 4, 1, 2, 3), weight.grad, rtol=1e-5, atol=1e-5)


def test_submanifold_conv_is_exact_on_several_threads():
    """Regression for spconv's racy CPU scatter_add (fixed in elite.patches): 64 channels, 2 threads."""
    import spconv.pytorch as spconv
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
