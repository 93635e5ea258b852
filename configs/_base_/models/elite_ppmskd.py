# ELiTe (ELITE.md sections 3, 4): the SPVCNNLite student distilled from a SAM ViT-B teacher tuned with
# AdaLoRA, through upscale-interpolate patch decoders and multi-stage KD (PPMSKD).
_base_ = ['./spvcnnlite.py']

num_classes = 19
model = dict(
    type='PPMSKD',
    teacher=dict(
        type='SAMViTTeacher',
        variant='vit_b',
        checkpoint=None,  # path to sam_vit_b_01ec64.pth (user-supplied); None = random weights
        tuning='adalora',  # Table II: fixed | pe_ln | lora | adalora
        # AdaLoRA (Section 3): init rank 12 -> target 8, tinit T/6, tfinal T/2, deltaT T/300, beta 0.85,
        # alpha 1, orthogonal regulariser 0.1; T comes from the runner (AdaLoRARankAllocationHook)
        adalora=dict(init_r=12, target_r=8, beta1=0.85, beta2=0.85, lora_alpha=1, orth_reg_weight=0.1,
                     tinit_ratio=1 / 6, tfinal_ratio=1 / 2, delta_t_ratio=1 / 300),
        token_cut=True),  # Table II "memory optimisation": only the crop's 20 x 64 tokens
    patch_decoder=dict(type='PatchDecoder', in_channels=768, channels=96, num_classes=num_classes,
                       variant='upscale_interpolate'),
    point_decoder=dict(type='PointDecoder', in_channels=64, channels=128, num_classes=num_classes),
    # stage and fused heads: CE + Lovasz, both weight 1 (reference code); CE weights as the student's
    stage_loss=dict(
        loss_ce=dict(type='WeightedMeanCrossEntropyLoss', class_weight={{_base_.semantickitti_class_weight}},
                     loss_weight=1.0),
        loss_lovasz=dict(type='LovaszLoss', loss_type='multi_class', reduction='none', loss_weight=1.0)),
    num_stages=4,
    kd_mode='multi_stage',  # 'single_stage' = Table II row b
    # stage heads on the voxel-branch outputs (scales 1, 2, 4, 8), per-voxel CE + Lovasz on majority labels,
    # voxel logits broadcast to the points for the KL (reference arch_elite.py); 'point' = per-point features
    stage_supervision='voxel',
    # point stage 1, patch stage 1/4, KD 0.05/4, fused 2D head 1 (reference code)
    loss_weights=dict(point_stage=1.0, patch_stage=0.25, kd=0.0125, fused=1.0),
    kd_reduction='mean',  # the reference's element-wise mean; 'batchmean' is the KL's true mean
    ignore_index=19)
