"""The whole SAM (image encoder, prompt encoder, mask decoder) for pseudo-labelling, loaded strictly.

The official types ('vit_b', 'vit_l', 'vit_h') are built by segment-anything's ``sam_model_registry``; 'sam_tiny'
is a small random-weight SAM for tests and CPU demos: a 2-block encoder (embed 64) on SAM's 1024 frame and
64 x 64 embedding grid, and a 32-wide prompt encoder and mask decoder. The decoder runs once per prompt: at SAM's
width of 256 it took 0.15 s per prompt on one CPU thread here (0.01 s at width 32), more than a test can afford.
It is not the teacher's 'vit_tiny' encoder (8 blocks, 256-wide neck), hence its own name: the two do not mix.

Checkpoints load through :mod:`elite.sam_checkpoints` (weights only, strictly; a file of another type stops with
its name, the type expected and the type it looks like).
"""
from functools import partial
from typing import Optional

from segment_anything import sam_model_registry
from segment_anything.modeling import ImageEncoderViT, MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
from torch import nn

from ..sam_checkpoints import SamCheckpointError, load_sam_state, read_sam_checkpoint
from ..sam_specs import (
    SAM_EMBEDDING_SIZE,
    SAM_IMG_SIZE,
    SAM_MODEL_TYPES,
    SAM_PIXEL_MEAN,
    SAM_PIXEL_STD,
    SAM_TINY_ENCODER,
)

__all__ = ['SAM_MODEL_TYPES', 'SamCheckpointError', 'build_sam', 'build_tiny_sam']
TINY_PROMPT_DIM = 32


def build_tiny_sam() -> Sam:
    """The random-weight 'sam_tiny' SAM (seed torch beforehand for reproducible weights)."""
    image_encoder = ImageEncoderViT(
        img_size=SAM_IMG_SIZE, patch_size=SAM_IMG_SIZE // SAM_EMBEDDING_SIZE, mlp_ratio=4,
        out_chans=TINY_PROMPT_DIM, qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), use_rel_pos=True,
        window_size=14, **SAM_TINY_ENCODER)
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
