# ELiTe (the paper's teacher and PPMSKD): the SPVCNNLite student distilled from a SAM ViT-B teacher tuned with
# AdaLoRA, through upscale-interpolate patch decoders and multi-stage KD (PPMSKD).
# Every head owns its losses; each term's weight is its loss's loss_weight (reference code: the stage heads
# (auxiliary_head, one PointDecoder per stage) CE + Lovasz 1, patch stage heads 1/4, fused 2D head 1; CE class
# weights as the student's). The KD term is PPMSKD's default loss_kd (mmdet's KnowledgeDistillationKLDivLoss,
# T = 1, element-wise mean as the reference, weight 0.05 / num_stages).
# As in spvcnnlite.py, the model is spelled out in full, class defaults included (stages, KD mode, supervision).
_base_ = ['./spvcnnlite.py']

num_classes = 19
class_weight = _base_.semantickitti_class_weight
stage_ce = dict(type='WeightedMeanCrossEntropyLoss', class_weight=class_weight, loss_weight=1.0)
stage_lovasz = dict(type='LovaszLoss', loss_type='multi_class', reduction='none', loss_weight=1.0)
model = dict(
    type='PPMSKD',
    # the images are normalised with SAM's pixel statistics (segment-anything's Sam.pixel_mean / pixel_std, RGB;
    # elite.sam_specs holds them for the code): repeated here because mmdet3d's data preprocessor takes numbers,
    # and tests/test_configs.py checks that the two agree
    data_preprocessor=dict(mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375], bgr_to_rgb=False),
    teacher=dict(
        type='SAMViTTeacher',
        variant='vit_b',
        checkpoint=None,  # path to sam_vit_b_01ec64.pth (user-supplied); None = random weights
        tuning='adalora',  # Table II: fixed | pe_ln | lora | adalora
        # AdaLoRA as in Section 3 (init rank 12 -> target 8, tinit T/6, tfinal T/2, deltaT T/300, beta 0.85, alpha 1,
        # orthogonal regulariser 0.1): ADALORA_DEFAULTS (elite/models/backbones/sam_tuning.py); override keys with
        # adalora=dict(...).
        # T comes from the runner (AdaLoRARankAllocationHook)
        token_cut=True),  # Table II "memory optimisation": only the crop's 20 x 64 tokens
    patch_decoder=dict(type='PatchDecoder', in_channels=768, channels=96, num_classes=num_classes,
                       variant='upscale_interpolate',
                       loss_decode=dict(stage_ce, loss_weight=0.25), loss_lovasz=dict(stage_lovasz, loss_weight=0.25)),
    auxiliary_head=dict(type='PointDecoder', channels=64, mid_channels=128, num_classes=num_classes,
                       loss_decode=stage_ce, loss_lovasz=stage_lovasz),
    fused_decoder=dict(type='PointDecoder', mid_channels=192, loss_decode=stage_ce, loss_lovasz=stage_lovasz),
    num_stages=4,
    kd_mode='multi_stage',  # 'single_stage' = Table II row b
    # stage heads on the voxel-branch outputs (scales 1, 2, 4, 8), per-voxel CE + Lovasz on majority labels,
    # voxel logits broadcast to the points for the KL (reference arch_elite.py); 'point' = per-point features
    stage_supervision='voxel')
