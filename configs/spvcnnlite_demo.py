# The student baseline on the built-in synthetic dataset (tools/make_synthetic_semantickitti.py):
# trains on the CPU in a few minutes. Expects data/synthetic_kitti/ with its infos (tools/run_demo.py makes them).
_base_ = ['./spvcnnlite_semantickitti.py']

data_root = 'data/synthetic_kitti/'
max_epochs = 20
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = test_dataloader

# uniform class weights: the synthetic scenes do not have SemanticKITTI's class frequencies
model = dict(decode_head=dict(loss_decode=dict(class_weight=None)))
optim_wrapper = dict(optimizer=dict(lr=0.1))
param_scheduler = [dict(type='CosineAnnealingLR', T_max=max_epochs, eta_min=0.0, by_epoch=True, begin=0,
                        end=max_epochs, convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
default_hooks = dict(logger=dict(interval=5), checkpoint=dict(interval=5, save_best=None))
log_processor = dict(window_size=5)
