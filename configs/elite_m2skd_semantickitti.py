# ELiTe and M2SKD at once: the student learns from the SAM image teacher (PPMSKD) and from the multi-scan
# teacher (M2SKD). The camera pipeline gains the multi-scan step before projection and augmentation.
_base_ = ['./elite_semantickitti.py']

train_pipeline = [
    {{_base_.load_points}},
    {{_base_.load_labels}},
    dict(type='PointSegClassMapping'),
    dict(type='MultiScanHardInstances', num_scans=4, align='translation', min_frame=4),
    {{_base_.range_filter}},
    dict(type='LoadCameraImage', backend_args={{_base_.backend_args}}),
    dict(type='ProjectPointsToImage'),  # gathered points get no pixel
    dict(type='BottomCropImage', crop_size={{_base_.crop_size}}, random_left=True),
    dict(type='ImageColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='FlipImageHorizontal', prob=0.5),
    dict(type='NormalizePadImage', pad_shape={{_base_.sam_input_size}}),
    dict(type='RandomFlip3DPointsOnly', sync_2d=False, flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTransXY', rot_range=[-3.1415926, 3.1415926], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.1, 0.1, 0.1]),  # scale on x, y only (reference)
    dict(type='PointSample', num_points=0.8),  # point dropout 0-20 % (reference)
    dict(type='PackPointImageInputs', keys=['points', 'img', 'pts_semantic_mask', 'pts_instance_mask']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(type='ELiTeM2SKD', multiscan_teacher='shared', loss_style='reference',
             multiscan_weights=dict(seg=0.2, feat=0.0, logit=5.0, affinity=1.0), temperature=1 / 0.3,
             max_instance_points=256)
