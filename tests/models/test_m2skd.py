"""M2SKD: the affinity loss by hand, the losses on fused synthetic scans, single-scan inference."""
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from elite.models.losses import affinity_loss

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_affinity_loss_by_hand_and_zero_when_teacher_and_student_agree():
    student = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [3.0, 0.0]])
    teacher = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 2.0], [0.0, 1.0]])
    groups = [torch.tensor([0, 1]), torch.tensor([2, 3])]
    # group 0: student cos = [[1, 0], [0, 1]], teacher (parallel rows) all 1 -> mean |diff| = 2/4;
    # group 1: student cos(s2, s3) = 1/sqrt(2), teacher rows parallel (cos 1) -> mean |diff| = 2 (1 - 0.7071) / 4
    expected = (0.5 + 2 * (1 - 1 / np.sqrt(2)) / 4) / 2
    torch.testing.assert_close(affinity_loss(student, teacher, groups), torch.tensor(expected, dtype=torch.float32))
    assert affinity_loss(student, 2 * student, groups) == 0  # cosines ignore scale
    assert affinity_loss(student, teacher, []) == 0


def build(config, root, **model_args):
    cfg = Config.fromfile(os.path.join(REPO, config))
    cfg.model.update(model_args)
    for transform in cfg.train_dataloader.dataset.pipeline:
        if transform['type'] == 'MultiScanHardInstances':
            transform['min_frame'] = 0  # the test sequences have 2 frames; the configs fuse from frame 4 on
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=root))
    np.random.seed(0)
    return model, dataset


def test_m2skd_losses_on_fused_scans_and_single_scan_prediction(synthetic_root):
    model, dataset = build('configs/m2skd_demo.py', synthetic_root)
    batch = model.data_preprocessor(pseudo_collate([dataset[1]]), training=True)
    sample = batch['data_samples'][0]
    assert (~sample.original_mask).any()  # frame 1 gathered instances from frame 0
    assert len(model.multiscan.instance_groups(batch['data_samples'])) > 0
    assert model.multiscan.loss_style == 'reference' and model.multiscan.loss_feat_kd is None
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz', 'loss_multiscan_seg', 'loss_logit_kd', 'loss_affinity_kd'}
    assert all(torch.isfinite(v) and v >= 0 for v in losses.values())
    assert losses['loss_multiscan_seg'] > 0  # the gathered points changed some voxels' labels
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model.predict(batch['inputs'], batch['data_samples'])[0]
    assert len(out.pred_pts_seg.pts_semantic_mask) == int(sample.original_mask.sum())


def test_reference_terms_equal_the_released_formulas(synthetic_root):
    """The three terms of the released code, written out with torch's functions on the model's own logits:
    0.2 x CE on the changed voxels' points, 5 x the thresholded log-ratio term, the per-class affinity sum."""
    model, dataset = build('configs/m2skd_demo.py', synthetic_root, multiscan=dict(max_instance_points=10 ** 6))
    batch = model.data_preprocessor(pseudo_collate([dataset[1]]), training=True)
    inputs, samples = batch['inputs'], batch['data_samples']
    single = inputs['single_scan']
    torch.manual_seed(1)
    with torch.no_grad():
        # the untrained student agrees with itself on the fused scan: noise makes the terms non-zero
        student = model.decode_head(model.extract_feat(single))
        student = student + torch.randn_like(student)
        losses = model.multiscan.loss(inputs, samples, (model.backbone, model.decode_head),
                                      model.extract_feat(single), student)
        teacher = model.decode_head(model.backbone(inputs['voxels']))
    original = samples[0].original_mask
    labels = samples[0].gt_pts_seg.pts_semantic_mask.long()
    voxel = inputs['voxels']['point2voxel_map']
    # changed: the voxel's majority label over all its points differs from the one over its original points
    def majority(points):
        return {v: torch.bincount(labels[points][voxel[points] == v], minlength=20).argmax().item()
                for v in voxel[points].unique().tolist()}
    fused, alone = majority(torch.arange(len(labels))), majority(original.nonzero()[:, 0])
    changed = torch.tensor([fused[v] != alone.get(v, 19) for v in voxel.tolist()])
    target = torch.where(changed, labels, torch.full_like(labels, 19))
    torch.testing.assert_close(losses['loss_multiscan_seg'], 0.2 * F.cross_entropy(teacher, target, ignore_index=19))
    t = teacher[original]
    p_s, p_t = F.softmax(student * 0.3, 1), F.softmax(t * 0.3, 1)
    row = (p_t * torch.log((p_t + 1e-6) / (p_s + 1e-6)).abs()).mean(1)
    assert 0 < (row > 0.01).sum() < len(row)  # the threshold keeps some rows and not others
    torch.testing.assert_close(losses['loss_logit_kd'], 5 * row[row > 0.01].mean())
    affinity = 0
    for c in (1, 2, 3, 4, 5, 6, 7):  # SemanticKITTI's hard classes: the vehicles but car, person, the riders
        rows = (labels[original] == c).nonzero()[:, 0]
        if len(rows) > 1:
            s_n, t_n = F.normalize(student[rows], dim=1), F.normalize(t[rows], dim=1)
            affinity = affinity + (s_n @ s_n.t() - t_n @ t_n.t()).abs().mean()
    assert affinity > 0
    torch.testing.assert_close(losses['loss_affinity_kd'], torch.as_tensor(affinity, dtype=torch.float32))


def test_abstract_loss_style_option(synthetic_root):
    model, dataset = build('configs/m2skd_demo.py', synthetic_root, multiscan=dict(loss_style='abstract'))
    batch = model.data_preprocessor(pseudo_collate([dataset[1]]), training=True)
    losses = model(**batch, mode='loss')
    # the teacher's own loss is its head's, under the prefix multiscan
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz', 'multiscan.loss_sem_seg', 'multiscan.loss_lovasz',
                           'loss_feat_kd', 'loss_logit_kd', 'loss_affinity_kd'}
    assert all(torch.isfinite(v) and v >= 0 for v in losses.values())


def test_abstract_logit_term_is_t_squared_batchmean_kl():
    """The abstract's logit term, T^2 KL(softmax(t / T) || softmax(s / T)) per point ('batchmean'), written out."""
    from elite.models.segmentors.m2skd import STYLE_LOSSES
    loss = MODELS.build(STYLE_LOSSES['abstract']['loss_logit_kd'])
    torch.manual_seed(0)
    student, teacher = torch.randn(7, 19), torch.randn(7, 19)
    t = 3.3
    p_t, log_p_s = torch.softmax(teacher / t, 1), torch.log_softmax(student / t, 1)
    expected = t ** 2 * (p_t * (p_t.log() - log_p_s)).sum() / 7
    torch.testing.assert_close(loss(student, teacher), expected)
    # under AMP the logits come in float16: the term is computed in float32 all the same
    with torch.autocast('cpu', dtype=torch.float16):
        half = loss(student.half(), teacher.half())
    assert half.dtype == torch.float32
    torch.testing.assert_close(half, expected, rtol=1e-2, atol=1e-3)


def test_a_term_is_configured_by_its_loss_and_switched_off_by_none(synthetic_root):
    model, dataset = build('configs/m2skd_demo.py', synthetic_root,
                           multiscan=dict(loss_logit_kd=dict(loss_weight=2.5), loss_affinity_kd=None))
    assert model.multiscan.loss_logit_kd.loss_weight == 2.5 and model.multiscan.loss_logit_kd.scale == 0.3
    batch = model.data_preprocessor(pseudo_collate([dataset[1]]), training=True)
    assert 'loss_affinity_kd' not in model(**batch, mode='loss')


def test_the_abstract_teachers_own_losses_take_a_weight(synthetic_root):
    losses = {}
    for weight in (1.0, 0.5):
        model, dataset = build('configs/m2skd_demo.py', synthetic_root,
                               multiscan=dict(loss_style='abstract', loss_multiscan_seg=dict(loss_weight=weight)))
        batch = model.data_preprocessor(pseudo_collate([dataset[1]]), training=True)
        losses[weight] = model(**batch, mode='loss')
    for key in ('multiscan.loss_sem_seg', 'multiscan.loss_lovasz'):
        torch.testing.assert_close(losses[0.5][key], 0.5 * losses[1.0][key])


def test_options_of_earlier_versions_name_their_new_place():
    cfg = Config.fromfile(os.path.join(REPO, 'configs/m2skd_demo.py'))
    cfg.model.update(multiscan_weights=dict(seg=0.5), temperature=2.0)
    with pytest.raises(ValueError, match=r'model\.multiscan=dict'):
        MODELS.build(cfg.model)
    cfg = Config.fromfile(os.path.join(REPO, 'configs/elite_m2skd_demo.py'))
    cfg.model.point_decoder = cfg.model.pop('auxiliary_head')
    with pytest.raises(ValueError, match='point_decoder is now auxiliary_head'):
        MODELS.build(cfg.model)


def test_a_weight_for_a_term_the_style_lacks_is_refused():
    cfg = Config.fromfile(os.path.join(REPO, 'configs/m2skd_demo.py'))
    cfg.model.multiscan = dict(loss_feat_kd=dict(loss_weight=1.0))  # the reference style has no feature term
    with pytest.raises(ValueError, match='give a whole loss config'):
        MODELS.build(cfg.model)
    cfg.model.multiscan = dict(loss_feat_kd=dict(type='mmdet.MSELoss', loss_weight=1.0))
    assert MODELS.build(cfg.model).multiscan.loss_feat_kd.loss_weight == 1.0


def test_changed_points_are_those_of_voxels_whose_majority_label_changed(synthetic_root):
    model, _ = build('configs/m2skd_demo.py', synthetic_root)
    # voxel 0: originals road road + gathered car (majority stays road); voxel 1: only gathered car points
    # (single-scan label: ignore -> car, changed); voxel 2: original car 1 + gathered person 2 (car -> person)
    # voxel 3: one original person point and three gathered ones: the single-scan label, voted by the original
    # points alone (the reference's [:org_len]), is person too: unchanged, however many points were gathered
    voxels = dict(point2voxel_map=torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3]), coors=torch.zeros(4, 4))
    labels = torch.tensor([8, 8, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5])
    original = torch.tensor([True, True, False, False, False, True, False, False, True, False, False, False])
    changed = model.multiscan.changed_points(voxels, labels, original, 19)
    assert changed.tolist() == [False] * 3 + [True] * 5 + [False] * 4


def test_affinity_subsets_change_from_step_to_step(synthetic_root):
    model, _ = build('configs/m2skd_demo.py', synthetic_root, multiscan=dict(max_instance_points=5))
    labels = torch.full((100,), 5)  # 100 person points
    first, second = model.multiscan.class_groups(labels)[0], model.multiscan.class_groups(labels)[0]
    assert len(first) == len(second) == 5 and not torch.equal(first, second)


def test_elite_and_m2skd_at_once(synthetic_root):
    model, dataset = build('configs/elite_m2skd_demo.py', synthetic_root)
    batch = model.data_preprocessor(pseudo_collate([dataset[1], dataset[0]]), training=True)
    sample = batch['data_samples'][0]
    # pixels belong to original points only, and are re-indexed to the single scan by the model
    assert sample.original_mask[sample.point2img_index].all()
    losses = model(**batch, mode='loss')
    expected = {'kd_0.loss_kd', 'patch_fused.loss_sem_seg', 'loss_orth', 'loss_logit_kd', 'loss_affinity_kd'}
    assert expected <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


def test_a_separate_teacher_without_its_own_loss_is_refused():
    """Every KD term detaches the teacher: without its own loss a 'separate' copy would never train and would stop
    DDP (parameters without gradients); 'frozen' is the way to say that."""
    cfg = Config.fromfile(os.path.join(REPO, 'configs/m2skd_demo.py'))
    for off in (None, dict(loss_weight=0.0)):
        cfg.model.multiscan = dict(teacher='separate', loss_multiscan_seg=off)
        with pytest.raises(ValueError, match="teacher='frozen'"):
            MODELS.build(cfg.model)
    cfg.model.multiscan = dict(teacher='frozen')
    assert all(not p.requires_grad for p in MODELS.build(cfg.model).multiscan.backbone.parameters())


def test_a_separate_teacher_of_an_earlier_checkpoint_loads_in_place():
    """Earlier versions saved the copy as multiscan_backbone / multiscan_head; such a checkpoint loads strictly."""
    cfg = Config.fromfile(os.path.join(REPO, 'configs/m2skd_demo.py'))
    cfg.model.multiscan = dict(teacher='separate')
    model = MODELS.build(cfg.model)
    state = model.state_dict()
    old = type(state)((k.replace('multiscan.backbone.', 'multiscan_backbone.').replace('multiscan.head.',
                                                                                       'multiscan_head.'),
                       v + 1 if v.is_floating_point() else v) for k, v in state.items())
    old._metadata = state._metadata
    assert any(k.startswith('multiscan_backbone.') for k in old) and not any(k.startswith('multiscan.') for k in old)
    fresh = MODELS.build(cfg.model)
    fresh.load_state_dict(old, strict=True)
    for key, value in fresh.state_dict().items():
        if value.is_floating_point():
            torch.testing.assert_close(value, state[key] + 1, msg=key)
