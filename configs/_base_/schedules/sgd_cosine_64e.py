# The paper's training recipe: SGD lr 0.24, momentum 0.9, Nesterov, weight decay 1e-4, 64 epochs,
# cosine decay per iteration, gradient clipping at norm 1 (batch 4 per GPU, set in the dataset config).
# ELiTeOptimWrapper (elite/engine/optim_wrapper.py; tools/train.py --amp takes its AMP twin) steps in this order:
# refuse a step with a non-finite loss (or gradient, with check_gradients; NonFiniteGuardHook then stops the run
# naming the loss terms and files), AdaLoRA's rank allocation (models with an AdaLoRA teacher; adalora_order=
# 'reference': on the unclipped gradients, as the reference; 'after_step': after the step, peft's place), clip, step.
# Its two options are written out though they are the class's defaults, so that the config shows the step's order.
optim_wrapper = dict(
    type='ELiTeOptimWrapper',
    optimizer=dict(type='SGD', lr=0.24, momentum=0.9, nesterov=True, weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0, norm_type=2),
    adalora_order='reference', check_gradients=True)
# The reference schedule (2DPASS / ELiTe utils/schedulers.py): with one process a cosine per iteration from
# 0.24 to 0 (the same as CosineAnnealingLR); with G > 1 processes first a linear warm-up of 1000 // G iterations.
# No `end`: the runner ends it with the run (train_cfg.max_epochs), so a config or --cfg-options that changes the
# epochs changes the schedule with them.
param_scheduler = [dict(type='ReferenceCosineLR', warmup_iters=1000, by_epoch=True, begin=0,
                        convert_to_iter_based=True)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=64, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
