"""PPMSKD: losses, gradients, the frozen teacher, AdaLoRA in the loop, and teacher-free inference."""
import os
import re
from collections import OrderedDict

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.optim import OptimWrapper

from elite.models.student_export import export_student_checkpoint

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def demo_config(root):
    cfg = Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py'))
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].dataset.data_root = root
    return cfg


@pytest.fixture(scope='module')
def setup(synthetic_root):
    cfg = demo_config(synthetic_root)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    np.random.seed(0)
    batch = pseudo_collate([dataset[0], dataset[1]])
    return cfg, model, batch


def test_kl_term_equals_hand_computation(setup):
    _, model, _ = setup
    student = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    teacher = torch.tensor([[1.0, 1.0, 0.0], [-1.0, 2.0, 0.0]])
    p = teacher.softmax(1)
    q_log = student.log_softmax(1)
    expected = (p * (p.log() - q_log)).sum() / p.numel()  # element-wise mean, as the reference code
    assert model.loss_kd.loss_weight == 0.05 / 4  # the configured mmdet loss, weight 0.05 / 4 (reference)
    torch.testing.assert_close(model.kd_loss(student, teacher), 0.05 / 4 * expected)
    # the KL's per-point mean (F.kl_div 'batchmean') is the same loss with loss_weight x num_classes
    per_point = MODELS.build(dict(type='mmdet.KnowledgeDistillationKLDivLoss', T=1, loss_weight=3))
    torch.testing.assert_close(per_point(student, teacher), (p * (p.log() - q_log)).sum() / 2)
    assert model.kd_loss(student[:0], teacher[:0]) == 0


def test_losses_are_named_and_no_kd_gradient_reaches_the_teacher(setup):
    _, model, batch = setup
    model.train()
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    # mmdet3d's naming: each head's losses under its prefix (auxiliary heads aux_I, as EncoderDecoder3D)
    expected = {'loss_sem_seg', 'loss_lovasz', 'patch_fused.loss_sem_seg', 'patch_fused.loss_lovasz', 'loss_orth'} | {
        f'{kind}_{i}.loss_{term}' for kind in ('aux', 'patch') for term in ('sem_seg', 'lovasz')
        for i in range(4)} | {f'kd_{i}.loss_kd' for i in range(4)}
    assert set(losses) == expected
    assert all(torch.isfinite(v) for v in losses.values())
    model.zero_grad()
    sum(losses[f'kd_{i}.loss_kd'] for i in range(4)).backward()
    teacher_grads = [p.grad for p in model.teacher.parameters() if p.grad is not None and p.grad.abs().sum() > 0]
    assert teacher_grads == []
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.auxiliary_head.parameters())
    model.zero_grad()


def test_training_step_freezes_teacher_and_tunes_lora(setup):
    _, model, batch = setup
    model.train()
    frozen = {n: p.detach().clone() for n, p in model.teacher.named_parameters() if not p.requires_grad}
    lora = {n: p.detach().clone() for n, p in model.teacher.named_parameters() if p.requires_grad}
    assert frozen and lora and all('lora' in n for n in lora)
    optim = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1))
    log_vars = model.train_step(batch, optim)
    assert 'loss_orth' in log_vars and log_vars['loss_orth'] > 0
    after = dict(model.teacher.named_parameters())
    assert all(torch.equal(after[n], v) for n, v in frozen.items())
    assert any(not torch.equal(after[n], v) for n, v in lora.items())


def test_stage_heads_given_one_per_stage(synthetic_root):
    """auxiliary_head as a list: one head per stage as given (here a wider hidden layer at stage 2); a list of the
    wrong length, or none at all with multi-stage KD, is refused."""
    cfg = demo_config(synthetic_root)
    one = cfg.model.pop('auxiliary_head')
    heads = [dict(one, type='PointDecoder', channels=64, num_classes=19) for _ in range(4)]
    heads[2]['mid_channels'] = 256
    model = MODELS.build(dict(cfg.model, auxiliary_head=heads))
    assert [h.conv_seg[0].out_features for h in model.auxiliary_head] == [128, 128, 256, 128]
    with pytest.raises(ValueError, match='lists 3 heads for 4 stages'):
        MODELS.build(dict(cfg.model, auxiliary_head=heads[:3]))
    with pytest.raises(ValueError, match='set model.auxiliary_head'):
        MODELS.build(cfg.model)


def test_single_stage_kd_distils_final_heads(synthetic_root, setup):
    _, _, batch = setup
    cfg = demo_config(synthetic_root)
    cfg.model.kd_mode = 'single_stage'
    model = MODELS.build(cfg.model).train()
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz', 'patch_fused.loss_sem_seg', 'patch_fused.loss_lovasz',
                           'loss_kd', 'loss_orth'}
    assert not model.with_auxiliary_head


def test_inference_is_the_student_alone_and_matches_the_export(synthetic_root, setup, tmp_path):
    cfg, model, _ = setup
    model.eval()
    path = str(tmp_path / 'elite.pth')
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    student_keys = [k for k in model.state_dict() if k.split('.', 1)[0] in ('backbone', 'decode_head')]
    assert export_student_checkpoint(path, str(tmp_path / 'student.pth')) == len(student_keys)

    student_cfg = Config.fromfile(os.path.join(REPO, 'configs/spvcnnlite_demo.py'))
    student = MODELS.build(student_cfg.model).eval()
    from mmengine.runner import load_checkpoint
    load_checkpoint(student, str(tmp_path / 'student.pth'), strict=True)
    test_set = DATASETS.build(dict(cfg.test_dataloader.dataset))
    batch = pseudo_collate([test_set[0]])
    with torch.no_grad():
        ours = model.test_step(batch)[0]
        theirs = student.test_step(batch)[0]
    torch.testing.assert_close(ours.pts_seg_logits.pts_seg_logits, theirs.pts_seg_logits.pts_seg_logits)
    assert torch.equal(ours.pred_pts_seg.pts_semantic_mask, theirs.pred_pts_seg.pts_semantic_mask)


def test_stage_heads_are_per_voxel_on_the_voxel_branch_at_scales_1_2_4_8(setup):
    """stage_supervision='voxel' (default, as ELiTe's arch_elite.py): stage i's head classifies the voxel-branch
    output at scale 1, 2, 4, 8, against the majority labels of the voxels quantised from the points by 2DPASS's
    formula; the KL reads the voxel logits at each projected point."""
    from test_reference_losses import reference_voxelize_labels

    from elite.models.utils import reference_indices
    _, model, batch = setup
    assert model.stage_supervision == 'voxel'
    model.eval()
    data = model.data_preprocessor(batch, training=True)
    inputs, samples = data['inputs'], data['data_samples']
    voxels = inputs['voxels']
    labels = torch.cat([s.gt_pts_seg.pts_semantic_mask for s in samples]).long()
    point_index = inputs['point_pixels'].point_index
    with torch.no_grad():
        features = model.extract_feat(inputs)
        cells = torch.tensor(voxels['spatial_shape'])
        lo, hi = voxels['point_cloud_range'][:3], voxels['point_cloud_range'][3:]
        batch_idx = voxels['point_coors'][:, :1].long()
        for stage, scale in enumerate((1, 2, 4, 8)):
            full_coors = torch.cat([batch_idx, reference_indices(voxels['points'][:, :3], (cells + scale - 1) // scale,
                                                                 lo, hi)], 1)
            unique, point2voxel = torch.unique(full_coors, dim=0, return_inverse=True)
            logits, voxel_labels, point_logits = model.student_stage(features, stage, labels, point_index)
            branch = features.branch_features[stage]
            assert len(branch) == len(unique) == len(logits)
            assert torch.equal(voxel_labels, reference_voxelize_labels(labels, full_coors))
            torch.testing.assert_close(point_logits, model.auxiliary_head[stage](branch)[point2voxel[point_index]])
    model.train()


def test_point_stage_supervision_option(setup):
    _, model, batch = setup
    model.stage_supervision = 'point'
    try:
        data = model.data_preprocessor(batch, training=True)
        labels = torch.cat([s.gt_pts_seg.pts_semantic_mask for s in data['data_samples']]).long()
        point_index = data['inputs']['point_pixels'].point_index
        with torch.no_grad():
            features = model.extract_feat(data['inputs'])
            logits, stage_labels, point_logits = model.student_stage(features, 1, labels, point_index)
        assert len(logits) == len(labels) and torch.equal(stage_labels, labels)
        torch.testing.assert_close(point_logits, model.auxiliary_head[1](features[1])[point_index])
    finally:
        model.stage_supervision = 'voxel'


def test_checkpoints_of_the_earlier_head_layout_still_load(setup):
    """Before the heads were decode heads, their linear layers were saved as point_decoders.I.classifier.N (the
    stage heads, now auxiliary_head.I.conv_seg.N), patch_decoders.I.classifier.N and fused_classifier.N: such a
    checkpoint loads strictly, every value in place."""
    cfg, model, _ = setup
    state = model.state_dict()
    renames = [(r'^auxiliary_head(\.\d+\.)conv_seg\.', r'point_decoders\1classifier.'),
               (r'^(patch_decoders\.\d+\.classifier\.)conv_seg\.', r'\1'),
               (r'^fused_classifier\.conv_seg\.', 'fused_classifier.')]
    old = OrderedDict()
    old._metadata = state._metadata  # spconv layout version 2: mmdet3d's load hook leaves the kernels alone
    for key, value in state.items():
        for pattern, target in renames:
            key = re.sub(pattern, target, key)
        old[key] = value + 1 if value.is_floating_point() else value.clone()
    assert {'point_decoders.3.classifier.0.weight', 'patch_decoders.1.classifier.2.bias',
            'fused_classifier.0.weight'} <= set(old)
    fresh = MODELS.build(cfg.model)
    fresh.load_state_dict(old, strict=True)
    for key, value in fresh.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, state[key] + 1, msg=key)
