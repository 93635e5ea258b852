# Table II row l: row k with SAM pseudo-labels (SAM-PLG, 66.4): the teacher's 2D losses use every pixel of
# the dense labels written by tools/generate_pseudo_labels.py. The pipeline is row k's plus SAMPseudoLabel
# right after LoadCameraImage (mmengine configs replace lists whole).
_base_ = ['./k_adalora_cut_upscale.py']

train_pipeline = [
    {{_base_.load_points}},
    {{_base_.load_labels}},
    dict(type='PointSegClassMapping'),
    {{_base_.range_filter}},
    dict(type='LoadCameraImage', backend_args={{_base_.backend_args}}),
    dict(type='SAMPseudoLabel'),
    dict(type='ProjectPointsToImage'),
    dict(type='BottomCropImage', crop_size={{_base_.crop_size}}, random_left=True),
    dict(type='ImageColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='FlipImageHorizontal', prob=0.5),
    dict(type='NormalizePadImage', pad_shape={{_base_.sam_input_size}}),
    dict(type='RandomFlip3DPointsOnly', sync_2d=False, flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTransXY', rot_range=[-3.1415926, 3.1415926], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.1, 0.1, 0.1]),  # scale on x, y only (reference)
    dict(type='PointSample', num_points=0.8),  # point dropout 0-20 % (reference)
    {{_base_.camera_pack}},
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
