# The student baseline on the built-in synthetic dataset (tools/make_synthetic_semantickitti.py):
# trains on the CPU in a few minutes. Expects data/synthetic_kitti/ with its infos (tools/run_demo.py makes them).
_base_ = ['./spvcnnlite_semantickitti.py']

data_root = 'data/synthetic_kitti/'
max_epochs = 40
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = test_dataloader

# (max_freq / freq) ** (1/3) of the synthetic training sequence's classes (seed 0, 8 frames x 20,000 points),
# from elite.datasets.class_weights; SemanticKITTI's weights do not fit these scenes.
model = dict(decode_head=dict(loss_decode=dict(class_weight=[
    1.4257, 2.7502, 17.1192, 17.1192, 17.1192, 4.1638, 17.1192, 17.1192, 1.0, 17.1192, 1.1694, 17.1192, 1.2205,
    1.9302, 3.2071, 3.7935, 1.3498, 4.33, 17.1192])))
param_scheduler = [dict(type='ReferenceCosineLR', warmup_iters=1000, by_epoch=True, begin=0, end=max_epochs,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=8), checkpoint=dict(interval=10, save_best=None))
log_processor = dict(window_size=8)
