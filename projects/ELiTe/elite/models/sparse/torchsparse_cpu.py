"""torchsparse 1.4.0 on the CPU: two fixes, without which its CPU path is wrong or cannot train.

1. ``sphash(coords, offsets)`` (the neighbour hash every sparse convolution and mmdet3d's SPVCNN point-voxel
   transfer use) hashes every point's neighbours with the batch index of *the first point*
   (``cur_coord[3] = data[3]`` in v1.4.0's ``torchsparse/backend/hash/hash_cpu.cpp``): with more than one scan
   in a batch, the convolutions of every scan but the first find no or wrong neighbours (measured here: a
   3 x 3 x 3 convolution off by 30 on a two-scan batch, exact on one scan). On the CPU it is computed here with
   torchsparse's own per-point hash of the shifted coordinates.
2. ``ConvolutionFunction.backward`` (v1.4.0's ``torchsparse/nn/functional/conv.py``) raises
   ``NotImplementedError`` for CPU tensors although the forward runs there: a subclass adds the CPU backward
   (the transpose of its gather-matmul-scatter forward) and ``conv3d`` uses it.

Both are keyed on the tensors' device: CUDA tensors keep torchsparse's own kernels, CPU tensors get the fixes also
on a machine with CUDA. Installed by the parts that run torchsparse (:class:`~elite.models.sparse.backend.
TorchsparseBackend`, ``PointImageDataPreprocessor`` for mmdet3d's torchsparse models), never on import;
torchsparse >= 2 is left alone.
"""
import torch

_MARK = '_elite_cpu_backward'


def _cpu_backward(ctx, grad_output: torch.Tensor):
    input, weight, nbmaps, nbsizes, transposed = ctx.for_backwards
    grad_input = torch.zeros_like(input)
    grad_weight = torch.zeros_like(weight)
    grad_output = grad_output.contiguous()
    start = 0
    for k, size in enumerate(nbsizes.tolist()):
        in_map = nbmaps[start:start + size, 0].long()
        out_map = nbmaps[start:start + size, 1].long()
        start += size
        if transposed:
            in_map, out_map = out_map, in_map
        grad_out_k = grad_output[out_map]
        grad_input.index_add_(0, in_map, grad_out_k @ weight[k].t())
        grad_weight[k] = input[in_map].t() @ grad_out_k
    return grad_input, grad_weight, None, None, None, None


def install_torchsparse_cpu_fixes() -> bool:
    """Apply both fixes to torchsparse 1.x (idempotent). Returns whether torchsparse 1.x is there (and fixed)."""
    try:
        import torchsparse
        import torchsparse.backend
        import torchsparse.nn.functional as functional
        import torchsparse.nn.functional.conv as conv
    except ImportError:
        return False
    if not torchsparse.__version__.startswith('1.'):
        return False
    if getattr(conv.ConvolutionFunction, _MARK, False):
        return True
    sphash = functional.sphash

    def sphash_with_per_point_batch(coords: torch.Tensor, offsets: torch.Tensor = None) -> torch.Tensor:
        if offsets is None or coords.device.type != 'cpu':
            return sphash(coords, offsets)
        coords = coords.contiguous()
        hashes = []
        for offset in offsets.tolist():
            shifted = coords.clone()
            shifted[:, :3] += shifted.new_tensor(offset)
            hashes.append(torchsparse.backend.hash_cpu(shifted))
        return torch.stack(hashes) if hashes else coords.new_zeros((0, len(coords)), dtype=torch.long)

    functional.sphash = sphash_with_per_point_batch
    base = conv.ConvolutionFunction

    class ConvolutionFunctionWithCPUBackward(base):
        """torchsparse's ConvolutionFunction with the CPU backward it lacks (see the module)."""

        @staticmethod
        def backward(ctx, grad_output):
            if grad_output.device.type == 'cpu':
                return _cpu_backward(ctx, grad_output)
            return base.backward(ctx, grad_output)

    setattr(ConvolutionFunctionWithCPUBackward, _MARK, True)
    conv.ConvolutionFunction = ConvolutionFunctionWithCPUBackward
    return True
