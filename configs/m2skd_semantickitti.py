# M2SKD on SemanticKITTI: the student learns from its own multi-scan view of hard-class instances.
_base_ = [
    './_base_/datasets/semantickitti_multiscan.py',
    './_base_/models/m2skd.py',
    './_base_/schedules/sgd_cosine_64e.py',
    './_base_/default_runtime.py',
]
