"""Which of a SAM encoder's parameters train (Table II's tuning modes), and AdaLoRA's life cycle.

The teacher (:class:`~.sam_vit_teacher.SAMViTTeacher`) holds one :class:`EncoderTuning`; the training loop drives
AdaLoRA through the teacher: T from the runner (``set_total_steps``), the rank allocation at every optimiser step
(``update_and_allocate``), the allocation state in checkpoints, the orthogonal regulariser in the loss.
"""
from types import MappingProxyType
from typing import Dict, Mapping, Optional, Sequence

import torch
from peft import AdaLoraConfig, AdaLoraModel, LoraConfig, LoraModel
from segment_anything.modeling import ImageEncoderViT
from torch import Tensor, nn

TUNING_MODES = ('fixed', 'pe_ln', 'lora', 'adalora')
# Every block's q, k, v (split from the fused qkv), attention output projection and both MLP layers.
PEFT_TARGET_MODULES = ['q', 'k', 'v', 'proj', 'lin1', 'lin2']
# The patch embedding is a Conv2d also named `proj`: peft would adapt it too.
PEFT_EXCLUDE_MODULES = ['patch_embed.proj']
PEFT_ADAPTER = 'default'
# the paper's AdaLoRA settings; the t*_ratio entries are fractions of T, the total number of training iterations.
ADALORA_DEFAULTS: Mapping[str, float] = MappingProxyType(dict(
    init_r=12, target_r=8, beta1=0.85, beta2=0.85, lora_alpha=1, orth_reg_weight=0.1,
    tinit_ratio=1 / 6, tfinal_ratio=1 / 2, delta_t_ratio=1 / 300))


class EncoderTuning:
    """Freezes ``encoder`` except the parameters of ``mode`` and, for 'lora' / 'adalora', adapts it in place
    with peft. Arguments as :class:`~.sam_vit_teacher.SAMViTTeacher`'s ``tuning``, ``lora_rank``, ``lora_alpha``,
    ``lora_target_modules`` and ``adalora``.

    peft's LoraModel / AdaLoraModel (``peft_tuner``; None for 'fixed', 'pe_ln') holds the AdaLoRA config and rank
    allocator. It is not a module of the teacher, so that the parameters are registered, and saved, once, under
    the teacher's ``encoder.``.
    """

    def __init__(self, encoder: ImageEncoderViT, mode: str, lora_rank: int = 8, lora_alpha: float = 1,
                 lora_target_modules: Sequence[str] = ('q', 'v'),
                 adalora: Mapping[str, float] = ADALORA_DEFAULTS) -> None:
        self.check_options(mode, lora_target_modules, adalora)
        self.encoder, self.mode = encoder, mode
        self.adalora = {**ADALORA_DEFAULTS, **adalora}
        self.peft_tuner = None
        self._total_steps: Optional[int] = None
        self._budget_final = False  # peft's final rank mask (at step T - tfinal) applied
        encoder.requires_grad_(False)
        if mode == 'pe_ln':
            encoder.patch_embed.requires_grad_(True)
            for module in encoder.modules():
                if isinstance(module, nn.LayerNorm):
                    module.requires_grad_(True)
        elif mode == 'lora':
            config = LoraConfig(r=lora_rank, lora_alpha=lora_alpha, lora_dropout=0.0, bias='none',
                                target_modules=list(lora_target_modules), exclude_modules=PEFT_EXCLUDE_MODULES)
            self.peft_tuner = LoraModel(encoder, config, PEFT_ADAPTER)
        elif mode == 'adalora':
            cfg = self.adalora
            # peft refuses an AdaLoraConfig without total_step: a placeholder schedule until set_total_steps(T).
            config = AdaLoraConfig(
                init_r=int(cfg['init_r']), target_r=int(cfg['target_r']), beta1=cfg['beta1'], beta2=cfg['beta2'],
                lora_alpha=cfg['lora_alpha'], orth_reg_weight=cfg['orth_reg_weight'], lora_dropout=0.0,
                total_step=1, tinit=0, tfinal=0, deltaT=1,
                target_modules=PEFT_TARGET_MODULES, exclude_modules=PEFT_EXCLUDE_MODULES)
            self.peft_tuner = AdaLoraModel(encoder, config, PEFT_ADAPTER)

    @staticmethod
    def check_options(mode: str, lora_target_modules: Sequence[str], adalora: Mapping[str, float]) -> None:
        """Refuse unknown options (the teacher calls this before it builds and loads the encoder)."""
        if mode not in TUNING_MODES:
            raise ValueError(f'SAMViTTeacher: unknown tuning {mode!r}; choose one of {TUNING_MODES}')
        if not set(lora_target_modules) <= set(PEFT_TARGET_MODULES):
            raise ValueError(f'SAMViTTeacher: lora_target_modules {list(lora_target_modules)} must be among '
                             f'{PEFT_TARGET_MODULES}')
        unknown = sorted(set(adalora) - set(ADALORA_DEFAULTS))
        if unknown:
            raise ValueError(f'SAMViTTeacher: unknown adalora keys {unknown}; valid keys: {list(ADALORA_DEFAULTS)}')

    def set_total_steps(self, total_steps: int) -> None:
        """Sets AdaLoRA's schedule from T = ``total_steps`` training iterations (no-op for other modes):
        tinit = int(T * tinit_ratio), tfinal = int(T * tfinal_ratio), deltaT = max(1, int(T * delta_t_ratio))."""
        if self.mode != 'adalora':
            return
        if int(total_steps) != total_steps or total_steps < 1:
            raise ValueError(f'EncoderTuning.set_total_steps: T must be a positive integer, got {total_steps!r}')
        total_steps = int(total_steps)
        cfg = self.adalora
        tinit = int(total_steps * cfg['tinit_ratio'])
        tfinal = int(total_steps * cfg['tfinal_ratio'])
        # peft checks this only when the config is built; the schedule needs at least one rank-reduction step.
        if tinit >= total_steps - tfinal:
            raise ValueError(
                f'EncoderTuning.set_total_steps: T={total_steps} leaves no rank-reduction phase (tinit={tinit} must '
                f'be < T - tfinal = {total_steps - tfinal}); lower adalora tinit_ratio/tfinal_ratio or train longer')
        # The rank allocator holds this same config object, so it sees the new schedule.
        config = self.peft_tuner.peft_config[PEFT_ADAPTER]
        config.total_step = total_steps
        config.tinit = tinit
        config.tfinal = tfinal
        config.deltaT = max(1, int(total_steps * cfg['delta_t_ratio']))
        self._total_steps = total_steps

    def update_and_allocate(self, global_step: int) -> bool:
        """AdaLoRA's importance update and rank (budget) allocation; no-op for other modes.

        Call once per training iteration after ``loss.backward()`` and before the gradients are zeroed: the
        importance scores read the LoRA gradients (unscaled ones under AMP). A step whose LoRA gradients are not
        all finite (one the AMP grad scaler skips) is left out: peft would fold the NaN into its importance
        averages for good. peft fixes the final budget only at exactly step T - tfinal; if that step is left out
        (or skipped by a resume), the next allocating step applies it. Returns whether the allocation ran.
        """
        if self.mode != 'adalora':
            return False
        if self._total_steps is None:
            raise RuntimeError('EncoderTuning.update_and_allocate: call set_total_steps(T) with the number of '
                               'training iterations first; AdaLoRA budget schedule depends on it')
        tuner = self.peft_tuner
        config = tuner.peft_config[PEFT_ADAPTER]
        lora = [(name, param) for name, param in self.encoder.named_parameters() if 'lora_' in name]
        if global_step < config.total_step - config.tfinal:
            no_grad = [name for name, param in lora if param.grad is None]
            if no_grad:
                raise RuntimeError(
                    f'EncoderTuning.update_and_allocate: {len(no_grad)} AdaLoRA parameters have no gradient '
                    f'(e.g. {no_grad[0]}); call it after loss.backward() and before optimizer.zero_grad()')
        grads = [param.grad for _, param in lora if param.grad is not None]
        if grads and not bool(torch.stack([torch.isfinite(g).all() for g in grads]).all()):  # one host sync
            return False
        final_step = config.total_step - config.tfinal
        if global_step > final_step and not self._budget_final:
            tuner.update_and_allocate(final_step)  # the final mask peft applies at that step alone
        tuner.update_and_allocate(global_step)
        self._budget_final = self._budget_final or global_step >= final_step
        return True

    def adalora_state(self) -> Dict:
        """AdaLoRA's allocation state, which lives outside ``state_dict`` (in peft's config and rank allocator):
        the rank pattern and the importance averages. Saved in checkpoints so a resumed run continues it."""
        if self.mode != 'adalora':
            return {}
        allocator = self.peft_tuner.rankallocator
        averages = {name: {k: v.detach().cpu() for k, v in getattr(allocator, name).items()}
                    for name in ('ipt', 'exp_avg_ipt', 'exp_avg_unc')}
        return dict(rank_pattern=self.peft_tuner.peft_config[PEFT_ADAPTER].rank_pattern,
                    budget_final=self._budget_final, **averages)

    def load_adalora_state(self, state: Dict) -> None:
        if self.mode != 'adalora' or not state:
            return
        allocator = self.peft_tuner.rankallocator
        device = next(self.encoder.parameters()).device
        for name in ('ipt', 'exp_avg_ipt', 'exp_avg_unc'):
            getattr(allocator, name).update({k: v.to(device) for k, v in state[name].items()})
        self.peft_tuner.peft_config[PEFT_ADAPTER].rank_pattern = state['rank_pattern']
        # checkpoints from before this key: peft empties the importance averages when it fixes the final budget
        self._budget_final = bool(state.get('budget_final', state['rank_pattern'] is not None and not state['ipt']))

    def orthogonal_regularisation(self) -> Tensor:
        """AdaLoRA's orthogonal regulariser times ``orth_reg_weight`` (a zero scalar for other modes).

        Same formula as ``AdaLoraModel.forward``, which adds it only to outputs that carry a ``loss``:
        mean over every lora_A (r x in) and lora_B (out x r) of ||P P^T - I||_F (A) or ||P^T P - I||_F (B).
        """
        if self.mode != 'adalora':
            return self.encoder.pos_embed.new_zeros(())
        norms = []
        for name, param in self.encoder.named_parameters():
            if ('lora_A' in name or 'lora_B' in name) and PEFT_ADAPTER in name:
                cov = param @ param.T if 'lora_A' in name else param.T @ param
                identity = torch.eye(*cov.shape, dtype=cov.dtype, device=cov.device)
                norms.append(torch.norm(cov - identity, p='fro'))
        return self.peft_tuner.peft_config[PEFT_ADAPTER].orth_reg_weight * torch.stack(norms).mean()
