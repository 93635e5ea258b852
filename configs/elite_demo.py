# ELiTe on the built-in synthetic dataset with the small random-weight teacher (vit_tiny): trains on the
# CPU in minutes. Expects data/synthetic_kitti/ with its infos (tools/run_demo.py makes them).
_base_ = ['./elite_semantickitti.py']

data_root = 'data/synthetic_kitti/'
max_epochs = 40
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = test_dataloader

# class weights of the synthetic training sequence, as in spvcnnlite_demo.py
synthetic_class_weight = [1.4257, 2.7502, 17.1192, 17.1192, 17.1192, 4.1638, 17.1192, 17.1192, 1.0, 17.1192,
                          1.1694, 17.1192, 1.2205, 1.9302, 3.2071, 3.7935, 1.3498, 4.33, 17.1192]
model = dict(
    decode_head=dict(loss_decode=dict(class_weight=synthetic_class_weight)),
    teacher=dict(variant='vit_tiny'),
    patch_decoder=dict(in_channels=64, channels=32),
    stage_loss=dict(loss_ce=dict(class_weight=synthetic_class_weight)))
param_scheduler = [dict(type='ReferenceCosineLR', warmup_iters=1000, by_epoch=True, begin=0, end=max_epochs,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, save_best=None))
log_processor = dict(window_size=8)
