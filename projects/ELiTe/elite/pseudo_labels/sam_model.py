"""The whole SAM (image encoder, prompt encoder, mask decoder) for pseudo-labelling, loaded strictly.

The official types ('vit_b', 'vit_l', 'vit_h') are built by segment-anything's ``sam_model_registry``; 'sam_tiny'
is a small random-weight SAM for tests and CPU demos: a 2-block encoder (embed 64) on SAM's 1024 frame and
64 x 64 embedding grid, and a 32-wide prompt encoder and mask decoder. The decoder runs once per prompt: at SAM's
width of 256 it took 0.15 s per prompt on one CPU thread here (0.01 s at width 32), more than a test can afford.
It is not the teacher's 'vit_tiny' encoder (8 blocks, 256-wide neck), hence its own name: the two do not mix.

Checkpoints load with ``weights_only=True`` and ``strict=True``: a file of another type stops with its name,
the type expected and the type it looks like, instead of a partial load.
"""
from functools import partial
from typing import Dict, Mapping, Optional, Tuple

from segment_anything import sam_model_registry
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from torch import Tensor, nn

from ..sam_checkpoints import read_weights_only_state_dict
from ..sam_specs import SAM_CHECKPOINTS, SAM_EMBEDDING_SIZE, SAM_IMG_SIZE, SAM_PIXEL_MEAN, SAM_PIXEL_STD, SAM_VARIANTS

OFFICIAL_TYPES = ('vit_b', 'vit_l', 'vit_h')
SAM_MODEL_TYPES = ('sam_tiny',) + OFFICIAL_TYPES
# sam_tiny: small enough for a test to run hundreds of prompts in seconds on one thread.
TINY_ENCODER = dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,))
TINY_PROMPT_DIM = 32


class SamCheckpointError(ValueError):
    """A SAM checkpoint is missing, unreadable or holds another model type."""


def build_tiny_sam() -> Sam:
    """The random-weight 'sam_tiny' SAM (seed torch beforehand for reproducible weights)."""
    image_encoder = ImageEncoderViT(
        img_size=SAM_IMG_SIZE, patch_size=SAM_IMG_SIZE // SAM_EMBEDDING_SIZE, mlp_ratio=4,
        out_chans=TINY_PROMPT_DIM, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), use_rel_pos=True,
        window_size=14, **TINY_ENCODER)
    prompt_encoder = PromptEncoder(
        embed_dim=TINY_PROMPT_DIM, image_embedding_size=(SAM_EMBEDDING_SIZE, SAM_EMBEDDING_SIZE),
        input_image_size=(SAM_IMG_SIZE, SAM_IMG_SIZE), mask_in_chans=16)
    mask_decoder = MaskDecoder(
        num_multimask_outputs=3, transformer_dim=TINY_PROMPT_DIM, iou_head_depth=3,
        iou_head_hidden_dim=TINY_PROMPT_DIM,
        transformer=TwoWayTransformer(depth=2, embedding_dim=TINY_PROMPT_DIM, mlp_dim=2 * TINY_PROMPT_DIM,
                                      num_heads=2))
    return Sam(image_encoder=image_encoder, prompt_encoder=prompt_encoder, mask_decoder=mask_decoder,
               pixel_mean=list(SAM_PIXEL_MEAN), pixel_std=list(SAM_PIXEL_STD)).eval()


def build_sam(model_type: str = 'vit_h', checkpoint: Optional[str] = None) -> Sam:
    """SAM of ``model_type`` in eval mode, with the weights of ``checkpoint`` (None: random weights).

    The checkpoint is read before the model is built, so a missing file fails at once, not after vit_h's
    630 M parameters have been initialised.
    """
    if model_type not in SAM_MODEL_TYPES:
        raise ValueError(f'unknown SAM model type {model_type!r}; choose one of {", ".join(SAM_MODEL_TYPES)}')
    state = None if checkpoint is None else read_sam_checkpoint(checkpoint, model_type)
    sam = build_tiny_sam() if model_type == 'sam_tiny' else sam_model_registry[model_type](checkpoint=None)
    if state is not None:
        load_sam_state(sam, state, checkpoint, model_type)
    return sam.eval()


def read_sam_checkpoint(path: str, model_type: str) -> Dict[str, Tensor]:
    """The state dict in ``path`` (an official SAM ``.pth``: keys ``image_encoder.*``, ``prompt_encoder.*``,
    ``mask_decoder.*``), read with ``weights_only=True``."""
    try:
        return read_weights_only_state_dict(path, f'{_expected_file(model_type)} for model type {model_type}')
    except (FileNotFoundError, RuntimeError, TypeError) as err:
        raise SamCheckpointError(str(err)) from err


def load_sam_state(sam: Sam, state: Mapping[str, Tensor], path: str, model_type: str) -> None:
    """``sam.load_state_dict(state, strict=True)``; a mismatch is reworded to name the file, the type expected
    and the type the file looks like."""
    try:
        sam.load_state_dict(state, strict=True)
    except RuntimeError as err:
        model_state = sam.state_dict()
        missing = sorted(set(model_state) - set(state))
        unexpected = sorted(set(state) - set(model_state))
        mis_shaped = sorted(k for k in set(state) & set(model_state) if state[k].shape != model_state[k].shape)
        found = ', '.join(f'{len(keys)} {what} (e.g. {keys[0]})' for what, keys in (
            ('missing keys', missing), ('unexpected keys', unexpected), ('mis-shaped tensors', mis_shaped)) if keys)
        guess = _guess_type(state)
        looks_like = f'; it looks like {guess} ({_expected_file(guess)})' if guess and guess != model_type else ''
        raise SamCheckpointError(
            f'{path}: not a SAM {model_type} checkpoint (expected {_expected_file(model_type)}): {found}{looks_like}. '
            f'Pass the model type that matches the file: '
            + ', '.join(f'{t} for {SAM_CHECKPOINTS[t]}' for t in OFFICIAL_TYPES) + '.') from err


def _expected_file(model_type: str) -> str:
    return SAM_CHECKPOINTS[model_type] if model_type in OFFICIAL_TYPES else 'a sam_tiny state dict'


def _encoder_shape(model_type: str) -> Tuple[int, int]:
    arch = TINY_ENCODER if model_type == 'sam_tiny' else SAM_VARIANTS[model_type]
    return arch['embed_dim'], arch['depth']


def _guess_type(state: Mapping[str, Tensor]) -> Optional[str]:
    """The model type whose image encoder has the checkpoint's width and number of blocks, if any."""
    embed = state.get('image_encoder.patch_embed.proj.weight')
    if embed is None:
        return None
    blocks = {key.split('.')[2] for key in state if key.startswith('image_encoder.blocks.')}
    shape = (embed.shape[0], len(blocks))
    return next((t for t in SAM_MODEL_TYPES if _encoder_shape(t) == shape), None)
