"""SAMViTTeacher: split q/k/v, strict SAM checkpoint loading, tuning modes, token cut, AdaLoRA schedule.

Everything runs on the vit_tiny variant (same 64 x 64 token grid as SAM) except the vit_b parameter counts,
which build vit_b with random weights and run no forward.
"""
import math

import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from torch import nn

import elite  # noqa: F401  (registers the plugin)
from elite.models.backbones.sam_tuning import PEFT_ADAPTER
from elite.models.backbones.sam_vit_teacher import SAMViTTeacher, SplitQKV, build_sam_image_encoder

CROP = (320, 1024)  # ELiTe's training crop: 20 x 64 tokens
TINY_DIM = 64
TINY_ADAPTED_MATRICES = 8 * 6  # 8 blocks x (q, k, v, proj, lin1, lin2)


@pytest.fixture(autouse=True, scope='module')
def one_thread():
    """These tiny models are dominated by small ops: with a second process on the 2 cores, two spinning OpenMP
    threads made the AdaLoRA schedule test ~50x slower (44 s vs 0.8 s); one thread is fast either way."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_sam_encoder(seed: int = 0) -> nn.Module:
    """vit_tiny ImageEncoderViT (fused qkv, with neck) with every parameter random, rel-pos tables included."""
    torch.manual_seed(seed)
    encoder = build_sam_image_encoder('vit_tiny')
    with torch.no_grad():
        for param in encoder.parameters():
            param.normal_(0.0, 0.05)
    return encoder


def sam_checkpoint_state(encoder: nn.Module) -> dict:
    """What an official SAM .pth holds: image_encoder.* (neck included) beside the prompt encoder and decoder."""
    state = {f'image_encoder.{key}': value for key, value in encoder.state_dict().items()}
    state['prompt_encoder.pe_layer.positional_encoding_gaussian_matrix'] = torch.randn(2, 128)
    state['mask_decoder.iou_token.weight'] = torch.randn(1, 256)
    return state


def images(batch: int = 1, seed: int = 1) -> torch.Tensor:
    torch.manual_seed(seed)
    return torch.randn(batch, 3, 1024, 1024)


def reference_stages(encoder: nn.Module, imgs: torch.Tensor, rows: int, cols: int) -> list:
    """SAM's own fused encoder on the full grid, read after each global-attention block and cropped."""
    tokens = encoder.patch_embed(imgs) + encoder.pos_embed
    stages = []
    for block in encoder.blocks:
        tokens = block(tokens)
        if block.window_size == 0:
            stages.append(tokens[:, :rows, :cols].permute(0, 3, 1, 2))
    return stages


def randomise_lora(teacher: SAMViTTeacher, seed: int = 2) -> None:
    """AdaLoRA starts with zero singular values (E), which blocks gradients to A and B: make them non-zero."""
    torch.manual_seed(seed)
    with torch.no_grad():
        for name, param in teacher.named_parameters():
            if 'lora_E' in name:
                param.normal_(0.0, 0.5)


def lora_parameters(teacher: SAMViTTeacher) -> dict:
    return {name: param for name, param in teacher.named_parameters() if 'lora_' in name}


def test_split_qkv_equals_fused_qkv():
    torch.manual_seed(0)
    fused = nn.Linear(TINY_DIM, 3 * TINY_DIM)
    split = SplitQKV.from_fused(fused)
    x = torch.randn(2, 5, 7, TINY_DIM)
    torch.testing.assert_close(split(x), fused(x))
    for index, name in enumerate('qkv'):
        rows = slice(index * TINY_DIM, (index + 1) * TINY_DIM)
        assert torch.equal(getattr(split, name).weight, fused.weight[rows])
        assert torch.equal(getattr(split, name).bias, fused.bias[rows])


def test_sam_checkpoint_loads_strictly_and_reproduces_sam_outputs(tmp_path):
    reference = random_sam_encoder()
    path = tmp_path / 'sam_vit_tiny.pth'
    torch.save(sam_checkpoint_state(reference), path)

    teacher = SAMViTTeacher(variant='vit_tiny', checkpoint=str(path), tuning='adalora', token_cut=False)
    assert not hasattr(teacher.encoder, 'neck')
    fused = reference.blocks[3].attn.qkv.weight
    assert torch.equal(teacher.encoder.blocks[3].attn.qkv.k.base_layer.weight, fused[TINY_DIM:2 * TINY_DIM])
    assert torch.equal(teacher.encoder.pos_embed, reference.pos_embed)

    imgs = images()
    with torch.no_grad():
        expected = reference_stages(reference, imgs, 20, 64)
        stages = teacher(imgs, CROP)  # AdaLoRA's E starts at zero: the adapters add nothing yet
    assert len(stages) == 4
    for stage, ref in zip(stages, expected):
        torch.testing.assert_close(stage, ref)


def test_encoder_only_checkpoint_loads(tmp_path):
    reference = random_sam_encoder(seed=3)
    state = {key: value for key, value in reference.state_dict().items() if not key.startswith('neck.')}
    path = tmp_path / 'encoder_only.pth'
    torch.save(state, path)
    teacher = SAMViTTeacher(variant='vit_tiny', checkpoint=str(path), tuning='fixed')
    assert torch.equal(teacher.encoder.blocks[7].attn.qkv.v.bias, reference.blocks[7].attn.qkv.bias[2 * TINY_DIM:])
    assert torch.equal(teacher.encoder.blocks[7].attn.rel_pos_h, reference.blocks[7].attn.rel_pos_h)


def _without(state: dict, key: str) -> dict:
    return {k: v for k, v in state.items() if k != key}


@pytest.mark.parametrize('case, error, patterns', [
    ('missing_key', ValueError, ['missing keys', 'image_encoder.blocks.5.attn.rel_pos_w', 'SAM-format vit_tiny']),
    ('unexpected_key', ValueError, ['unexpected keys', 'image_encoder.blocks.8.norm1.weight']),
    ('foreign_key', ValueError, ['unexpected keys', 'pixel_mean']),
    ('wrong_shape', ValueError, ['shape mismatches', r'image_encoder.blocks.2.attn.qkv.weight: checkpoint \(96, 64\) '
                                 r'vs model \(192, 64\)']),
    ('corrupted', RuntimeError, ['corrupted', 'broken.pth']),
    ('not_a_state_dict', TypeError, ['not a state dict', 'list']),
    ('no_file', FileNotFoundError, ['does not exist', 'absent.pth']),
])
def test_bad_checkpoints_are_refused_naming_the_key(tmp_path, case, error, patterns):
    state = sam_checkpoint_state(random_sam_encoder())
    path = tmp_path / 'broken.pth'
    if case == 'missing_key':
        torch.save(_without(state, 'image_encoder.blocks.5.attn.rel_pos_w'), path)
    elif case == 'unexpected_key':
        torch.save({**state, 'image_encoder.blocks.8.norm1.weight': torch.ones(TINY_DIM)}, path)
    elif case == 'foreign_key':
        torch.save({**state, 'pixel_mean': torch.zeros(3)}, path)
    elif case == 'wrong_shape':
        torch.save({**state, 'image_encoder.blocks.2.attn.qkv.weight': torch.zeros(96, TINY_DIM)}, path)
    elif case == 'corrupted':
        torch.save(state, path)
        path.write_bytes(path.read_bytes()[:5000])
    elif case == 'not_a_state_dict':
        torch.save([torch.zeros(3)], path)
    else:
        path = tmp_path / 'absent.pth'
    with pytest.raises(error) as info:
        SAMViTTeacher(variant='vit_tiny', checkpoint=str(path), tuning='fixed')
    for pattern in patterns:
        assert info.match(pattern)


@pytest.mark.parametrize('options, named', [(dict(tuning='lorra'), 'unknown tuning'),
                                            (dict(adalora=dict(init_rank=4)), 'unknown adalora keys'),
                                            (dict(tuning='lora', lora_target_modules=('qkv',)), 'must be among')])
def test_bad_tuning_options_are_refused_before_the_checkpoint_is_read(tmp_path, options, named):
    """A typo in the tuning options is named at once, not after a SAM checkpoint of several 100 MB has loaded
    (here the checkpoint does not even exist)."""
    with pytest.raises(ValueError, match=named):
        SAMViTTeacher(variant='vit_tiny', checkpoint=str(tmp_path / 'absent.pth'), **options)


def test_wrong_variant_is_named(tmp_path):
    path = tmp_path / 'sam_vit_tiny.pth'
    torch.save(sam_checkpoint_state(random_sam_encoder()), path)
    with pytest.raises(ValueError, match='looks like vit_tiny') as info:
        SAMViTTeacher(variant='vit_b', checkpoint=str(path), tuning='fixed')
    assert info.match(r'image_encoder.patch_embed.proj.weight is \(64, 3, 16, 16\), the model expects '
                      r'\(768, 3, 16, 16\)')
    assert info.match('missing keys .*image_encoder.blocks.10.attn.proj.bias')
    assert info.match('sam_vit_b_01ec64.pth')


@pytest.mark.parametrize('tuning, trainable, frozen', [
    ('fixed', 0, 88_883_456),
    ('pe_ln', 590_592 + 12 * 2 * 2 * 768, 88_883_456 - 590_592 - 12 * 2 * 2 * 768),
    ('lora', 12 * 2 * (8 * 768 + 768 * 8), 88_883_456),  # the reference: rank 8 on q and v only
    ('adalora', 1_991_520, 88_883_456),
])
def test_vit_b_parameter_counts(tuning, trainable, frozen):
    teacher = SAMViTTeacher(variant='vit_b', tuning=tuning)
    params = dict(teacher.named_parameters())
    # AdaLoRA's ranknum (one frozen scalar per adapted matrix) is peft bookkeeping, not a model weight.
    assert sum(p.numel() for n, p in params.items() if not p.requires_grad and 'ranknum' not in n) == frozen
    assert sum(p.numel() for p in params.values() if p.requires_grad) == trainable
    if tuning in ('lora', 'adalora'):
        assert all('lora_' in n for n, p in params.items() if p.requires_grad)
        assert not any('patch_embed' in n and 'lora_' in n for n in params)
    if tuning == 'pe_ln':
        assert not params['encoder.pos_embed'].requires_grad


def test_registered_and_token_cut_matches_full_on_a_full_image():
    teacher = MODELS.build(dict(type='SAMViTTeacher', variant='vit_tiny', tuning='lora'))
    imgs = images()
    with torch.no_grad():
        cut = teacher(imgs, (1024, 1024))
        teacher.token_cut = False
        full = teacher(imgs, (1024, 1024))
    for a, b in zip(cut, full):
        assert a.shape == (1, TINY_DIM, 64, 64)
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize('token_cut, batch', [(True, 2), (False, 1)])
def test_token_cut_shapes_and_gradients(token_cut, batch):
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora', token_cut=token_cut)
    randomise_lora(teacher)
    stages = teacher(images(batch=batch), (300, 1000))  # ceil(300 / 16) x ceil(1000 / 16) = 19 x 63 tokens
    assert [tuple(s.shape) for s in stages] == [(batch, TINY_DIM, 19, 63)] * 4
    sum(stage.mean() for stage in stages).backward()
    for name, param in lora_parameters(teacher).items():
        assert param.grad is not None and param.grad.abs().sum() > 0, name
    assert all(p.grad is None for p in teacher.parameters() if not p.requires_grad)


@pytest.mark.parametrize('tuning', ['pe_ln', 'lora', 'adalora'])
def test_training_step_changes_only_tuning_parameters(tuning):
    teacher = SAMViTTeacher(variant='vit_tiny', tuning=tuning)
    randomise_lora(teacher)
    before = {name: param.detach().clone() for name, param in teacher.named_parameters()}
    trainable = [p for p in teacher.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(trainable, lr=0.1, momentum=0.9, weight_decay=1e-4)
    stages = teacher(images(), CROP)
    loss = sum(stage.pow(2).mean() for stage in stages) + teacher.orthogonal_regularisation()
    loss.backward()
    optimizer.step()
    for name, param in teacher.named_parameters():
        if param.requires_grad:
            assert not torch.equal(param, before[name]), f'{name} did not change'
        else:
            assert torch.equal(param, before[name]), f'frozen {name} changed'


def test_update_and_allocate_reaches_target_rank():
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
    with pytest.raises(RuntimeError, match='set_total_steps'):
        teacher.update_and_allocate(0)
    total_steps = 12
    teacher.set_total_steps(total_steps)
    config = teacher.peft_tuner.peft_config[PEFT_ADAPTER]
    assert (config.total_step, config.tinit, config.tfinal, config.deltaT) == (12, 2, 6, 1)
    optimizer = torch.optim.SGD([p for p in teacher.parameters() if p.requires_grad], lr=0.5)
    imgs = images()
    for step in range(total_steps):
        stages = teacher(imgs, (160, 320))
        (sum(stage.pow(2).mean() for stage in stages) + teacher.orthogonal_regularisation()).backward()
        optimizer.step()
        teacher.update_and_allocate(step)
        optimizer.zero_grad(set_to_none=True)
    with pytest.raises(RuntimeError, match='after loss.backward'):
        teacher.update_and_allocate(0)  # gradients already zeroed (set to None)

    target_rank = 8 * TINY_ADAPTED_MATRICES
    assert teacher.peft_tuner.rankallocator.target_bgt == target_rank
    assert len(config.rank_pattern) == TINY_ADAPTED_MATRICES
    assert sum(sum(kept) for kept in config.rank_pattern.values()) == target_rank
    nonzero = sum(int((p != 0).sum()) for n, p in teacher.named_parameters() if 'lora_E' in n)
    assert nonzero == target_rank


def test_schedule_without_reduction_phase_is_refused():
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora', adalora=dict(tinit_ratio=0.5, tfinal_ratio=0.5))
    with pytest.raises(ValueError, match='rank-reduction phase'):
        teacher.set_total_steps(100)


def test_other_modes_have_no_schedule_or_regulariser():
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='lora')
    teacher.set_total_steps(10)
    teacher.update_and_allocate(0)
    assert teacher.orthogonal_regularisation().item() == 0.0


def test_orthogonal_regularisation_matches_hand_computation():
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
    assert teacher.orthogonal_regularisation().item() > 0  # A, B start near zero: ||P P^T - I|| ~ sqrt(r)
    lora = {n: p for n, p in lora_parameters(teacher).items() if 'lora_A' in n or 'lora_B' in n}
    assert len(lora) == 2 * TINY_ADAPTED_MATRICES
    torch.manual_seed(4)
    with torch.no_grad():  # orthonormal rows of every A and columns of every B: each term vanishes ...
        for name, param in lora.items():
            rows_first = param if 'lora_A' in name else param.T
            basis, _ = torch.linalg.qr(torch.randn(rows_first.shape[1], rows_first.shape[0]))
            rows_first.copy_(basis.T)
        assert teacher.orthogonal_regularisation().item() < 1e-5
        # ... except one layer's A, scaled by 2: A A^T = 4 I, so its term is ||3 I||_F = 3 sqrt(r).
        param = lora['encoder.blocks.4.mlp.lin1.lora_A.default']
        param.mul_(2)
        by_hand = torch.norm(param @ param.T - torch.eye(param.shape[0]), p='fro')
    assert by_hand.item() == pytest.approx(3 * math.sqrt(12), rel=1e-5)
    expected = 0.1 * by_hand / len(lora)
    regulariser = teacher.orthogonal_regularisation()
    torch.testing.assert_close(regulariser, expected, rtol=1e-4, atol=1e-6)
    regulariser.backward()
    assert param.grad is not None and param.grad.abs().sum() > 0


def test_neck_kept_on_request(tmp_path):
    reference = random_sam_encoder()
    path = tmp_path / 'no_neck.pth'
    torch.save({k: v for k, v in reference.state_dict().items() if not k.startswith('neck.')}, path)
    with pytest.raises(ValueError, match='neck.0.weight'):
        SAMViTTeacher(variant='vit_tiny', checkpoint=str(path), use_neck=True)
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='fixed', use_neck=True)
    assert teacher.out_channels == 256
    with torch.no_grad():
        assert [tuple(s.shape) for s in teacher(images(), CROP)] == [(1, 256, 20, 64)] * 4


@pytest.mark.parametrize('token_cut', [True, False])
def test_the_crop_alone_equals_the_crop_padded_to_the_encoder_input(token_cut):
    """The pipeline no longer pads the image: the teacher adds SAM's bottom/right zero padding where its
    tokens need it, so the crop alone gives what the crop zero-padded to 1024 x 1024 gave."""
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='lora', token_cut=token_cut)
    crop = torch.randn(1, 3, 300, 1000)  # not a multiple of 16: the last token row / column is half padding
    padded = F.pad(crop, (0, 24, 0, 724))
    with torch.no_grad():
        for a, b in zip(teacher(crop), teacher(padded, (300, 1000))):
            assert a.shape == (1, TINY_DIM, 19, 63)
            torch.testing.assert_close(a, b)


def test_final_budget_is_fixed_even_when_its_step_is_skipped():
    """peft fixes the final budget only at step T - tfinal; an AMP-skipped step there (non-finite gradients) must
    not leave the ranks unmasked: the next allocating step applies the final mask."""
    teacher = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
    total_steps = 12
    teacher.set_total_steps(total_steps)
    config = teacher.peft_tuner.peft_config[PEFT_ADAPTER]
    final_step = config.total_step - config.tfinal  # 6
    optimizer = torch.optim.SGD([p for p in teacher.parameters() if p.requires_grad], lr=0.5)
    imgs = images()
    for step in range(total_steps):
        stages = teacher(imgs, (160, 320))
        (sum(stage.pow(2).mean() for stage in stages) + teacher.orthogonal_regularisation()).backward()
        if step == final_step:  # the grad scaler's view of this step: overflowed, skipped
            next(p for n, p in teacher.named_parameters() if 'lora_A' in n).grad[0, 0] = float('inf')
            assert teacher.update_and_allocate(step) is False
            assert teacher.adalora_state()['budget_final'] is False
        else:
            optimizer.step()
            assert teacher.update_and_allocate(step) is True
        optimizer.zero_grad(set_to_none=True)
    state = teacher.adalora_state()
    assert state['budget_final'] is True
    target_rank = 8 * TINY_ADAPTED_MATRICES
    assert sum(sum(kept) for kept in config.rank_pattern.values()) == target_rank
    assert sum(int((p != 0).sum()) for n, p in teacher.named_parameters() if 'lora_E' in n) == target_rank
    # a checkpoint written before 'budget_final' existed: told apart by peft's emptied importance averages
    fresh = SAMViTTeacher(variant='vit_tiny', tuning='adalora')
    fresh.load_adalora_state({k: v for k, v in state.items() if k != 'budget_final'})
    assert fresh.adalora_state()['budget_final'] is True
