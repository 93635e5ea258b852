# mmdet3d's runtime plus the plugin's hooks (each a no-op where it does not apply):
# - NonFiniteGuardHook: a non-finite loss (or gradient) stops training before it reaches the weights, naming the
#   iteration, the loss terms and the batch's files;
# - CheckpointCoverageHook: load_from / --resume / tools/test.py refuse a checkpoint that lacks a weight of the
#   inference path (mmengine would only warn and run random weights);
# - AdaLoRARankAllocationHook: AdaLoRA's rank allocation in the loop (models with an AdaLoRA teacher only).
_base_ = ['mmdet3d::_base_/default_runtime.py']
custom_hooks = [dict(type='NonFiniteGuardHook'), dict(type='CheckpointCoverageHook'),
                dict(type='AdaLoRARankAllocationHook')]
