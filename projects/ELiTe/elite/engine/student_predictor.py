"""A trained checkpoint as a function from a scan's points to per-point logits, for ``tools/infer.py``.

The config's model is built, the checkpoint loaded as ``tools/test.py`` loads it (mmengine's loader, refused by
the coverage check if it lacks or mis-shapes an inference weight) and only the student runs: a distiller's
teacher and decoders stay idle, so an ELiTe or M2SKD checkpoint labels scans like a student checkpoint does.
"""
from types import SimpleNamespace
from typing import Callable

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import _load_checkpoint, load_state_dict
from torch import nn

from ..models.data_preprocessor import preprocess_scan
from .hooks.checkpoint_coverage import CheckpointCoverageHook


def build_model(config: str, **backbone) -> nn.Module:
    """The config's model; ``backbone`` overrides its backbone's arguments (e.g. ``grid='nested'``)."""
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    cfg = Config.fromfile(config)
    cfg.model.backbone.update(backbone)
    return MODELS.build(cfg.model)


def load_student_model(config: str, checkpoint: str, **backbone_overrides) -> nn.Module:
    """``config``'s model (backbone keys overridden) with ``checkpoint``'s weights, in eval mode on the CPU."""
    model = build_model(config, **backbone_overrides)
    state = _load_checkpoint(checkpoint, map_location='cpu')
    CheckpointCoverageHook().after_load_checkpoint(SimpleNamespace(model=model, _load_from=checkpoint), state)
    load_state_dict(model, state.get('state_dict', state), strict=False)
    return model.eval()


def checkpoint_predictor(config: str, checkpoint: str, device: str = 'cpu') -> Callable[[np.ndarray], np.ndarray]:
    """``predict(points (N, 4) float32) -> (N, num_classes) float32 logits`` of ``config``'s student."""
    model = load_student_model(config, checkpoint).to(device)

    @torch.no_grad()
    def predict(points: np.ndarray) -> np.ndarray:
        inputs = preprocess_scan(model.data_preprocessor, torch.from_numpy(np.ascontiguousarray(points)).to(device))
        return model.decode_head(model.extract_feat(inputs)).float().cpu().numpy()
    return predict
