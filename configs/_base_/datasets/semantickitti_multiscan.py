# SemanticKITTI for M2SKD (ELITE.md section 8): each training scan gains the hard-class instances of its
# previous 4 scans, as the released M2SKD code gathers them (moved by their centroid alone, from frame 4 on);
# validation and test stay single-scan (semantickitti_lidar.py).
_base_ = ['./semantickitti_lidar.py']

multiscan = dict(type='MultiScanHardInstances', num_scans=4, align='translation', min_frame=4)
multiscan_pack = dict(type='PackPointImageInputs', keys=['points', 'pts_semantic_mask', 'pts_instance_mask'])
train_pipeline = [
    {{_base_.load_points}},
    {{_base_.load_labels}},
    dict(type='PointSegClassMapping'),
    multiscan,  # before any augmentation
    {{_base_.range_filter}},
    dict(type='RandomFlip3D', sync_2d=False, flip_ratio_bev_horizontal=0.5, flip_ratio_bev_vertical=0.5),
    dict(type='GlobalRotScaleTransXY', rot_range=[-3.1415926, 3.1415926], scale_ratio_range=[0.95, 1.05],
         translation_std=[0.1, 0.1, 0.1]),  # scale on x, y only (reference)
    dict(type='PointSample', num_points=0.8),  # point dropout 0-20 % (reference)
    multiscan_pack,
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
