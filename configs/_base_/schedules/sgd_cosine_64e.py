# ELITE.md section 6: SGD lr 0.24, momentum 0.9, Nesterov, weight decay 1e-4, 64 epochs,
# cosine decay per iteration, gradient clipping at norm 1 (batch 4 per GPU, set in the dataset config).
max_epochs = 64
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.24, momentum=0.9, nesterov=True, weight_decay=1e-4),
    clip_grad=dict(max_norm=1.0, norm_type=2))
param_scheduler = [
    dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0, by_epoch=True, begin=0, end=max_epochs,
         convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=max_epochs, val_interval=1)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
