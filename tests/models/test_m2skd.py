"""M2SKD: the affinity loss by hand, the losses on fused synthetic scans, single-scan inference."""
import os

import numpy as np
import pytest
import torch
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from elite.models.segmentors.m2skd import affinity_loss

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
    assert len(model.instance_groups(batch['data_samples'])) > 0
    assert model.loss_style == 'reference' and model.multiscan_weights['feat'] == 0
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz', 'loss_multiscan_seg', 'loss_logit_kd', 'loss_affinity_kd'}
    assert all(torch.isfinite(v) and v >= 0 for v in losses.values())
    assert losses['loss_multiscan_seg'] > 0  # the gathered points changed some voxels' labels
    sum(losses.values()).backward()
    model.eval()
    with torch.no_grad():
        out = model.predict(batch['inputs'], batch['data_samples'])[0]
    assert len(out.pred_pts_seg.pts_semantic_mask) == int(sample.original_mask.sum())


def test_abstract_loss_style_option(synthetic_root):
    model, dataset = build('configs/m2skd_demo.py', synthetic_root, loss_style='abstract',
                           multiscan_weights=dict(seg=1.0, feat=1.0, logit=1.0, affinity=1.0), temperature=3.3)
    batch = model.data_preprocessor(pseudo_collate([dataset[1]]), training=True)
    losses = model(**batch, mode='loss')
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz', 'loss_multiscan_seg', 'loss_feat_kd', 'loss_logit_kd',
                           'loss_affinity_kd'}
    assert all(torch.isfinite(v) and v >= 0 for v in losses.values())


def test_changed_points_are_those_of_voxels_whose_majority_label_changed(synthetic_root):
    model, _ = build('configs/m2skd_demo.py', synthetic_root)
    # voxel 0: originals road road + gathered car (majority stays road); voxel 1: only gathered car points
    # (single-scan label: ignore -> car, changed); voxel 2: original car 1 + gathered person 2 (car -> person)
    # voxel 3: one original person point and three gathered ones: the single-scan label, voted by the original
    # points alone (the reference's [:org_len]), is person too: unchanged, however many points were gathered
    voxels = dict(point2voxel_map=torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 3, 3]), coors=torch.zeros(4, 4))
    labels = torch.tensor([8, 8, 0, 0, 0, 0, 5, 5, 5, 5, 5, 5])
    original = torch.tensor([True, True, False, False, False, True, False, False, True, False, False, False])
    assert model.changed_points(voxels, labels, original).tolist() == [False] * 3 + [True] * 5 + [False] * 4


def test_affinity_subsets_change_from_step_to_step(synthetic_root):
    model, _ = build('configs/m2skd_demo.py', synthetic_root, max_instance_points=5)
    labels = torch.full((100,), 5)  # 100 person points
    first, second = model.class_groups(labels)[0], model.class_groups(labels)[0]
    assert len(first) == len(second) == 5 and not torch.equal(first, second)


def test_elite_and_m2skd_at_once(synthetic_root):
    model, dataset = build('configs/elite_m2skd_demo.py', synthetic_root)
    batch = model.data_preprocessor(pseudo_collate([dataset[1], dataset[0]]), training=True)
    sample = batch['data_samples'][0]
    # pixels belong to original points only, and are re-indexed to the single scan by the model
    assert sample.original_mask[sample.point2img_index].all()
    losses = model(**batch, mode='loss')
    expected = {'loss_kd_stage0', 'loss_patch_fused_sem_seg', 'loss_orth', 'loss_logit_kd', 'loss_affinity_kd'}
    assert expected <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())


def test_a_separate_teacher_without_its_own_loss_is_refused():
    """Every KD term detaches the teacher: with seg weight 0 a 'separate' copy would never train and would stop DDP
    (parameters without gradients); 'frozen' is the way to say that."""
    cfg = Config.fromfile(os.path.join(REPO, 'configs/m2skd_demo.py'))
    cfg.model.update(multiscan_teacher='separate', multiscan_weights=dict(seg=0.0))
    with pytest.raises(ValueError, match="multiscan_teacher='frozen'"):
        MODELS.build(cfg.model)
    cfg.model.multiscan_teacher = 'frozen'
    assert all(not p.requires_grad for p in MODELS.build(cfg.model).multiscan_backbone.parameters())
