# Camera + LiDAR SemanticKITTI for training with the image teacher. Validation and
# test keep the LiDAR-only pipelines of semantickitti_lidar.py: only the student runs at inference.
# camera_test_pipeline is the deterministic camera+LiDAR pipeline (centred crop), e.g. to look at the teacher.
_base_ = ['./semantickitti_lidar.py']

dataset_type = 'SemanticKittiMMDataset'
input_modality = dict(use_lidar=True, use_camera=True)

crop_size = (1024, 320)  # (W, H) bottom crop at training; 2DPASS used 480 x 320 (the paper's crop)
load_image = dict(type='LoadCameraImage', backend_args=_base_.backend_args)
project = dict(type='ProjectPointsToImage')  # before any 3D augmentation, so correspondences survive it
image_augment_steps = [
    dict(type='BottomCropImage', crop_size=crop_size, random_left=True),
    dict(type='ImageColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    dict(type='FlipImageHorizontal', prob=0.5),
]  # the data preprocessor normalises the image (SAM's statistics in the ELiTe model config)
camera_point_flip = dict(_base_.point_flip, type='RandomFlip3DPointsOnly')  # the image flips on its own
camera_pack = dict(type='PackPointImageInputs', keys=['points', 'img', 'pts_semantic_mask'])

train_pipeline = [*_base_.load_steps, _base_.range_filter, load_image, project, *image_augment_steps,
                  camera_point_flip, *_base_.point_augment_steps, camera_pack]
camera_test_pipeline = [*_base_.load_steps, load_image, project,
                        dict(type='BottomCropImage', crop_size=crop_size, random_left=False), camera_pack]

train_dataloader = dict(
    dataset=dict(type=dataset_type, pipeline=train_pipeline, modality=input_modality))
test_dataloader = dict(dataset=dict(type=dataset_type, modality=input_modality))
val_dataloader = test_dataloader
