"""Segment Anything's sizes, statistics and checkpoint names, in one leaf module.

Shared by the teacher (``models/backbones/sam_vit_teacher.py``), SAM-PLG (``pseudo_labels/sam_model.py``), the
checkpoint loading of both (``sam_checkpoints.py``) and the data side (the image statistics in the configs of
``PointImageDataPreprocessor``), none of which may import another for them.
"""
from types import MappingProxyType
from typing import Mapping

# Architectures of segment-anything's build_sam.py, plus a small one with the same token grid for tests and CPU
# demos (the teacher's 'vit_tiny'; SAM-PLG's own tiny SAM is another model, see pseudo_labels/sam_model.py).
SAM_VARIANTS: Mapping[str, Mapping] = MappingProxyType({
    'vit_b': dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
    'vit_l': dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    'vit_h': dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
    'vit_tiny': dict(embed_dim=64, depth=8, num_heads=2, global_attn_indexes=(1, 3, 5, 7)),
})
SAM_CHECKPOINTS: Mapping[str, str] = MappingProxyType({
    'vit_b': 'sam_vit_b_01ec64.pth', 'vit_l': 'sam_vit_l_0b3195.pth', 'vit_h': 'sam_vit_h_4b8939.pth',
    'vit_tiny': 'a SAM-format vit_tiny checkpoint (no official one exists)'})
OFFICIAL_TYPES = ('vit_b', 'vit_l', 'vit_h')
# SAM-PLG's 'sam_tiny': a whole small SAM (encoder below, 32-wide prompt encoder and mask decoder), small enough for
# a test to run hundreds of prompts in seconds on one thread
SAM_TINY_ENCODER: Mapping = MappingProxyType(dict(embed_dim=64, depth=2, num_heads=2, global_attn_indexes=(1,)))
SAM_MODEL_TYPES = ('sam_tiny',) + OFFICIAL_TYPES  # SAM-PLG's model types
SAM_IMG_SIZE = 1024  # the encoder's square input
SAM_PATCH_SIZE = 16
SAM_EMBEDDING_SIZE = SAM_IMG_SIZE // SAM_PATCH_SIZE  # 64 x 64 tokens
SAM_NECK_CHANNELS = 256
SAM_PIXEL_MEAN = (123.675, 116.28, 103.53)  # segment-anything's pixel_mean / pixel_std on 0-255 RGB
SAM_PIXEL_STD = (58.395, 57.12, 57.375)
