# Mixing with mmdet3d's segmentors: ELiTe distilling the SAM teacher into mmdet3d's own MinkUNet
# (MinkUNet34 W32 blocks, spconv) instead of SPVCNNLite. Its four decoder stages (strides 8, 4, 2, 1;
# 256 / 128 / 96 / 96 channels) are the distillation stages; its classifier reads them concatenated.
_base_ = ['./elite_semantickitti.py']

model = dict(
    data_preprocessor=dict(voxel_layer=dict(point_cloud_range=[-100, -100, -20, 100, 100, 20],
                                            voxel_size=[0.05, 0.05, 0.05])),
    backbone=dict(_delete_=True, type='MinkUNetStageFeatures', in_channels=4, num_stages=4, base_channels=32,
                  encoder_channels=[32, 64, 128, 256], encoder_blocks=[2, 3, 4, 6],
                  decoder_channels=[256, 128, 96, 96], decoder_blocks=[2, 2, 2, 2], block_type='basic'),
    decode_head=dict(channels=256 + 128 + 96 + 96),
    stage_supervision='point')  # MinkUNet's stages are per-point features, not SPVCNNLite's voxel branches
