# mmdet3d's runtime plus the plugin's hooks (each a no-op where it does not apply). The optimiser step itself
# (non-finite check, AdaLoRA's allocation, clipping, step, in that order) is the optimiser wrapper's,
# ELiTeOptimWrapper in schedules/; these hooks hand it what only the runner knows:
# - NonFiniteGuardHook: stops training at a step the wrapper refused for a non-finite loss (or gradient), naming
#   the iteration, the loss terms and the batch's files; the weights never saw that step;
# - CheckpointCoverageHook: load_from / --resume / tools/test.py refuse a checkpoint that lacks a weight of the
#   inference path (mmengine would only warn and run random weights);
# - AdaLoRARankAllocationHook: gives the wrapper the model's AdaLoRA teacher and T, and keeps AdaLoRA's
#   allocation state in checkpoints (models with an AdaLoRA teacher only).
_base_ = ['mmdet3d::_base_/default_runtime.py']
custom_hooks = [dict(type='NonFiniteGuardHook'), dict(type='CheckpointCoverageHook'),
                dict(type='AdaLoRARankAllocationHook')]
# a checkpoint every epoch (the last 3 kept) and the best validation mIoU (in-range points, the reference protocol)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='miou',
                                     rule='greater'))
