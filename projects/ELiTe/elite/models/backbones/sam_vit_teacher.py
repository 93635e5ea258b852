"""SAMViTTeacher: SAM's ViT image encoder as ELiTe's image teacher, tuned with PEFT.

The encoder is segment-anything's own ``ImageEncoderViT``, built exactly as ``build_sam.py`` builds it; this
module only wraps it:

- the neck is dropped (ELiTe reads the block outputs), unless ``use_neck`` keeps it for the neck ablation;
- each block's fused ``attn.qkv`` becomes a :class:`SplitQKV` (three Linear layers, same output), so that
  q, k and v are adapted separately, as in the paper's code; SAM's ``Attention`` runs unchanged;
- weights load strictly from an official SAM checkpoint (or an encoder-only state dict);
- everything is frozen except the tuning parameters of ``tuning`` (Table II: fixed, pe_ln, lora, adalora; the
  choice and AdaLoRA's life cycle are :class:`~.sam_tuning.EncoderTuning`'s);
- "discard padding patches" (token cut): only the tokens covering the real crop enter the blocks.

The forward returns the token map after each global-attention block: 4 stages of (B, C, h_tok, w_tok).
"""
from functools import partial
from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from segment_anything.modeling import ImageEncoderViT
from torch import Tensor, nn

from ...sam_checkpoints import load_sam_encoder
from ...sam_specs import SAM_IMG_SIZE, SAM_NECK_CHANNELS, SAM_PATCH_SIZE, SAM_VARIANTS
from .sam_tuning import ADALORA_DEFAULTS, EncoderTuning


class SplitQKV(nn.Module):
    """SAM's fused ``qkv`` Linear(dim, 3 * dim) as three Linear(dim, dim) named q, k, v.

    The output is their concatenation in SAM's order (q, k, v), so ``Attention.forward`` is unchanged while
    peft can adapt q, k and v separately.
    """

    def __init__(self, dim: int, bias: bool = True) -> None:
        super().__init__()
        self.q = nn.Linear(dim, dim, bias=bias)
        self.k = nn.Linear(dim, dim, bias=bias)
        self.v = nn.Linear(dim, dim, bias=bias)

    @classmethod
    def from_fused(cls, qkv: nn.Linear) -> 'SplitQKV':
        """Copies the rows of a fused Linear(dim, 3 * dim) into q, k, v (SAM stacks them in that order)."""
        split = cls(qkv.in_features, bias=qkv.bias is not None)
        with torch.no_grad():
            for name, weight in zip('qkv', qkv.weight.chunk(3, dim=0)):
                getattr(split, name).weight.copy_(weight)
            if qkv.bias is not None:
                for name, bias in zip('qkv', qkv.bias.chunk(3, dim=0)):
                    getattr(split, name).bias.copy_(bias)
        return split

    def forward(self, x: Tensor) -> Tensor:
        """(..., dim) -> (..., 3 * dim)."""
        return torch.cat([self.q(x), self.k(x), self.v(x)], dim=-1)


def build_sam_image_encoder(variant: str) -> ImageEncoderViT:
    """SAM's image encoder with the arguments of segment_anything/build_sam.py (random weights)."""
    if variant not in SAM_VARIANTS:
        raise ValueError(f'SAMViTTeacher: unknown variant {variant!r}; choose one of {sorted(SAM_VARIANTS)}')
    return ImageEncoderViT(
        img_size=SAM_IMG_SIZE, patch_size=SAM_PATCH_SIZE, mlp_ratio=4, out_chans=SAM_NECK_CHANNELS,
        qkv_bias=True, norm_layer=partial(nn.LayerNorm, eps=1e-6), use_rel_pos=True, window_size=14,
        **SAM_VARIANTS[variant])


@MODELS.register_module()
class SAMViTTeacher(BaseModule):
    """SAM ViT image encoder, frozen except its PEFT parameters, returning the 4 global-attention stages.

    Args:
        variant: 'vit_b' (the paper's), 'vit_l', 'vit_h', or 'vit_tiny' (embed 64, depth 8, 2 heads, global
            attention at blocks 1, 3, 5, 7; same 64 x 64 token grid) for tests and CPU demos.
        checkpoint: official SAM checkpoint or encoder-only state dict, loaded strictly; None keeps random
            weights.
        tuning: 'fixed' (nothing trainable), 'pe_ln' (patch embedding projection and the blocks' LayerNorms;
            the absolute ``pos_embed`` is not part of the patch embedding and stays frozen), 'lora' (peft, on
            ``lora_target_modules``) or 'adalora' (peft, on every block's q, k, v, proj, lin1, lin2).
        lora_rank: rank of the 'lora' mode (8: the reference's loralib ``Linear(r=8)``, Table II row i).
        lora_alpha: alpha of the 'lora' mode (the reference's default 1: scaling alpha / rank = 1/8).
        lora_target_modules: the layers of every block the 'lora' mode adapts: ('q', 'v') as the reference;
            any of q, k, v, proj, lin1, lin2 (all six, rank 12, match AdaLoRA's initial budget).
        adalora: overrides of ``ADALORA_DEFAULTS`` for the 'adalora' mode.
        token_cut: run the blocks on the tokens of the real crop only (Table II, "memory optimisation").
        use_neck: keep SAM's neck (frozen, loaded from the checkpoint) and apply it to every stage, giving
            256 channels instead of the embedding width (the patch decoder's neck ablation).
        init_cfg: mmengine initialisation config.
    """

    def __init__(self,
                 variant: str = 'vit_b',
                 checkpoint: Optional[str] = None,
                 tuning: str = 'adalora',
                 lora_rank: int = 8,
                 lora_alpha: float = 1,
                 lora_target_modules: Sequence[str] = ('q', 'v'),
                 adalora: Mapping[str, float] = ADALORA_DEFAULTS,
                 token_cut: bool = True,
                 use_neck: bool = False,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        EncoderTuning.check_options(tuning, lora_target_modules, adalora)  # before a checkpoint of a few 100 MB loads
        self.variant = variant
        self.tuning = tuning
        self.token_cut = token_cut
        self.use_neck = use_neck

        self.encoder = build_sam_image_encoder(variant)
        self.out_channels = SAM_NECK_CHANNELS if use_neck else SAM_VARIANTS[variant]['embed_dim']
        if not use_neck:
            del self.encoder.neck
        # Load before splitting q, k, v: the checkpoint's fused qkv then loads as is, and the split copies it.
        if checkpoint is not None:
            load_sam_encoder(self.encoder, checkpoint, variant)
        for block in self.encoder.blocks:
            block.attn.qkv = SplitQKV.from_fused(block.attn.qkv)

        # which parameters train, and AdaLoRA's life cycle (the peft tuner adapts self.encoder in place)
        self.__dict__['tuner'] = EncoderTuning(self.encoder, tuning, lora_rank, lora_alpha, lora_target_modules,
                                               adalora)

    @property
    def peft_tuner(self):
        """peft's LoraModel / AdaLoraModel on the encoder (None for 'fixed' and 'pe_ln')."""
        return self.tuner.peft_tuner

    # AdaLoRA's life cycle, driven by the training loop (see EncoderTuning)
    def set_total_steps(self, total_steps: int) -> None:
        self.tuner.set_total_steps(total_steps)

    def update_and_allocate(self, global_step: int) -> bool:
        return self.tuner.update_and_allocate(global_step)

    def adalora_state(self) -> Dict:
        return self.tuner.adalora_state()

    def load_adalora_state(self, state: Dict) -> None:
        self.tuner.load_adalora_state(state)

    def orthogonal_regularisation(self) -> Tensor:
        return self.tuner.orthogonal_regularisation()

    def token_grid(self, img_shape: Tuple[int, int]) -> Tuple[int, int]:
        """Token rows and columns that cover a real crop of (h, w) pixels: (ceil(h / 16), ceil(w / 16))."""
        h, w = (int(size) for size in img_shape)
        if not (0 < h <= SAM_IMG_SIZE and 0 < w <= SAM_IMG_SIZE):
            raise ValueError(f'SAMViTTeacher: img_shape {tuple(img_shape)} must lie within the '
                             f'{SAM_IMG_SIZE} x {SAM_IMG_SIZE} encoder input; resize or crop the image first')
        return -(-h // SAM_PATCH_SIZE), -(-w // SAM_PATCH_SIZE)

    def forward(self, imgs: Tensor, img_shape: Optional[Tuple[int, int]] = None) -> List[Tensor]:
        """Token maps after each global-attention block.

        Args:
            imgs: (B, 3, H, W) images normalised with SAM's statistics, H and W at most 1024: the crop itself.
                The encoder's input is the image padded with zeros at the bottom and right, as SAM pads; that
                padding is added here, only as far as the tokens computed need it (all of 1024 x 1024 without
                the token cut, the crop's ceil(H / 16) x ceil(W / 16) tokens with it).
            img_shape: (h, w) of the real crop if smaller than the images (default: their size).

        Returns:
            4 tensors (B, C, ceil(h / 16), ceil(w / 16)), C = the embedding width (768 for vit_b) or 256 with
            ``use_neck``; e.g. (B, 768, 20, 64) for vit_b. Both token-cut modes return these shapes.
        """
        if imgs.dim() != 4 or imgs.shape[1] != 3:
            raise ValueError(f'SAMViTTeacher: expected images (B, 3, H, W), got {tuple(imgs.shape)}')
        rows, cols = self.token_grid(imgs.shape[-2:] if img_shape is None else img_shape)
        encoder = self.encoder
        if self.token_cut:
            # Each token sees only its own 16 x 16 patch and keeps the positional embedding of its place on the
            # full 64 x 64 grid, so embedding the crop's patches alone equals embedding all and cutting.
            tokens = encoder.patch_embed(pad_bottom_right(imgs, rows * SAM_PATCH_SIZE, cols * SAM_PATCH_SIZE))
            tokens = tokens + encoder.pos_embed[:, :rows, :cols]
        else:
            tokens = encoder.patch_embed(pad_bottom_right(imgs, SAM_IMG_SIZE, SAM_IMG_SIZE)) + encoder.pos_embed
        stages = []
        # SAM's blocks run unchanged on the (cut) grid: window attention pads it to multiples of 14 itself, and
        # global attention (SAM's get_rel_pos) linearly interpolates its relative-position tables, trained with
        # 2 * 64 - 1 entries, to 2 * rows - 1 (39 for 20 rows): one row apart on the cut grid then reads the
        # table about 127 / 39 = 3.3 rows apart. This is SAM's code as the paper ran it, not a crop of the table.
        for block in encoder.blocks:
            tokens = block(tokens)
            if block.window_size == 0:
                stages.append(tokens[:, :rows, :cols].permute(0, 3, 1, 2))
        if self.use_neck:
            stages = [encoder.neck(stage) for stage in stages]
        return stages


def pad_bottom_right(imgs: Tensor, height: int, width: int) -> Tensor:
    """``imgs`` (B, 3, H, W) cut or zero-padded at the bottom / right to (B, 3, height, width)."""
    imgs = imgs[:, :, :height, :width]
    return F.pad(imgs, (0, width - imgs.shape[-1], 0, height - imgs.shape[-2]))
