"""Losses as the reference computes them: class-weighted CE normalisation, voxel majority labels, PPMSKD's
per-voxel stage heads, M2SKD's released terms. Expected values come from the reference formulas written out
here (torch's ``nn.CrossEntropyLoss(weight=w)``, 2DPASS ``voxelize_labels``, M2SKD's logit / affinity code)."""
import math

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS

from elite.models.losses import affinity_loss, log_ratio_kd_loss
from elite.models.utils import majority_vote


def test_weighted_mean_cross_entropy_divides_by_the_targets_weights():
    weights = [2.0, 1.0, 4.0]
    loss = MODELS.build(dict(type='WeightedMeanCrossEntropyLoss', class_weight=weights))
    logits = torch.tensor([[2.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 3.0], [1.0, 1.0, 1.0]])
    labels = torch.tensor([0, 1, 2, 3])  # 3 = ignored
    nll = -logits.log_softmax(1)
    by_hand = (2 * nll[0, 0] + 1 * nll[1, 1] + 4 * nll[2, 2]) / (2 + 1 + 4)
    torch.testing.assert_close(loss(logits, labels, ignore_index=3), by_hand)
    # the reference's nn.CrossEntropyLoss(weight=w, ignore_index=...) itself
    torch.testing.assert_close(loss(logits, labels, ignore_index=3),
                               F.cross_entropy(logits, labels, weight=torch.tensor(weights), ignore_index=3))
    # mmdet's avg_non_ignore divides by the number of targets instead (the departure option)
    mmdet = MODELS.build(dict(type='mmdet.CrossEntropyLoss', use_sigmoid=False, avg_non_ignore=True,
                              class_weight=weights))
    torch.testing.assert_close(mmdet(logits, labels, ignore_index=3), by_hand * 7 / 3)
    # no labelled target: zero, not NaN
    assert loss(logits, torch.full((4,), 3), ignore_index=3).item() == 0


def reference_voxelize_labels(labels, full_coors):
    """2DPASS / ELiTe ``voxelize_labels``: unique (label, voxel) rows with counts, the max count per voxel."""
    lbxyz = torch.cat([labels.reshape(-1, 1), full_coors], dim=-1)
    unq_lbxyz, count = torch.unique(lbxyz, return_counts=True, dim=0)
    inv_ind = torch.unique(unq_lbxyz[:, 1:], return_inverse=True, dim=0)[1]
    best = torch.full((int(inv_ind.max()) + 1,), -1)
    winner = torch.zeros_like(best)
    for row, (voxel, c) in enumerate(zip(inv_ind.tolist(), count.tolist())):
        if c > best[voxel]:  # first maximum: the lowest label, as rows are sorted by label first
            best[voxel], winner[voxel] = c, row
    return unq_lbxyz[:, 0][winner]


def test_majority_vote_matches_the_reference_voxel_labels():
    g = torch.Generator().manual_seed(0)
    coors = torch.randint(0, 4, (500, 2), generator=g)
    labels = torch.randint(0, 20, (500,), generator=g)  # 19 = ignore votes like any label
    voxels, point2voxel = torch.unique(coors, dim=0, return_inverse=True)
    expected = reference_voxelize_labels(labels, coors)
    assert torch.equal(majority_vote(labels, point2voxel, len(voxels)), expected)
    # a voxel won by the ignore label keeps it (ignored by the losses)
    assert majority_vote(torch.tensor([19, 19, 3]), torch.tensor([0, 0, 0]), 1).tolist() == [19]


def test_reference_logit_term_is_the_released_formula():
    student = torch.tensor([[2.0, 0.0, -1.0], [0.3, 0.2, 0.1], [1.0, 0.0, 0.0]])
    teacher = torch.tensor([[0.0, 2.0, 0.0], [0.3, 0.2, 0.1], [1.0, 0.1, 0.0]])
    p_s, p_t = (student * 0.3).softmax(1), (teacher * 0.3).softmax(1)
    rows = [sum(p_t[r, c] * abs(math.log((p_t[r, c] + 1e-6) / (p_s[r, c] + 1e-6))) for c in range(3)) / 3
            for r in range(3)]
    kept = [v for v in rows if v > 0.01]
    assert len(kept) == 1  # the identical row (0) and the nearly identical one (< 0.01) are dropped
    torch.testing.assert_close(log_ratio_kd_loss(student, teacher), kept[0].float())
    assert log_ratio_kd_loss(student, student).item() == 0


def test_class_affinity_sums_over_classes():
    torch.manual_seed(0)
    student, teacher = torch.randn(6, 19), torch.randn(6, 19)
    groups = [torch.tensor([0, 1, 2]), torch.tensor([3, 4, 5])]

    def one(index):
        s = F.cosine_similarity(student[index][:, None], student[index][None], dim=2)
        t = F.cosine_similarity(teacher[index][:, None], teacher[index][None], dim=2)
        return (s - t).abs().mean()
    torch.testing.assert_close(affinity_loss(student, teacher, groups, reduction='sum'),
                               one(groups[0]) + one(groups[1]))
    torch.testing.assert_close(affinity_loss(student, teacher, groups), (one(groups[0]) + one(groups[1])) / 2)
