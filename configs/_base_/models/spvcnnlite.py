# The ELiTe student alone: SPVCNNLite + per-point classifier,
# loss = class-weighted CE + 0.1 x Lovasz-softmax (weights and normalisation from the reference code).
# The architecture is spelled out in full, as mmdet3d's base model configs are, though most values are the classes'
# defaults: a work directory's copy of the config then records what was trained, whatever the defaults become.
_base_ = ['./point_image_data_preprocessor.py']

# (max_freq / freq) ** (1/3) of SemanticKITTI's per-class point frequencies (semantic-kitti.yaml 'content',
# as 2DPASS computes them), in mmdet3d's 19-class order.
semantickitti_class_weight = [2.0484, 11.4097, 9.5813, 5.6957, 5.2598, 9.5177, 13.7308, 18.2139, 1.2552,
                              3.0203, 1.4083, 4.2135, 1.274, 1.6765, 1.0, 3.6458, 1.5434, 4.7286, 7.4162]

model = dict(
    type='PointVoxelSegmentor',
    data_preprocessor={{_base_.data_preprocessor}},
    backbone=dict(type='SPVCNNLite', in_channels=4, channels=64, scales=(2, 4, 8, 16), sparse_backend='auto',
                  grid='reference'),  # 2DPASS's per-scale grids; 'nested' is faster (a departure)
    decode_head=dict(
        type='SPVCNNLiteHead',
        channels=256,
        mid_channels=128,
        num_classes=19,
        ignore_index=19,
        # normalised as torch's nn.CrossEntropyLoss(weight=...), the reference's: / sum of the targets' weights
        loss_decode=dict(type='WeightedMeanCrossEntropyLoss', class_weight=semantickitti_class_weight,
                         loss_weight=1.0),
        loss_lovasz=dict(type='LovaszLoss', loss_type='multi_class', reduction='none', loss_weight=0.1)),
    train_cfg=dict(),
    test_cfg=dict())
