# The LiDAR-only student baseline (Table II row a: 62.6 val mIoU in the paper) on SemanticKITTI.
_base_ = [
    './_base_/datasets/semantickitti_lidar.py',
    './_base_/models/spvcnnlite.py',
    './_base_/schedules/sgd_cosine_64e.py',
    './_base_/default_runtime.py',
]
