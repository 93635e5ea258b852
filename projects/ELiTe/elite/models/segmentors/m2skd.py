"""M2SKD: multi-scan to single-scan knowledge distillation.

The batch holds fused scans (``MultiScanHardInstances``: the scan plus hard-class instances gathered from
the previous scans) and ``original_mask``. The student sees only the original points; the teacher, the
student network itself by default (shared weights) or a separate copy, sees the fused scan and is also
trained on it (``loss_multiscan_seg``). The student learns from the teacher at the original points, in one
of two loss styles (``loss_style``):

``'reference'`` (default; the released code, skyshoumeng/M2SKD ``segmentator_3d_asymm_spconv.py`` and
``train_cylinder_asym.py``):

- ``loss_multiscan_seg``: 0.2 x unweighted CE of the teacher on the fused points whose 0.1 m voxel's majority
  label differs from that voxel's label in the single scan (mostly the gathered instance points);
- no feature term (its weight is 0 there);
- ``loss_logit_kd``: 5 x the mean, over the points where it exceeds 0.01, of
  ``mean_c p_t |log((p_t + 1e-6) / (p_s + 1e-6))|`` with ``p = softmax(0.3 logits)`` (T = 1 / 0.3, no T^2);
- ``loss_affinity_kd``: per hard class, the cosine-similarity matrix of the class's points' 19-d logits, L1
  between teacher and student, summed over the classes.

``'abstract'`` (the paper's abstract): the teacher's full segmentation loss; ``loss_feat_kd``, the mean squared
error between the stage features; ``loss_logit_kd``, KL between the softened distributions times T^2 (T about
3.3); ``loss_affinity_kd``, per hard-class *instance* the cosine-similarity matrix of its points' stage
features, L1 between teacher and student.

The teacher's side is detached in every KD term. Inference uses the single-scan student only. The reference
computes its terms per Cylinder3D voxel; this student predicts per point, so they are per point here.
"""
import copy
from typing import Dict, List, Optional, Sequence

import torch
import torch.nn.functional as F
from mmdet3d.datasets import SemanticKittiDataset
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList
from torch import Tensor

from ...datasets.transforms.multiscan import HARD_CLASSES
from ..stage_features import StageFeatures
from ..utils import majority_vote
from .point_segmentor import PointVoxelSegmentor
from .ppmskd import PPMSKD

LOSS_STYLES = ('reference', 'abstract')
DEFAULT_WEIGHTS = dict(reference=dict(seg=0.2, feat=0.0, logit=5.0, affinity=1.0),
                       abstract=dict(seg=1.0, feat=1.0, logit=1.0, affinity=1.0))
DEFAULT_TEMPERATURE = dict(reference=1 / 0.3, abstract=3.3)


def affinity_loss(student: Tensor, teacher: Tensor, groups: List[Tensor], reduction: str = 'mean') -> Tensor:
    """The mean |cos-sim matrix of the student - that of the teacher| among each group's rows, averaged
    (``'mean'``) or summed (``'sum'``, the reference's sum over classes) over the groups.

    student / teacher: (N, C) features of the same points; groups: index tensors (instances or classes).
    """
    losses = []
    for index in groups:
        s = F.normalize(student[index], dim=1)
        t = F.normalize(teacher[index], dim=1)
        losses.append((s @ s.t() - t @ t.t()).abs().mean())
    if not losses:
        return student.sum() * 0
    stacked = torch.stack(losses)
    return stacked.sum() if reduction == 'sum' else stacked.mean()


def reference_logit_loss(student_logits: Tensor, teacher_logits: Tensor, scale: float = 0.3,
                         threshold: float = 0.01) -> Tensor:
    """M2SKD's released logit term per row: ``mean_c p_t |log((p_t + 1e-6) / (p_s + 1e-6))|`` with
    ``p = softmax(scale * logits)``, averaged over the rows where it exceeds ``threshold`` (0 if none)."""
    p_s = F.softmax(student_logits * scale, dim=1)
    p_t = F.softmax(teacher_logits.detach() * scale, dim=1)
    per_row = (p_t * torch.log((p_t + 1e-6) / (p_s + 1e-6)).abs()).mean(dim=1)
    kept = per_row[per_row > threshold]
    return kept.mean() if len(kept) else per_row.sum() * 0


class MultiScanDistillation:
    """The M2SKD losses on top of a single-scan segmentor (mixed into :class:`M2SKD` and :class:`ELiTeM2SKD`).

    Args (besides the segmentor's):
        multiscan_teacher: ``'shared'`` (the student's own weights on the fused scan, default),
            ``'separate'`` (a trained copy) or ``'frozen'`` (a fixed copy, e.g. from ``load_from``).
        loss_style: ``'reference'`` (the released code's terms, default) or ``'abstract'`` (see the module).
        multiscan_weights: ``seg``, ``feat``, ``logit``, ``affinity``; unset ones take the style's defaults
            (reference 0.2, 0, 5, 1; abstract 1, 1, 1, 1).
        temperature: logit softening; None = the style's (reference 1 / 0.3, abstract 3.3).
        hard_classes: classes whose instances (abstract) or points (reference) give the affinity loss.
        max_instance_points: rows per affinity matrix (a random subset beyond, drawn anew at every step).
    """

    def __init__(self, multiscan_teacher: str = 'shared', multiscan_weights: Optional[Dict[str, float]] = None,
                 loss_style: str = 'reference', temperature: Optional[float] = None,
                 hard_classes: Sequence[str] = HARD_CLASSES, max_instance_points: int = 256, **kwargs) -> None:
        super().__init__(**kwargs)
        if multiscan_teacher not in ('shared', 'separate', 'frozen'):
            raise ValueError(f"multiscan_teacher must be 'shared', 'separate' or 'frozen', got {multiscan_teacher!r}")
        self.multiscan_teacher = multiscan_teacher
        if multiscan_teacher != 'shared':
            self.multiscan_backbone = copy.deepcopy(self.backbone)
            self.multiscan_head = copy.deepcopy(self.decode_head)
            if multiscan_teacher == 'frozen':  # load its weights with load_from / init_cfg; it never trains
                self.multiscan_backbone.requires_grad_(False)
                self.multiscan_head.requires_grad_(False)
        if loss_style not in LOSS_STYLES:
            raise ValueError(f'loss_style must be one of {LOSS_STYLES}, got {loss_style!r}')
        self.loss_style = loss_style
        self.multiscan_weights = dict(DEFAULT_WEIGHTS[loss_style])
        self.multiscan_weights.update(multiscan_weights or {})
        if multiscan_teacher == 'separate' and not self.multiscan_weights['seg']:
            # every KD term detaches the teacher: without its own loss the copy gets no gradient, never trains,
            # and DDP (without find_unused_parameters) stops at its unused parameters
            raise ValueError("multiscan_teacher='separate' trains the copy with multiscan_weights['seg'] only, which "
                             "is 0 here: set a seg weight, or use multiscan_teacher='frozen' for a fixed teacher")
        self.temperature = DEFAULT_TEMPERATURE[loss_style] if temperature is None else temperature
        classes = SemanticKittiDataset.METAINFO['classes']
        self.hard_class_ids = torch.tensor([classes.index(c) for c in hard_classes])
        self.max_instance_points = max_instance_points

    def single_scan_losses(self, inputs: Dict, samples: SampleList, features: StageFeatures,
                           logits: Tensor) -> Dict[str, Tensor]:
        """The segmentor's own losses on the single scan (the student head's; PPMSKD's all)."""
        return self.decode_head.loss_by_feat(logits, samples)

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        single_inputs = self.split_inputs(batch_inputs_dict)
        single_samples = single_inputs['data_samples']
        features = self.extract_feat(single_inputs)
        logits = self.decode_head(features)
        losses = self.single_scan_losses(single_inputs, single_samples, features, logits)
        losses.update(self.multiscan_losses(batch_inputs_dict, batch_data_samples, features, logits))
        return losses

    def predict(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> SampleList:
        """The single-scan student; on fused scans only the original points are predicted (and scored)."""
        if 'original_mask' in batch_data_samples[0]:
            batch_inputs_dict = self.split_inputs(batch_inputs_dict)
            batch_data_samples = batch_inputs_dict['data_samples']
        return super().predict(batch_inputs_dict, batch_data_samples)

    def multiscan_networks(self):
        if self.multiscan_teacher == 'shared':
            return self.backbone, self.decode_head
        return self.multiscan_backbone, self.multiscan_head

    @staticmethod
    def split_inputs(batch_inputs_dict: Dict) -> Dict:
        """The student's single-scan inputs and data samples, which the data preprocessor derives from the fused
        batch."""
        if 'single_scan' not in batch_inputs_dict:
            raise KeyError('M2SKD needs the single-scan inputs of the fused scans: use PointImageDataPreprocessor '
                           'and a pipeline with MultiScanHardInstances (it marks the original points)')
        return batch_inputs_dict['single_scan']

    def instance_groups(self, batch_data_samples: SampleList) -> List[Tensor]:
        """Index groups (into the concatenated original points) of each hard-class instance."""
        groups, offset = [], 0
        for sample in batch_data_samples:
            mask = sample.original_mask
            semantic = sample.gt_pts_seg.pts_semantic_mask[mask]
            instance = sample.gt_pts_seg.pts_instance_mask[mask]
            hard = torch.isin(semantic, self.hard_class_ids.to(semantic.device)) & (instance > 0)
            key = semantic.long() * 65536 + instance.long()
            for value in torch.unique(key[hard]):
                index = (key == value).nonzero()[:, 0]
                if len(index) < 2:
                    continue
                groups.append(self.subset(index) + offset)
            offset += int(mask.sum())
        return groups

    def subset(self, index: Tensor) -> Tensor:
        """At most ``max_instance_points`` of ``index``, a fresh random subset at every call."""
        if len(index) <= self.max_instance_points:
            return index
        return index[torch.randperm(len(index), device=index.device)[:self.max_instance_points]]

    def class_groups(self, labels: Tensor) -> List[Tensor]:
        """Index groups of the points of each hard class (the reference's per-class affinity)."""
        groups = [(labels == c).nonzero()[:, 0] for c in self.hard_class_ids.tolist()]
        return [self.subset(g) for g in groups if len(g) > 1]

    def changed_points(self, voxels: Dict, labels: Tensor, original: Tensor) -> Tensor:
        """(N_fused,) bool: fused points whose voxel's majority label (over all its points) differs from its
        single-scan label, the majority over the voxel's original points alone (ignore where it holds none): the
        reference's "changed" voxels (M2SKD ``dataset_semantickitti.py`` votes the single-scan labels on
        ``[:org_len]``, ``train_cylinder_asym.py`` ignores the voxels where both agree). Gathered points do not
        vote in the single-scan label, so a voxel that they outnumber but that keeps its class is unchanged."""
        point2voxel = voxels['point2voxel_map']
        num_voxels, ignore = len(voxels['coors']), self.decode_head.ignore_index
        fused = majority_vote(labels, point2voxel, num_voxels)
        single = majority_vote(labels[original], point2voxel[original], num_voxels)
        has_original = torch.zeros(num_voxels, dtype=torch.bool, device=labels.device)
        has_original[point2voxel[original]] = True
        single = torch.where(has_original, single, torch.full_like(single, ignore))
        return (fused != single)[point2voxel]

    def multiscan_losses(self, batch_inputs_dict: Dict, batch_data_samples: SampleList,
                         student_features: StageFeatures, student_logits: Tensor) -> Dict[str, Tensor]:
        """The multi-scan teacher on the fused scan, then the terms of ``loss_style``."""
        backbone, head = self.multiscan_networks()
        teacher_features = backbone(batch_inputs_dict['voxels'])
        # every term in float32 (under AMP the logits come in float16: 1 / (p + 1e-6) overflows there)
        teacher_logits, student_logits = head(teacher_features).float(), student_logits.float()
        original = torch.cat([s.original_mask for s in batch_data_samples])
        if self.loss_style == 'reference':
            return self.reference_terms(batch_inputs_dict, batch_data_samples, student_logits, teacher_logits,
                                        original)
        w, temperature = self.multiscan_weights, self.temperature
        losses = {}
        if self.multiscan_teacher != 'frozen':
            seg = head.loss_by_feat(teacher_logits, batch_data_samples)
            losses['loss_multiscan_seg'] = w['seg'] * sum(seg.values())
        student_features = [f.float() for f in student_features]  # per point (N, C_i) each
        target_features = [f[original].detach().float() for f in teacher_features]
        target_logits = teacher_logits[original].detach()
        losses['loss_feat_kd'] = w['feat'] * torch.stack(
            [F.mse_loss(s, t) for s, t in zip(student_features, target_features)]).mean()
        losses['loss_logit_kd'] = w['logit'] * temperature ** 2 * F.kl_div(
            F.log_softmax(student_logits / temperature, dim=1), F.softmax(target_logits / temperature, dim=1),
            reduction='batchmean')
        losses['loss_affinity_kd'] = w['affinity'] * affinity_loss(
            torch.cat(student_features, 1), torch.cat(target_features, 1), self.instance_groups(batch_data_samples))
        return losses

    def reference_terms(self, batch_inputs_dict: Dict, batch_data_samples: SampleList, student_logits: Tensor,
                        teacher_logits: Tensor, original: Tensor) -> Dict[str, Tensor]:
        """The released code's terms (module docstring), per point."""
        head = self.multiscan_networks()[1]
        labels = torch.cat([s.gt_pts_seg.pts_semantic_mask for s in batch_data_samples]).long()
        w = self.multiscan_weights
        losses = {}
        if self.multiscan_teacher != 'frozen' and w['seg']:
            changed = self.changed_points(batch_inputs_dict['voxels'], labels, original)
            target = torch.where(changed, labels, torch.full_like(labels, head.ignore_index))
            seg = (F.cross_entropy(teacher_logits, target, ignore_index=head.ignore_index)
                   if (target != head.ignore_index).any() else teacher_logits.sum() * 0)
            losses['loss_multiscan_seg'] = w['seg'] * seg
        target_logits = teacher_logits[original].detach()
        losses['loss_logit_kd'] = w['logit'] * reference_logit_loss(student_logits, target_logits,
                                                                    1 / self.temperature)
        losses['loss_affinity_kd'] = w['affinity'] * affinity_loss(
            student_logits, target_logits, self.class_groups(labels[original]), reduction='sum')
        return losses


@MODELS.register_module()
class M2SKD(MultiScanDistillation, PointVoxelSegmentor):
    """The student trained on single scans with a multi-scan teacher (see the module docstring)."""


@MODELS.register_module()
class ELiTeM2SKD(MultiScanDistillation, PPMSKD):
    """PPMSKD (image teacher) and M2SKD (multi-scan teacher) on one student at once; args of both."""

    def single_scan_losses(self, inputs: Dict, samples: SampleList, features: StageFeatures,
                           logits: Tensor) -> Dict[str, Tensor]:
        return self.ppmskd_losses(inputs, samples, features, logits)
