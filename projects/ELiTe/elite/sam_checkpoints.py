"""Loading user-supplied SAM checkpoints, for the teacher and for SAM-PLG, in one place.

Files are read with ``weights_only=True`` (no code in them runs) and loaded strictly: a missing, unexpected or
mis-shaped key is an error naming the file, the keys, what was expected and, where the encoder's size gives it
away, the type the file looks like; never a silent partial load (the reference code's ``strict=False`` left the
teacher's q / k / v random). The teacher takes an official checkpoint (``image_encoder.*``; prompt encoder and mask
decoder ignored) or an encoder-only state dict (:func:`load_sam_encoder`); SAM-PLG the whole SAM
(:func:`read_sam_checkpoint`, :func:`load_sam_state`).
"""
import os
from typing import Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from .sam_specs import OFFICIAL_TYPES, SAM_CHECKPOINTS, SAM_MODEL_TYPES, SAM_TINY_ENCODER, SAM_VARIANTS

CHECKPOINT_HELP = 'https://github.com/facebookresearch/segment-anything#model-checkpoints'
ENCODER_PREFIX = 'image_encoder.'
IGNORED_BY_THE_TEACHER = ('prompt_encoder.', 'mask_decoder.')


class SamCheckpointError(ValueError):
    """A SAM checkpoint is missing, unreadable or holds another model type."""


def read_weights_only_state_dict(path: str, expected: str) -> Dict[str, Tensor]:
    """The state dict in ``path``, loaded with ``weights_only=True``.

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


def state_dict_differences(model_state: Mapping[str, Tensor], state: Mapping[str, Tensor], prefix: str = ''
                           ) -> Dict[str, List[str]]:
    """What keeps ``state`` from loading strictly: missing keys, unexpected keys and shape mismatches, each spelt
    as the checkpoint spells it (``prefix`` + key)."""
    return {
        'missing keys': [prefix + key for key in sorted(set(model_state) - set(state))],
        'unexpected keys': [prefix + key for key in sorted(set(state) - set(model_state))],
        'shape mismatches': [f'{prefix}{key}: checkpoint {tuple(value.shape)} vs model '
                             f'{tuple(model_state[key].shape)}' for key, value in sorted(state.items())
                             if key in model_state and value.shape != model_state[key].shape]}


def guess_type(encoder_state: Mapping[str, Tensor], sizes: Mapping[str, Mapping]) -> Optional[str]:
    """The type in ``sizes`` whose encoder has the width (and, where the blocks are there, the depth) of
    ``encoder_state`` (an encoder state dict without prefix); None if none or several fit."""
    embed = encoder_state.get('patch_embed.proj.weight')
    if embed is None:
        return None
    depth = len({key.split('.')[1] for key in encoder_state if key.startswith('blocks.')})
    fits = [name for name, arch in sizes.items()
            if arch['embed_dim'] == embed.shape[0] and (not depth or arch['depth'] == depth)]
    return fits[0] if len(fits) == 1 else None


def _key_list(keys: List[str], limit: int = 8) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f', ... ({len(keys) - limit} more)' if len(keys) > limit else '')


# The teacher: SAM's image encoder alone.

def read_sam_encoder_state_dict(path: str, variant: str) -> Tuple[Dict[str, Tensor], str, List[str]]:
    """Reads a SAM checkpoint (keys ``image_encoder.*``, prompt encoder and mask decoder ignored) or an
    encoder-only state dict. Returns the encoder's state dict without prefix, the prefix the checkpoint uses
    ('image_encoder.' or ''), and its keys that belong to no SAM part."""
    expected = (f'the official SAM checkpoint {SAM_CHECKPOINTS[variant]} or an encoder-only state dict for '
                f'SAMViTTeacher (or checkpoint=None for random weights)')
    state = read_weights_only_state_dict(path, expected)
    if not any(key.startswith(ENCODER_PREFIX) for key in state):
        return dict(state), '', []
    encoder_state = {key[len(ENCODER_PREFIX):]: value for key, value in state.items()
                     if key.startswith(ENCODER_PREFIX)}
    foreign = sorted(key for key in state if not key.startswith((ENCODER_PREFIX,) + IGNORED_BY_THE_TEACHER))
    return encoder_state, ENCODER_PREFIX, foreign


def load_sam_encoder(encoder: nn.Module, path: str, variant: str) -> None:
    """Strictly loads ``path`` into a fused-qkv SAM image ``encoder`` (neck keys are ignored when it has no neck);
    any difference raises :class:`SamCheckpointError` naming the keys."""
    encoder_state, prefix, foreign = read_sam_encoder_state_dict(path, variant)
    model_state = encoder.state_dict()
    if not any(key.startswith('neck.') for key in model_state):
        encoder_state = {key: value for key, value in encoder_state.items() if not key.startswith('neck.')}
    found = state_dict_differences(model_state, encoder_state, prefix)
    found['unexpected keys'] = foreign + found['unexpected keys']
    if any(found.values()):
        problems = [f'{label} ({len(keys)}): {_key_list(keys)}' for label, keys in found.items() if keys]
        hint = ''
        embed = encoder_state.get('patch_embed.proj.weight')
        if embed is not None and embed.shape != model_state['patch_embed.proj.weight'].shape:
            guess = guess_type({'patch_embed.proj.weight': embed}, SAM_VARIANTS)
            hint = (f' (its {prefix}patch_embed.proj.weight is {tuple(embed.shape)}, the model expects '
                    f'{tuple(model_state["patch_embed.proj.weight"].shape)}'
                    + (f': it looks like {guess})' if guess else ')'))
        raise SamCheckpointError(
            f'SAMViTTeacher: {path!r} is not a SAM {variant} image encoder checkpoint{hint}: '
            + '; '.join(problems) + f'. Expected {SAM_CHECKPOINTS[variant]} (keys image_encoder.*) or an '
            f'encoder-only state dict of the same variant; check `variant` and `checkpoint`.')
    encoder.load_state_dict(encoder_state, strict=True)


# SAM-PLG: the whole SAM.

def _expected_file(model_type: str) -> str:
    return SAM_CHECKPOINTS[model_type] if model_type in OFFICIAL_TYPES else 'a sam_tiny state dict'


def read_sam_checkpoint(path: str, model_type: str) -> Dict[str, Tensor]:
    """The state dict in ``path`` (an official SAM ``.pth``: keys ``image_encoder.*``, ``prompt_encoder.*``,
    ``mask_decoder.*``), read with ``weights_only=True``."""
    try:
        return read_weights_only_state_dict(path, f'{_expected_file(model_type)} for model type {model_type}')
    except (FileNotFoundError, RuntimeError, TypeError) as err:
        raise SamCheckpointError(str(err)) from err


def load_sam_state(sam: nn.Module, state: Mapping[str, Tensor], path: str, model_type: str) -> None:
    """``sam.load_state_dict(state, strict=True)``; a mismatch is reworded to name the file, the type expected
    and the type the file looks like."""
    try:
        sam.load_state_dict(state, strict=True)
    except RuntimeError as err:
        differences = state_dict_differences(sam.state_dict(), state)
        differences['mis-shaped tensors'] = [d.split(':')[0] for d in differences.pop('shape mismatches')]
        found = ', '.join(f'{len(keys)} {what} (e.g. {keys[0]})' for what, keys in differences.items() if keys)
        sizes = {t: SAM_TINY_ENCODER if t == 'sam_tiny' else SAM_VARIANTS[t] for t in SAM_MODEL_TYPES}
        guess = guess_type({key[len(ENCODER_PREFIX):]: value for key, value in state.items()
                            if key.startswith(ENCODER_PREFIX)}, sizes)
        looks_like = f'; it looks like {guess} ({_expected_file(guess)})' if guess and guess != model_type else ''
        raise SamCheckpointError(
            f'{path}: not a SAM {model_type} checkpoint (expected {_expected_file(model_type)}): {found}{looks_like}. '
            f'Pass the model type that matches the file: '
            + ', '.join(f'{t} for {SAM_CHECKPOINTS[t]}' for t in OFFICIAL_TYPES) + '.') from err
