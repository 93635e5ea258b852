# SemanticKITTI for M2SKD: each training scan gains the hard-class instances of its
# previous scans (the `multiscan` step of semantickitti_lidar.py) before the range filter and any augmentation;
# validation and test stay single-scan.
_base_ = ['./semantickitti_lidar.py']

multiscan_pack = dict(_base_.pack, keys=['points', 'pts_semantic_mask', 'pts_instance_mask'])
train_pipeline = [*_base_.load_steps, _base_.multiscan, _base_.range_filter, _base_.point_flip,
                  *_base_.point_augment_steps, multiscan_pack]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
