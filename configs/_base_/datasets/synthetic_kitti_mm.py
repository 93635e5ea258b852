# The built-in synthetic SemanticKITTI (tools/make_synthetic_semantickitti.py), same layout and pipelines.
_base_ = ['./semantickitti_mm.py']

data_root = 'data/synthetic_kitti/'
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(data_root=data_root))
val_dataloader = test_dataloader
