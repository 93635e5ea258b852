# Mixing with mmdet3d's segmentors: ELiTe distilling the SAM teacher into mmdet3d's own SPVCNN (torchsparse 1.4.0,
# MinkUNet34 W32 blocks plus its point branch) instead of SPVCNNLite. Its four decoder stages (strides 8, 4, 2, 1;
# 256 / 128 / 96 / 96 channels) are the distillation stages; the classifier reads them concatenated.
# Needs torchsparse 1.4.0 (tools/setup_env.sh with ELITE_TORCHSPARSE=...).
_base_ = ['./elite_minkunet_semantickitti.py']

model = dict(backbone=dict(backbone_type='SPVCNNBackbone', sparseconv_backend='torchsparse', drop_ratio=0.3))
