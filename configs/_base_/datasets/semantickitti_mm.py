# Camera + LiDAR SemanticKITTI (ELITE.md section 1). Inherits mmdet3d's SemanticKITTI base for the class
# names, the raw-id label map (ignore = 19), the evaluator and the visualiser; replaces the dataset and
# pipelines with the camera-aware ones.
_base_ = ['mmdet3d::_base_/datasets/semantickitti.py']
custom_imports = dict(imports=['elite'], allow_failed_imports=False)

dataset_type = 'SemanticKittiMMDataset'
data_root = 'data/semantickitti/'
input_modality = dict(use_lidar=True, use_camera=True)
backend_args = None

crop_size = (1024, 320)  # (W, H) bottom crop at training; 2DPASS used 480 x 320 (ELITE.md section 1)
sam_input_size = (1024, 1024)  # (H, W) the SAM ViT encoder's input; the crop is padded bottom/right to it

load_points = dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4,
                   backend_args=backend_args)
load_labels = dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_seg_3d=True,
                   seg_3d_dtype='np.int32', seg_offset=2**16, dataset_type='semantickitti',
                   backend_args=backend_args)

train_pipeline = [
    load_points,
    load_labels,
    dict(type='PointSegClassMapping'),
    dict(type='LoadCameraImage', backend_args=backend_args),
    dict(type='ProjectPointsToImage'),  # before any 3D augmentation, so correspondences survive it
    dict(type='BottomCropImage', crop_size=crop_size, random_left=True),
    dict(type='ImageColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='FlipImageHorizontal', prob=0.5),
    dict(type='NormalizePadImage', pad_shape=sam_input_size),
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTrans', rot_range=[-3.1415926, 3.1415926], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.1, 0.1, 0.1]),
    dict(type='PointSample', num_points=0.9),  # point dropout: keep a random 90-100 % of the points
    dict(type='PackPointImageInputs', keys=['points', 'img', 'pts_semantic_mask']),
]
test_pipeline = [
    load_points,
    load_labels,
    dict(type='PointSegClassMapping'),
    dict(type='LoadCameraImage', backend_args=backend_args),
    dict(type='ProjectPointsToImage'),
    dict(type='BottomCropImage', crop_size=crop_size, random_left=False),
    dict(type='NormalizePadImage', pad_shape=sam_input_size),
    dict(type='PackPointImageInputs', keys=['points', 'img', 'pts_semantic_mask']),
]

train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='semantickitti_infos_train.pkl',
                 pipeline=train_pipeline, modality=input_modality))
test_dataloader = dict(
    dataset=dict(type=dataset_type, data_root=data_root, ann_file='semantickitti_infos_val.pkl',
                 pipeline=test_pipeline, modality=input_modality))
val_dataloader = test_dataloader
