"""The one tensor op of the student whose ONNX form torch cannot write by itself.

:func:`index_add_rows` is ``out.index_add_(0, index, rows)``, with repeated indices (every average over points)
or without (a sparse convolution's offset). torch.onnx refuses ``index_add_`` where indices may repeat, and its
``scatter_add`` becomes ONNX ``ScatterElements``, which onnxruntime runs element by element (40 times slower
here); ONNX ``ScatterND`` with ``reduction='add'`` adds whole rows. onnxruntime (1.32) spreads a ScatterND's
updates over its intra-op threads without guarding repeated rows, so its sums are wrong on more than one
thread: the deployed session (``elite_deploy.onnx_student``) gives each op one thread.

Outside an ONNX export it is the plain torch op (autograd, any device).
"""
import torch
from torch import Tensor


class _IndexAddRows(torch.autograd.Function):
    @staticmethod
    def forward(ctx, out: Tensor, index: Tensor, rows: Tensor) -> Tensor:
        return out.index_add(0, index, rows)

    @staticmethod
    def symbolic(g, out, index, rows):
        axes = g.op('Constant', value_t=torch.tensor([1], dtype=torch.long))
        return g.op('ScatterND', out, g.op('Unsqueeze', index, axes), rows, reduction_s='add')


def index_add_rows(out: Tensor, index: Tensor, rows: Tensor) -> Tensor:
    """``out.index_add_(0, index, rows)`` (in place, returned); ONNX ``ScatterND(reduction='add')`` in an export."""
    if torch.onnx.is_in_onnx_export():
        return _IndexAddRows.apply(out, index, rows)
    return out.index_add_(0, index, rows)
