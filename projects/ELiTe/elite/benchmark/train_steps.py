"""A few real training steps of a config's model, as mmengine's loop runs them, with what went wrong reported.

Used by the AMP checks (CPU float16 autocast in CI, CUDA AMP in ``tools/gpu_acceptance.py``): the model, the
config's train pipeline on a dataset root, the plugin's optimiser wrapper (``ELiTeOptimWrapper`` or its AMP twin:
the non-finite check and AdaLoRA's allocation are in its step) and the hooks that hand it the teacher and report a
refused step, then ``BaseModel.train_step`` split open so that the gradients can be looked at between backward and
step: a trainable parameter without a gradient stops DDP (without ``find_unused_parameters``) on the first step.
"""
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional

import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

from ..engine.hooks import AdaLoRARankAllocationHook, NonFiniteGuardHook


@dataclass
class StepsReport:
    """What a few training steps did.

    losses: each step's logged terms; no_grad: trainable parameters without a gradient at some step;
    skipped_steps: steps the AMP grad scaler skipped (non-finite gradients); frozen_weights: parameters that had a
    gradient that should move them (:func:`moves`) at a step that was taken, yet never changed; half_precision:
    whether the student head ran in float16; loss_scale: the grad scaler's scale at the end (None without AMP);
    step_ms: wall time per step; moved: trainable parameters that changed; never_pushed: those without such a
    gradient at any step taken (e.g. a bias just before a BatchNorm, a LoRA factor whose partner starts at zero).
    """
    losses: List[Dict[str, float]] = field(default_factory=list)
    no_grad: List[str] = field(default_factory=list)
    skipped_steps: int = 0
    frozen_weights: List[str] = field(default_factory=list)
    moved: List[str] = field(default_factory=list)
    never_pushed: List[str] = field(default_factory=list)
    half_precision: bool = False
    loss_scale: Optional[float] = None
    step_ms: List[float] = field(default_factory=list)

    @property
    def finite(self) -> bool:
        return bool(self.losses) and all(torch.isfinite(torch.tensor(list(step.values()))).all()
                                         for step in self.losses)


def moves(param: torch.Tensor, lr: float) -> bool:
    """Whether an SGD step of ``lr`` on ``param``'s (finite) gradient changes it visibly: the largest update
    above a millionth of the largest weight (below that, float32 rounding may keep every weight as it was)."""
    grad = param.grad
    return bool(torch.isfinite(grad).all()) and float(grad.abs().max()) * lr > 1e-6 * max(
        float(param.detach().abs().max()), 1e-12)


class _LoopState:
    """The runner attributes the hooks read."""

    def __init__(self, model: nn.Module, optim_wrapper, max_iters: int) -> None:
        self.model, self.optim_wrapper, self.max_iters, self.iter, self.epoch = model, optim_wrapper, max_iters, 0, 0


def small_teacher(cfg: Config) -> Config:
    """The config with its SAM teacher (if any) at CPU size, vit_tiny: the same code path as vit_b."""
    if 'teacher' in cfg.model:
        cfg.model.teacher.variant = 'vit_tiny'
        cfg.model.patch_decoder.update(in_channels=64, channels=32)
    return cfg


def build_for_steps(config: str, data_root: str, sparse_backend: Optional[str] = None):
    """(config, model in train mode, train dataset on ``data_root``); ViT teachers at vit_tiny; multi-scan
    gathering from frame 0 (short test sequences); ``sparse_backend`` set on an SPVCNNLite student if given
    (None when the student has no such choice)."""
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS, MODELS
    cfg = small_teacher(Config.fromfile(config))
    if sparse_backend is not None:
        if 'sparse_backend' not in cfg.model.backbone:
            return None
        cfg.model.backbone.sparse_backend = sparse_backend
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform['type'] == 'MultiScanHardInstances':
            transform['min_frame'] = 0
    model = MODELS.build(cfg.model).train()
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=data_root))
    return cfg, model, dataset


def run_train_steps(model: nn.Module, dataset, optim_wrapper, steps: int = 3, batch_size: int = 2,
                    max_iters: int = 12) -> StepsReport:
    """``steps`` training steps on the first ``batch_size`` samples of ``dataset`` with ``optim_wrapper`` (an
    ``ELiTeOptimWrapper`` or ``ELiTeAmpOptimWrapper``) and the guard and AdaLoRA hooks, as the configs run them.
    ``max_iters``: the schedule length the hooks see (AdaLoRA's T)."""
    report = StepsReport()
    loop = _LoopState(model, optim_wrapper, max_iters)
    guard = NonFiniteGuardHook()
    for hook in (guard, AdaLoRARankAllocationHook()):
        hook.before_train(loop)
    dtypes = []
    # the head's last layer (heads may call their forward directly, which module hooks do not see)
    last_layer = [m for m in model.decode_head.modules() if isinstance(m, nn.Linear)][-1]
    handle = last_layer.register_forward_hook(lambda module, args, out: dtypes.append(out.dtype))
    trainable = {name: p for name, p in model.named_parameters() if p.requires_grad}
    before = {name: p.detach().clone() for name, p in trainable.items()}
    device = next(model.parameters()).device
    scaler = getattr(optim_wrapper, 'loss_scaler', None)
    stepped = set()  # parameters with a finite non-zero gradient at a step the optimiser took
    try:
        for step in range(steps):
            batch = pseudo_collate([dataset[i % len(dataset)] for i in range(batch_size)])
            guard.before_train_iter(loop, step, batch)
            if device.type == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
            with optim_wrapper.optim_context(model):
                data = model.data_preprocessor(batch, True)
                losses = model._run_forward(data, mode='loss')
            loss, log_vars = model.parse_losses(losses)
            optim_wrapper.backward(loss)
            report.no_grad += [name for name, p in trainable.items() if p.grad is None and name not in report.no_grad]
            scale = scaler.get_scale() if scaler is not None else None
            lr = optim_wrapper.optimizer.param_groups[0]['lr'] / (scale or 1)  # gradients are still scaled here
            pushed = {name for name, p in trainable.items() if p.grad is not None and moves(p, lr)}
            optim_wrapper.step()
            if scaler is not None and scaler.get_scale() < scale:
                report.skipped_steps += 1
            else:
                stepped |= pushed
            optim_wrapper.zero_grad()
            guard.after_train_iter(loop, step, batch, log_vars)  # raises at a step the wrapper refused
            if device.type == 'cuda':
                torch.cuda.synchronize()
            report.step_ms.append((time.perf_counter() - start) * 1000)
            report.losses.append({k: float(v.detach()) for k, v in log_vars.items()})
            loop.iter += 1
    finally:
        handle.remove()
    report.moved = [name for name, p in trainable.items() if not torch.equal(p.detach(), before[name])]
    report.frozen_weights = [name for name in stepped if name not in report.moved]
    report.never_pushed = [name for name in trainable if name not in stepped]
    report.half_precision = bool(dtypes) and all(d == torch.float16 for d in dtypes)
    report.loss_scale = float(scaler.get_scale()) if scaler is not None else None
    return report
