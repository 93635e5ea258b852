# mmdet3d's runtime plus the plugin's hooks (each a no-op where it does not apply):
# - NonFiniteGuardHook: a non-finite loss (or gradient) stops training before it reaches the weights, naming the
#   iteration, the loss terms and the batch's files;
# - CheckpointCoverageHook: load_from / --resume / tools/test.py refuse a checkpoint that lacks a weight of the
#   inference path (mmengine would only warn and run random weights);
# - AdaLoRARankAllocationHook: AdaLoRA's rank allocation in the loop (models with an AdaLoRA teacher only).
# Their order is set by their priorities, not by this list: AdaLoRA's (VERY_HIGH) wraps the optimiser step first
# and the guard's (HIGH) around it, so a non-finite step is stopped before the allocation reads its gradients.
_base_ = ['mmdet3d::_base_/default_runtime.py']
custom_hooks = [dict(type='NonFiniteGuardHook'), dict(type='CheckpointCoverageHook'),
                dict(type='AdaLoRARankAllocationHook')]
# a checkpoint every epoch (the last 3 kept) and the best validation mIoU (in-range points, the reference protocol)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3, save_best='miou',
                                     rule='greater'))
