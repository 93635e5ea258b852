# LiDAR-only SemanticKITTI for the student baseline: mmdet3d's dataset and base config, with the reference
# code's training data (2DPASS dataloader/dataset.py: points inside the range, rotation U(0, 2 pi) about z,
# flips, scale 0.95-1.05 on x and y, translation N(0, 0.1), point dropout 0-20 %) and a packer that also
# records the sequence / frame ids (for submissions).
# Every pipeline step is written once here (or in the camera / multi-scan bases); the pipelines are lists of
# these named steps, so a config that adds a step rebuilds its list from them (mmengine replaces lists whole).
_base_ = ['mmdet3d::_base_/datasets/semantickitti.py']
custom_imports = dict(imports=['elite'], allow_failed_imports=False)

data_root = 'data/semantickitti/'
backend_args = None
# mmdet3d's loaders plus checks: a scan or label file that changed after create_data.py stops naming the file
load_points = dict(type='LoadCheckedPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4,
                   backend_args=backend_args)
load_labels = dict(type='LoadCheckedAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_seg_3d=True,
                   seg_3d_dtype='np.int32', seg_offset=2**16, dataset_type='semantickitti',
                   backend_args=backend_args)
load_steps = [load_points, load_labels, dict(type='PointSegClassMapping')]
# Training drops the points outside the voxel grid (strictly inside, before any augmentation), as the reference
# dataset does; validation and test keep every point (SemanticKittiMetric scores both ways).
point_cloud_range = [-50, -50, -4, 50, 50, 2]
range_filter = dict(type='PointsRangeFilter', point_cloud_range=point_cloud_range)
# the reference's point augmentation, after the range filter (and after any projection to the image)
flip_ratios = dict(flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5)
point_flip = dict(type='RandomFlip3D', sync_2d=False, **flip_ratios)
point_augment_steps = [
    dict(type='GlobalRotScaleTransXY', rot_range=[-3.1415926, 3.1415926], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.1, 0.1, 0.1]),  # scale on x, y only (reference)
    dict(type='PointSample', num_points=0.8),  # point dropout 0-20 % (reference)
]
pack = dict(type='PackPointImageInputs', keys=['points', 'pts_semantic_mask'])
# M2SKD (semantickitti_multiscan.py): the hard-class instances of the previous 4 scans, as the released M2SKD
# code gathers them (moved by their centroid alone, from frame 4 on); right after the labels are mapped
multiscan = dict(type='MultiScanHardInstances', num_scans=4, align='translation', min_frame=4)

train_pipeline = [*load_steps, range_filter, point_flip, *point_augment_steps, pack]
test_pipeline = [*load_steps, pack]

# TTA (tools/test.py --tta [SCHEME]), two named schemes:
# - 'reference' (default, as 2DPASS / ELiTe --num_vote 12): 12 views, each a rotation U(0, 2 pi) about z and a
#   translation N(0, 0.1), seeded per scan and view (repeatable); raw logits summed.
# - 'views16': 2 flips x 4 rotations x 2 scales = 16 fixed views, softmax averaged by mmdet3d's Seg3DTTAModel.
tta_pipeline = [
    *load_steps,
    dict(type='TestTimeAug', transforms=[[dict(type='SeededRotTransView', view=v, seed=0) for v in range(12)],
                                         [pack]])
]
tta_model = dict(type='Seg3DLogitSumTTAModel')
views16_tta_pipeline = [
    *load_steps,
    dict(type='TestTimeAug', transforms=[
        [dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.0, flip_ratio_bev_vertical=v)
         for v in (0.0, 1.0)],
        [dict(type='GlobalRotScaleTrans', rot_range=[r, r], scale_ratio_range=[s, s], translation_std=[0, 0, 0])
         for r in (0.0, 1.5707963, 3.1415926, -1.5707963) for s in (0.95, 1.05)],
        [pack],
    ])
]
views16_tta_model = dict(type='Seg3DTTAModel')

dataset_type = 'SemanticKittiFrameDataset'  # mmdet3d's SemanticKittiDataset plus sequence, frame_id, data_root
train_dataloader = dict(batch_size=4, num_workers=4,
                        dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
test_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, pipeline=test_pipeline))
val_dataloader = test_dataloader
# mIoU of the reference protocol (in-range points, as 2DPASS / ELiTe validate) and of all points
val_evaluator = dict(type='SemanticKittiMetric', point_cloud_range=point_cloud_range)
test_evaluator = val_evaluator
