# Camera + LiDAR SemanticKITTI (ELITE.md section 1) for training with the image teacher. Validation and
# test keep the LiDAR-only pipelines of semantickitti_lidar.py: only the student runs at inference.
# camera_test_pipeline is the deterministic camera+LiDAR pipeline (centred crop), e.g. to look at the teacher.
_base_ = ['./semantickitti_lidar.py']

dataset_type = 'SemanticKittiMMDataset'
input_modality = dict(use_lidar=True, use_camera=True)

crop_size = (1024, 320)  # (W, H) bottom crop at training; 2DPASS used 480 x 320 (ELITE.md section 1)
sam_input_size = (1024, 1024)  # (H, W) the SAM ViT encoder's input; the crop is padded bottom/right to it
camera_pack = dict(type='PackPointImageInputs', keys=['points', 'img', 'pts_semantic_mask'])

train_pipeline = [
    {{_base_.load_points}},
    {{_base_.load_labels}},
    dict(type='PointSegClassMapping'),
    {{_base_.range_filter}},
    dict(type='LoadCameraImage', backend_args={{_base_.backend_args}}),
    dict(type='ProjectPointsToImage'),  # before any 3D augmentation, so correspondences survive it
    dict(type='BottomCropImage', crop_size=crop_size, random_left=True),
    dict(type='ImageColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='FlipImageHorizontal', prob=0.5),
    dict(type='NormalizePadImage', pad_shape=sam_input_size),
    dict(type='RandomFlip3DPointsOnly', sync_2d=False, flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTransXY', rot_range=[-3.1415926, 3.1415926], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.1, 0.1, 0.1]),  # scale on x, y only (reference)
    dict(type='PointSample', num_points=0.8),  # point dropout 0-20 % (reference)
    camera_pack,
]
camera_test_pipeline = [
    {{_base_.load_points}},
    {{_base_.load_labels}},
    dict(type='PointSegClassMapping'),
    dict(type='LoadCameraImage', backend_args={{_base_.backend_args}}),
    dict(type='ProjectPointsToImage'),
    dict(type='BottomCropImage', crop_size=crop_size, random_left=False),
    dict(type='NormalizePadImage', pad_shape=sam_input_size),
    camera_pack,
]

train_dataloader = dict(
    dataset=dict(type=dataset_type, pipeline=train_pipeline, modality=input_modality))
test_dataloader = dict(dataset=dict(type=dataset_type, modality=input_modality))
val_dataloader = test_dataloader
