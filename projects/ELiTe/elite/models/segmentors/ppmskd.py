"""PPMSKD: patch-to-point multi-stage knowledge distillation from the SAM teacher into the student.

Training (the paper's PPMSKD), for each stage i of the student and of the teacher:

- an auxiliary head (``auxiliary_head``, a :class:`PointDecoder` per stage) classifies the student's stage
  features: by default (``stage_supervision='voxel'``, the reference ``arch_elite.py``) the voxel branch's output
  at the stage's input scale (1, 2, 4, 8), with CE + Lovasz per voxel against the majority label of its points, its
  logits broadcast to the points for the KL; with ``'point'`` the stage's per-point features, CE + Lovasz on all
  points;
- a :class:`PatchDecoder` decodes the teacher's stage tokens at the pixels of the projected points and
  classifies them: CE + Lovasz on those points' labels, weight 1/4;
- KL(teacher || student) between the two, on the projected points, with the teacher detached: ``loss_kd``,
  mmdet's ``KnowledgeDistillationKLDivLoss`` (T = 1: ``kl_div(log_softmax(student), softmax(teacher))``, the
  reference code's element-wise mean), weight 0.05 / 4.

Every head owns its losses and their weights (``loss_decode`` / ``loss_lovasz`` of the auxiliary, patch and fused
heads, ``loss_kd``); this class wires the heads together and logs each head's losses under its prefix, as mmdet3d's
``EncoderDecoder3D`` does (``add_prefix``): ``aux_I.`` (stage I's auxiliary head), ``patch_I.`` (its patch head),
``kd_I.loss_kd`` and ``patch_fused.``; the student's own head logs ``loss_sem_seg`` / ``loss_lovasz``. The
point-to-pixel correspondence comes batch-global from the data preprocessor (``inputs['point_pixels']``).

With dense image labels (SAM pseudo-labels, ``img_seg_label`` on the data samples) the 2D losses use
every labelled pixel instead of the points' pixels; the KD terms stay on the points. Also: the student's
own head (CE + 0.1 Lovasz), a fused 2D classifier on the four decoded stages (weight 1)
and AdaLoRA's orthogonal regulariser (``loss_orth``). Single-stage KD (Table II row b) distils only the
final heads: the student's classifier from the fused 2D classifier. At inference only the student runs,
exactly as :class:`PointVoxelSegmentor` (``tools/export_student.py`` writes it alone).
"""
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple, Union

import torch
from mmdet3d.models.utils import add_prefix
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList
from torch import Tensor, nn

from ...datasets.transforms.image_label import IMAGE_LABEL
from ..point_pixels import PixelSet, PointPixels
from ..stage_features import StageFeatures
from ..utils import majority_vote
from .point_segmentor import PointVoxelSegmentor

KD_MODES = ('multi_stage', 'single_stage')
STAGE_SUPERVISION = ('voxel', 'point')


@dataclass
class TeacherFeatures:
    """The teacher's decoded features per stage at the projected points and at the pixels its 2D losses use (the
    same tensors unless dense image labels are given), and those pixels' labels."""
    at_points: List[Tensor]
    at_pixels: List[Tensor]
    pixel_labels: Tensor

    @property
    def dense(self) -> bool:
        return any(p is not q for p, q in zip(self.at_pixels, self.at_points))


@MODELS.register_module()
class PPMSKD(PointVoxelSegmentor):
    """The ELiTe distiller: student (``backbone`` + ``decode_head``), ``teacher``, decoders and losses.

    Args:
        teacher: the image backbone config (``SAMViTTeacher``); returns one token map per stage.
        patch_decoder: config of one :class:`PatchDecoder` (copied per stage), with its 2D losses.
        auxiliary_head: the student's stage heads (multi-stage KD only): one :class:`PointDecoder` config (copied
            per stage, its ``channels`` set to the stage's width) or a list of ``num_stages``, with their losses.
        fused_decoder: the fused 2D classifier, a :class:`PointDecoder` on the stages' pixel features
            concatenated (its ``channels`` set here), with its losses.
        loss_kd: the KD term (default mmdet's ``KnowledgeDistillationKLDivLoss``, T = 1, weight 0.05 / stages).
        kd_mode: ``'multi_stage'`` (the paper) or ``'single_stage'``.
        stage_supervision: ``'voxel'`` (the reference: stage heads on the voxel-branch outputs, per-voxel
            losses on majority labels; needs SPVCNNLite) or ``'point'`` (on the per-point stage features).
        max_dense_pixels: with dense image labels (``SAMPseudoLabel``), at most this many labelled pixels
            per image enter the 2D losses (a random subset; None = all, as the paper).
    """

    # earlier versions' names of submodules in checkpoints (read by PointVoxelSegmentor._load_from_state_dict)
    RENAMED_PREFIXES = {'point_decoders.': 'auxiliary_head.'}

    def __init__(self, backbone: Dict, decode_head: Dict, teacher: Dict, patch_decoder: Dict,
                 auxiliary_head: Union[Dict, List[Dict], None] = None, fused_decoder: Optional[Dict] = None,
                 loss_kd: Optional[Dict] = None,
                 num_stages: int = 4, kd_mode: str = 'multi_stage', stage_supervision: str = 'voxel',
                 max_dense_pixels: Optional[int] = None, **kwargs) -> None:
        if 'point_decoder' in kwargs:  # the name of earlier versions
            raise ValueError('PPMSKD: point_decoder is now auxiliary_head (the student\'s stage heads, mmdet3d\'s '
                             'auxiliary heads): rename model.point_decoder to model.auxiliary_head')
        super().__init__(backbone=backbone, decode_head=decode_head, **kwargs)
        if kd_mode not in KD_MODES:
            raise ValueError(f'kd_mode must be one of {KD_MODES}, got {kd_mode!r}')
        self.kd_mode = kd_mode
        if stage_supervision not in STAGE_SUPERVISION:
            raise ValueError(f'stage_supervision must be one of {STAGE_SUPERVISION}, got {stage_supervision!r}')
        self.stage_supervision = stage_supervision
        self.max_dense_pixels = max_dense_pixels
        self.teacher = MODELS.build(teacher)
        # single-stage KD trains the fused 2D classifier only: no per-stage ones
        self.patch_decoders = nn.ModuleList(
            MODELS.build(dict(patch_decoder, with_classifier=kd_mode == 'multi_stage')) for _ in range(num_stages))
        if kd_mode == 'multi_stage':
            self._init_auxiliary_head(self.stage_head_configs(auxiliary_head, num_stages))
        fused_decoder = dict(dict(type='PointDecoder', mid_channels=192), **(fused_decoder or {}))
        self.fused_classifier = MODELS.build(
            dict(fused_decoder, channels=num_stages * self.patch_decoders[0].channels,
                 num_classes=self.decode_head.num_classes))
        self.loss_kd = MODELS.build(loss_kd or dict(type='mmdet.KnowledgeDistillationKLDivLoss', T=1,
                                                    loss_weight=0.05 / num_stages))

    def stage_head_configs(self, auxiliary_head: Union[Dict, List[Dict], None], num_stages: int) -> List[Dict]:
        """One head config per stage; one config given is copied, its ``channels`` set to each stage's width (a
        student with stages of different widths says so in ``stage_channels``, e.g. the MinkUNet adapter)."""
        if auxiliary_head is None:
            raise ValueError("PPMSKD(kd_mode='multi_stage') needs the student's stage heads: set model.auxiliary_head "
                             "(e.g. dict(type='PointDecoder', ...), as configs/_base_/models/elite_ppmskd.py)")
        if isinstance(auxiliary_head, (list, tuple)):
            if len(auxiliary_head) != num_stages:
                raise ValueError(f'PPMSKD: auxiliary_head lists {len(auxiliary_head)} heads for {num_stages} stages')
            return list(auxiliary_head)
        widths = getattr(self.backbone, 'stage_channels', [auxiliary_head.get('channels', 64)] * num_stages)
        return [dict(auxiliary_head, channels=width) for width in widths]

    # ------------------------------------------------------------------ parameter bookkeeping (benchmark)
    def student_modules(self) -> List[nn.Module]:
        return [self.backbone, self.decode_head]

    def parameter_groups(self) -> Dict[str, List[nn.Parameter]]:
        heads = [self.patch_decoders, self.fused_classifier] + (
            [self.auxiliary_head] if self.kd_mode == 'multi_stage' else [])
        teacher = list(self.teacher.parameters())
        return dict(student=[p for m in self.student_modules() for p in m.parameters()],
                    teacher_trainable=[p for p in teacher if p.requires_grad],
                    teacher_frozen=[p for p in teacher if not p.requires_grad],
                    distill_heads=[p for m in heads for p in m.parameters()])

    def inference_parameters(self) -> List[nn.Parameter]:
        return [p for m in self.student_modules() for p in m.parameters()]

    # ------------------------------------------------------------------ losses
    def kd_loss(self, student_logits: Tensor, teacher_logits: Tensor) -> Tensor:
        """``loss_kd`` (KL(teacher || student); no gradient reaches the teacher through it), 0 without points."""
        if len(student_logits) == 0:
            return student_logits.sum() * 0
        return self.loss_kd(student_logits.float(), teacher_logits.float())  # float32 under AMP too

    def labelled_pixels(self, batch_data_samples: SampleList, img_hw: Tuple[int, int]) -> Tuple[PixelSet, Tensor]:
        """Dense image labels (SAMPseudoLabel): the batch's labelled pixels and their labels."""
        pixels, labels = [], []
        ignore = self.decode_head.ignore_index
        for sample in batch_data_samples:
            label = getattr(sample, IMAGE_LABEL)
            found = (label != ignore).nonzero()
            if self.max_dense_pixels is not None and len(found) > self.max_dense_pixels:
                found = found[torch.randperm(len(found), device=found.device)[:self.max_dense_pixels]]
            pixels.append(found)
            labels.append(label[found[:, 0], found[:, 1]])
        return PixelSet.from_samples(pixels, img_hw), torch.cat(labels)

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        stage_features = self.extract_feat(batch_inputs_dict)
        main_logits = self.decode_head(stage_features)
        return self.ppmskd_losses(batch_inputs_dict, batch_data_samples, stage_features, main_logits)

    def ppmskd_losses(self, batch_inputs_dict: Dict, batch_data_samples: SampleList, stage_features: StageFeatures,
                      main_logits: Tensor) -> Dict[str, Tensor]:
        """All PPMSKD losses given the student's stage features and logits (reused by ELiTeM2SKD): the student
        head's, each stage's (:meth:`stage_losses`), the fused 2D head's (:meth:`fused_losses`) and AdaLoRA's."""
        losses = self.decode_head.loss_by_feat(main_logits, batch_data_samples)
        labels = torch.cat([s.gt_pts_seg.pts_semantic_mask for s in batch_data_samples]).long()
        teacher = self.teacher_features(batch_inputs_dict, batch_data_samples, labels)
        point_index = batch_inputs_dict['point_pixels'].point_index
        if self.kd_mode == 'multi_stage':
            for stage in range(len(self.patch_decoders)):
                losses.update(self.stage_losses(stage, stage_features, teacher, labels, point_index))
        losses.update(self.fused_losses(teacher, main_logits, point_index))
        losses['loss_orth'] = self.teacher.orthogonal_regularisation()
        return losses

    def teacher_features(self, batch_inputs_dict: Dict, batch_data_samples: SampleList, labels: Tensor
                         ) -> TeacherFeatures:
        """The teacher's tokens decoded per stage, at the projected points and at the pixels of the 2D losses: every
        labelled pixel when dense image labels come with the images, else the points' pixels."""
        if 'point_pixels' not in batch_inputs_dict:
            raise KeyError('PPMSKD needs the point-to-pixel correspondence: train with a camera pipeline '
                           '(ProjectPointsToImage, PackPointImageInputs) and PointImageDataPreprocessor')
        correspondence: PointPixels = batch_inputs_dict['point_pixels']
        dense = all(hasattr(s, IMAGE_LABEL) for s in batch_data_samples)
        if dense:
            pixels, pixel_labels = self.labelled_pixels(batch_data_samples, correspondence.pixels.img_hw)
        else:
            pixels, pixel_labels = correspondence.pixels, labels[correspondence.point_index]
        at_points, at_pixels = [], []
        for decoder, stage_tokens in zip(self.patch_decoders, self.teacher(batch_inputs_dict['imgs'])):
            cells = decoder.decode(stage_tokens)
            at_points.append(decoder.sample(cells, correspondence.pixels))
            at_pixels.append(decoder.sample(cells, pixels) if dense else at_points[-1])
        return TeacherFeatures(at_points, at_pixels, pixel_labels)

    def stage_losses(self, stage: int, stage_features: StageFeatures, teacher: TeacherFeatures, labels: Tensor,
                     point_index: Tensor) -> Dict[str, Tensor]:
        """Stage ``stage``: the student's auxiliary head, the teacher's patch head and the KL between them."""
        classifier = self.patch_decoders[stage].classifier
        stage_logits, stage_labels, point_logits = self.student_stage(stage_features, stage, labels, point_index)
        teacher_logits = classifier(teacher.at_points[stage])
        pixel_logits = classifier(teacher.at_pixels[stage]) if teacher.dense else teacher_logits
        losses = add_prefix(self.auxiliary_head[stage].loss_by_labels(stage_logits, stage_labels), f'aux_{stage}')
        losses.update(add_prefix(classifier.loss_by_labels(pixel_logits, teacher.pixel_labels), f'patch_{stage}'))
        losses[f'kd_{stage}.loss_kd'] = self.kd_loss(point_logits, teacher_logits)
        return losses

    def fused_losses(self, teacher: TeacherFeatures, main_logits: Tensor, point_index: Tensor) -> Dict[str, Tensor]:
        """The fused 2D head on all stages; with single-stage KD also the KL from it to the student's head."""
        fused_logits = self.fused_classifier(torch.cat(teacher.at_pixels, dim=1))
        losses = add_prefix(self.fused_classifier.loss_by_labels(fused_logits, teacher.pixel_labels), 'patch_fused')
        if self.kd_mode == 'single_stage':
            point_fused = self.fused_classifier(torch.cat(teacher.at_points, dim=1)) if teacher.dense else fused_logits
            losses['loss_kd'] = self.kd_loss(main_logits[point_index], point_fused)
        return losses

    def student_stage(self, stage_features, stage: int, labels: Tensor, point_index: Tensor
                      ) -> Tuple[Tensor, Tensor, Tensor]:
        """Stage ``stage``'s student logits and labels for its segmentation loss, and its logits at the points
        ``point_index`` (those with a pixel) for the KL."""
        decoder = self.auxiliary_head[stage]
        if self.stage_supervision == 'point':
            logits = decoder(stage_features[stage])  # per point
            return logits, labels, logits[point_index]
        if stage_features.branch_features is None:
            raise ValueError(f"PPMSKD(stage_supervision='voxel') needs a student whose stage features carry its "
                             f"voxel-branch outputs (SPVCNNLite); {type(self.backbone).__name__} gives none: "
                             "set model.stage_supervision='point'")
        branch = stage_features.branch_features[stage]
        point2voxel = stage_features.point_to_branch_voxel(stage)
        logits = decoder(branch)
        return logits, majority_vote(labels, point2voxel, len(branch)), logits[point2voxel[point_index]]

