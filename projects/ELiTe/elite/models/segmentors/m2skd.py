"""M2SKD: multi-scan to single-scan knowledge distillation.

The batch holds fused scans (``MultiScanHardInstances``: the scan plus hard-class instances gathered from
the previous scans) and ``original_mask``. The student sees only the original points; the teacher, the
student network itself by default (shared weights) or a separate copy, sees the fused scan and is also
trained on it. The student learns from the teacher at the original points, in one of two loss styles
(``loss_style``). Both segmentors here, :class:`M2SKD` (the student alone) and :class:`ELiTeM2SKD` (with PPMSKD),
hold the multi-scan side as one component, :class:`MultiScanDistiller`, configured as ``model.multiscan``. Each term
is a registered loss with its ``loss_weight`` (``loss_multiscan_seg``, ``loss_feat_kd``, ``loss_logit_kd``,
``loss_affinity_kd``); the style's defaults are :data:`STYLE_LOSSES`, a config key overrides them key by key.

``'reference'`` (default; the released code, skyshoumeng/M2SKD ``segmentator_3d_asymm_spconv.py`` and
``train_cylinder_asym.py``):

- ``loss_multiscan_seg``: 0.2 x unweighted CE (``WeightedMeanCrossEntropyLoss`` without class weights) of the
  teacher on the fused points whose 0.1 m voxel's majority label differs from that voxel's label in the single scan
  (mostly the gathered instance points);
- no feature term;
- ``loss_logit_kd`` (``LogRatioKDLoss``): 5 x the mean, over the points where it exceeds 0.01, of ``mean_c p_t
  |log((p_t + 1e-6) / (p_s + 1e-6))|`` with ``p = softmax(0.3 logits)`` (T = 1 / 0.3, no T^2);
- ``loss_affinity_kd`` (``AffinityLoss``, ``reduction='sum'``): per hard class, the cosine-similarity matrix of the
  class's points' 19-d logits, L1 between teacher and student, summed over the classes.

``'abstract'`` (the paper's abstract): the teacher head's own segmentation losses on the fused scan
(``loss_multiscan_seg=dict(type='DecodeHeadLosses', loss_weight=1.0)``, logged as ``multiscan.loss_sem_seg`` /
``multiscan.loss_lovasz``); ``loss_feat_kd``, the mean squared error between the stage
features (mmdet's ``MSELoss``, averaged over the stages); ``loss_logit_kd``, KL between the softened distributions
times T^2, T = 3.3, per point (``PointwiseKLDivLoss``); ``loss_affinity_kd``, per hard-class *instance* the
cosine-similarity matrix of its points' stage features, L1 between teacher and student, averaged.

The teacher's side is detached in every KD term. Inference uses the single-scan student only. The reference
computes its terms per Cylinder3D voxel; this student predicts per point, so they are per point here.
"""
import copy
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from mmdet3d.datasets import SemanticKittiDataset
from mmdet3d.models.utils import add_prefix
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList
from torch import Tensor, nn

from ...datasets.transforms.multiscan import HARD_CLASSES
from ..stage_features import StageFeatures
from ..utils import majority_vote
from .point_segmentor import PointVoxelSegmentor, single_scan_inputs
from .ppmskd import PPMSKD

LOSS_STYLES = ('reference', 'abstract')
TEACHERS = ('shared', 'separate', 'frozen')
# loss_multiscan_seg of this type: the teacher head's own losses (its loss_decode / loss_lovasz), times loss_weight
HEAD_LOSSES = 'DecodeHeadLosses'
# Each style's terms; a key set to None is left out.
STYLE_LOSSES = dict(
    reference=dict(loss_multiscan_seg=dict(type='WeightedMeanCrossEntropyLoss', loss_weight=0.2),
                   loss_feat_kd=None,
                   loss_logit_kd=dict(type='LogRatioKDLoss', scale=0.3, threshold=0.01, loss_weight=5.0),
                   loss_affinity_kd=dict(type='AffinityLoss', reduction='sum', loss_weight=1.0)),
    abstract=dict(loss_multiscan_seg=dict(type=HEAD_LOSSES, loss_weight=1.0),
                  loss_feat_kd=dict(type='mmdet.MSELoss', loss_weight=1.0),
                  loss_logit_kd=dict(type='PointwiseKLDivLoss', T=3.3, loss_weight=1.0),
                  loss_affinity_kd=dict(type='AffinityLoss', reduction='mean', loss_weight=1.0)))
# options of earlier versions, given to the segmentor itself, and what replaced them
FLAT_OPTIONS = ('multiscan_teacher', 'multiscan_weights', 'loss_style', 'temperature', 'hard_classes',
                'max_instance_points')


class MultiScanDistiller(nn.Module):
    """The multi-scan teacher and the M2SKD terms (see the module docstring), for a single-scan student.

    Args:
        student: the student's (backbone, decode head); copied for a ``'separate'`` or ``'frozen'`` teacher.
        teacher: ``'shared'`` (the student's own weights on the fused scan, default), ``'separate'`` (a trained
            copy) or ``'frozen'`` (a fixed copy, e.g. from ``load_from``).
        loss_style: ``'reference'`` (the released code's terms, default) or ``'abstract'``.
        loss_multiscan_seg, loss_feat_kd, loss_logit_kd, loss_affinity_kd: loss configs, merged onto the
            style's (:data:`STYLE_LOSSES`; e.g. ``loss_logit_kd=dict(loss_weight=2.0)``); None leaves the term out.
        hard_classes: classes whose instances (abstract) or points (reference) give the affinity term.
        max_instance_points: rows per affinity matrix (a random subset beyond, drawn anew at every step).
    """

    def __init__(self, student: Tuple[nn.Module, nn.Module], teacher: str = 'shared',
                 loss_style: str = 'reference', hard_classes: Sequence[str] = HARD_CLASSES,
                 max_instance_points: int = 256, **losses: Optional[Dict]) -> None:
        super().__init__()
        if teacher not in TEACHERS:
            raise ValueError(f'model.multiscan.teacher must be one of {TEACHERS}, got {teacher!r}')
        if loss_style not in LOSS_STYLES:
            raise ValueError(f'model.multiscan.loss_style must be one of {LOSS_STYLES}, got {loss_style!r}')
        unknown = set(losses) - set(STYLE_LOSSES[loss_style])
        if unknown:
            raise ValueError(f'model.multiscan: unknown options {sorted(unknown)}; the terms are '
                             f'{sorted(STYLE_LOSSES[loss_style])}')
        self.teacher, self.loss_style = teacher, loss_style
        if teacher != 'shared':
            self.backbone, self.head = (copy.deepcopy(m) for m in student)
            if teacher == 'frozen':  # load its weights with load_from / init_cfg; it never trains
                self.requires_grad_(False)
        configs = {name: merged(name, default, losses.get(name, default))
                   for name, default in STYLE_LOSSES[loss_style].items()}
        seg = configs['loss_multiscan_seg']
        self.head_seg_weight = None  # the teacher head's own losses carry no loss module: only their weight is kept
        if seg is not None and seg['type'] == HEAD_LOSSES:
            self.head_seg_weight, configs['loss_multiscan_seg'] = seg.get('loss_weight', 1.0), None
        for name, config in configs.items():
            setattr(self, name, None if config is None else MODELS.build(config))
        seg_weight = self.head_seg_weight if self.head_seg_weight is not None else getattr(
            self.loss_multiscan_seg, 'loss_weight', 0)
        if teacher == 'separate' and not seg_weight > 0:
            # every KD term detaches the teacher: without its own loss the copy gets no gradient, never trains,
            # and DDP (without find_unused_parameters) stops at its unused parameters
            raise ValueError("model.multiscan.teacher='separate' trains the copy with loss_multiscan_seg only, which "
                             "is off here: give it a loss_weight, or use teacher='frozen' for a fixed teacher")
        classes = SemanticKittiDataset.METAINFO['classes']
        self.hard_class_ids = torch.tensor([classes.index(c) for c in hard_classes])
        self.max_instance_points = max_instance_points

    def networks(self, student: Tuple[nn.Module, nn.Module]) -> Tuple[nn.Module, nn.Module]:
        return student if self.teacher == 'shared' else (self.backbone, self.head)

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList, student: Tuple[nn.Module, nn.Module],
             student_features: StageFeatures, student_logits: Tensor) -> Dict[str, Tensor]:
        """The teacher on the fused scan, its own loss, then the KD terms at the original points."""
        backbone, head = self.networks(student)
        teacher_features = backbone(batch_inputs_dict['voxels'])
        # every term in float32 (under AMP the logits come in float16)
        teacher_logits, student_logits = head(teacher_features).float(), student_logits.float()
        original = torch.cat([s.original_mask for s in batch_data_samples])
        labels = torch.cat([s.gt_pts_seg.pts_semantic_mask for s in batch_data_samples]).long()
        losses = {}
        if self.teacher != 'frozen':
            losses.update(self.teacher_losses(batch_inputs_dict, batch_data_samples, head, teacher_logits, labels,
                                              original))
        target_logits = teacher_logits[original].detach()
        per_point = self.loss_feat_kd is not None or self.loss_style == 'abstract'
        if per_point:
            student_stages = [f.float() for f in student_features]  # per point (N, C_i) each
            teacher_stages = [f[original].detach().float() for f in teacher_features]
        if self.loss_feat_kd is not None:
            losses['loss_feat_kd'] = torch.stack(
                [self.loss_feat_kd(s, t) for s, t in zip(student_stages, teacher_stages)]).mean()
        if self.loss_logit_kd is not None:
            losses['loss_logit_kd'] = self.loss_logit_kd(student_logits, target_logits)
        if self.loss_affinity_kd is not None:
            if self.loss_style == 'reference':  # per hard class, on the logits
                pair, groups = (student_logits, target_logits), self.class_groups(labels[original])
            else:  # per hard-class instance, on the stage features
                pair = (torch.cat(student_stages, 1), torch.cat(teacher_stages, 1))
                groups = self.instance_groups(batch_data_samples)
            losses['loss_affinity_kd'] = self.loss_affinity_kd(*pair, groups)
        return losses

    def teacher_losses(self, batch_inputs_dict: Dict, batch_data_samples: SampleList, head: nn.Module,
                       teacher_logits: Tensor, labels: Tensor, original: Tensor) -> Dict[str, Tensor]:
        """The teacher's own loss on the fused scan: its head's (abstract), or ``loss_multiscan_seg`` on the points
        of the changed voxels (reference)."""
        if self.head_seg_weight is not None:
            seg = head.loss_by_feat(teacher_logits, batch_data_samples)
            return add_prefix({k: self.head_seg_weight * v for k, v in seg.items()}, 'multiscan')
        if self.loss_multiscan_seg is None:
            return {}
        changed = self.changed_points(batch_inputs_dict['voxels'], labels, original, head.ignore_index)
        target = torch.where(changed, labels, torch.full_like(labels, head.ignore_index))
        return dict(loss_multiscan_seg=self.loss_multiscan_seg(teacher_logits, target,
                                                               ignore_index=head.ignore_index))

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

    @staticmethod
    def changed_points(voxels: Dict, labels: Tensor, original: Tensor, ignore_index: int) -> Tensor:
        """(N_fused,) bool: fused points whose voxel's majority label (over all its points) differs from its
        single-scan label, the majority over the voxel's original points alone (ignore where it holds none): the
        reference's "changed" voxels (M2SKD ``dataset_semantickitti.py`` votes the single-scan labels on
        ``[:org_len]``, ``train_cylinder_asym.py`` ignores the voxels where both agree). Gathered points do not
        vote in the single-scan label, so a voxel that they outnumber but that keeps its class is unchanged."""
        point2voxel = voxels['point2voxel_map']
        num_voxels = len(voxels['coors'])
        fused = majority_vote(labels, point2voxel, num_voxels)
        single = majority_vote(labels[original], point2voxel[original], num_voxels)
        has_original = torch.zeros(num_voxels, dtype=torch.bool, device=labels.device)
        has_original[point2voxel[original]] = True
        single = torch.where(has_original, single, torch.full_like(single, ignore_index))
        return (fused != single)[point2voxel]


def merged(name: str, default: Optional[Dict], given: Optional[Dict]) -> Optional[Dict]:
    """A loss config given in ``model.multiscan`` over the style's default: a dict without ``type`` updates the
    default's keys (e.g. its ``loss_weight``), one with ``type`` replaces it, None leaves the term out."""
    if isinstance(given, dict) and 'type' not in given:
        if default is None:
            raise ValueError(f'model.multiscan.{name}={given} updates the style\'s {name}, but this loss_style has '
                             f'none: give a whole loss config (with type)')
        return dict(default, **given)
    return given


def multiscan_distiller(segmentor: PointVoxelSegmentor, multiscan: Optional[Dict]) -> MultiScanDistiller:
    return MultiScanDistiller((segmentor.backbone, segmentor.decode_head), **(multiscan or {}))


def segmentor_options(kwargs: Dict) -> Dict:
    """``kwargs``, the segmentor's own options; M2SKD's options of earlier versions, given there, are refused
    saying where they went."""
    flat = [key for key in FLAT_OPTIONS if key in kwargs]
    if flat:
        raise ValueError(f'M2SKD options {flat} now go in model.multiscan=dict(...): teacher= (was '
                         'multiscan_teacher), loss_style=, hard_classes=, max_instance_points=, and one loss config '
                         'per term with its loss_weight (loss_multiscan_seg, loss_feat_kd, loss_logit_kd, '
                         'loss_affinity_kd; they replace multiscan_weights and temperature). See docs/method.md.')
    return kwargs


def fused_scan_losses(segmentor: PointVoxelSegmentor, batch_inputs_dict: Dict, batch_data_samples: SampleList,
                      single_scan_losses: Callable[[Dict, SampleList, StageFeatures, Tensor], Dict[str, Tensor]]
                      ) -> Dict[str, Tensor]:
    """The student on the single scans with its own losses (``single_scan_losses(inputs, samples, features,
    logits)``), then the multi-scan teacher's terms (``segmentor.multiscan``)."""
    single = single_scan_inputs(batch_inputs_dict)
    features = segmentor.extract_feat(single)
    logits = segmentor.decode_head(features)
    losses = single_scan_losses(single, single['data_samples'], features, logits)
    student = (segmentor.backbone, segmentor.decode_head)
    losses.update(segmentor.multiscan.loss(batch_inputs_dict, batch_data_samples, student, features, logits))
    return losses


MULTISCAN_RENAMES = {'multiscan_backbone.': 'multiscan.backbone.', 'multiscan_head.': 'multiscan.head.'}


@MODELS.register_module()
class M2SKD(PointVoxelSegmentor):
    """The student trained on single scans with a multi-scan teacher (see the module docstring).

    Args (besides the segmentor's):
        multiscan: the :class:`MultiScanDistiller`'s options (teacher, loss style, losses).
    """
    RENAMED_PREFIXES = MULTISCAN_RENAMES

    def __init__(self, multiscan: Optional[Dict] = None, **kwargs) -> None:
        super().__init__(**segmentor_options(kwargs))
        self.multiscan = multiscan_distiller(self, multiscan)

    def single_scan_losses(self, inputs: Dict, samples: SampleList, features: StageFeatures,
                           logits: Tensor) -> Dict[str, Tensor]:
        """The student head's losses on the single scans."""
        return self.decode_head.loss_by_feat(logits, samples)

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        return fused_scan_losses(self, batch_inputs_dict, batch_data_samples, self.single_scan_losses)


@MODELS.register_module()
class ELiTeM2SKD(PPMSKD):
    """PPMSKD (image teacher) and M2SKD (multi-scan teacher) on one student at once: PPMSKD's args and
    ``multiscan`` (see :class:`M2SKD`)."""
    RENAMED_PREFIXES = {**PPMSKD.RENAMED_PREFIXES, **MULTISCAN_RENAMES}

    def __init__(self, multiscan: Optional[Dict] = None, **kwargs) -> None:
        super().__init__(**segmentor_options(kwargs))
        self.multiscan = multiscan_distiller(self, multiscan)

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        return fused_scan_losses(self, batch_inputs_dict, batch_data_samples, self.ppmskd_losses)
