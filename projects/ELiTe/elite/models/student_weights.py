"""What the student is: the one definition of the weights a segmentor runs at inference.

An mmdet3d segmentor runs its ``backbone``, ``neck`` and ``decode_head`` at inference; a distiller (PPMSKD,
M2SKD) adds a teacher, decoders and auxiliary heads that only train. The student's export keeps these weights,
the checkpoint-coverage check requires them, and the parameter counts call them the inference parameters; all
three read them from here.
"""
from typing import Iterable, List

from torch import nn

INFERENCE_MODULES = ('backbone', 'neck', 'decode_head')


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DDP / TTA wrappers (anything holding it as ``.module``)."""
    while isinstance(getattr(model, 'module', None), nn.Module):
        model = model.module
    return model


def is_student_key(key: str) -> bool:
    """Whether a segmentor's state-dict key (``backbone.stem.0.weight``) is a weight of its student."""
    return key.split('.', 1)[0] in INFERENCE_MODULES


def student_keys(keys: Iterable[str]) -> List[str]:
    """The student's keys among ``keys``, in their order."""
    return [k for k in keys if is_student_key(k)]


def student_modules(model: nn.Module) -> List[nn.Module]:
    """The student's modules of ``model`` (wrappers looked through); a model without a ``backbone`` (not a
    segmentor) is all student."""
    model = unwrap_model(model)
    if not isinstance(getattr(model, 'backbone', None), nn.Module):
        return [model]
    return [m for m in (getattr(model, name, None) for name in INFERENCE_MODULES) if isinstance(m, nn.Module)]


def student_parameters(model: nn.Module) -> List[nn.Parameter]:
    """The parameters ``model`` runs at inference (each once)."""
    unique = {id(p): p for m in student_modules(model) for p in m.parameters()}
    return list(unique.values())
