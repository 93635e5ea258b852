"""Reading user-supplied SAM checkpoints safely, with errors that name the file and what was expected.

Shared by the teacher (``models/backbones/sam_vit_teacher.py``) and SAM-PLG (``pseudo_labels/sam_model.py``).
"""
import os
from typing import Dict, Mapping

import torch
from torch import Tensor

CHECKPOINT_HELP = 'https://github.com/facebookresearch/segment-anything#model-checkpoints'


def read_weights_only_state_dict(path: str, expected: str) -> Dict[str, Tensor]:
    """The state dict in ``path``, loaded with ``weights_only=True`` (no code in the file runs).

    Raises FileNotFoundError (no file), RuntimeError (truncated / corrupted / not a weights-only file) or
    TypeError (not a mapping of names to tensors); each message names ``path`` and ``expected``.
    """
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: checkpoint not found (the file does not exist). Expected {expected} '
                                f'({CHECKPOINT_HELP}).')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # torch raises several types for truncated, corrupted or pickled non-tensor files
        raise RuntimeError(f'{path}: cannot be read as a weights-only PyTorch state dict ({type(err).__name__}: '
                           f'{err}); the file may be truncated or corrupted. Expected {expected}: download it '
                           'again.') from err
    if not isinstance(state, Mapping) or not all(
            isinstance(key, str) and isinstance(value, Tensor) for key, value in state.items()):
        raise TypeError(f'{path}: holds a {type(state).__name__}, not a state dict of tensors. Expected {expected}.')
    return dict(state)
