"""CUDA's float16 AMP, as the plugin's ``ELiTeAmpOptimWrapper`` (mmengine's ``AmpOptimWrapper`` with the plugin's
step) runs it, on the CPU: the GPU path's proxy in CI.

torch's CPU autocast in float16 applies CUDA AMP's casting rules to the ops the models use (matrix products in
float16, in-place ops not cast), and ``torch.amp.GradScaler('cpu')`` is the same dynamic loss scaler. mmengine's
wrapper refuses the CPU (and its CPU autocast only takes bfloat16), so this subclass keeps its ``backward`` /
``step`` / ``state_dict`` and swaps only the CUDA-specific parts.
"""
import warnings
from contextlib import contextmanager
from unittest import mock

import torch
from mmengine.optim import OptimWrapper
from mmengine.optim.optimizer import amp_optimizer_wrapper
from mmengine.registry import OPTIM_WRAPPERS

from elite.engine.optim_wrapper import ELiTeAmpOptimWrapper


@OPTIM_WRAPPERS.register_module(force=True)
class CPUFloat16AmpOptimWrapper(ELiTeAmpOptimWrapper):
    """``ELiTeAmpOptimWrapper(loss_scale='dynamic', dtype=float16)`` with ``torch.autocast('cpu')``."""

    def __init__(self, loss_scale='dynamic', **kwargs) -> None:
        # AmpOptimWrapper.__init__ asserts a GPU, and builds CUDA's grad scaler (which disables itself here)
        with mock.patch.object(amp_optimizer_wrapper, 'is_cuda_available', lambda: True), warnings.catch_warnings():
            warnings.filterwarnings('ignore', message='.*CUDA is not available.*')
            super().__init__(**kwargs)
        scaler_args = loss_scale if isinstance(loss_scale, dict) else {}
        self.loss_scaler = torch.amp.GradScaler('cpu', **scaler_args)
        self.cast_dtype = torch.float16

    @contextmanager
    def optim_context(self, model):
        with OptimWrapper.optim_context(self, model), torch.autocast('cpu', dtype=torch.float16):
            yield
