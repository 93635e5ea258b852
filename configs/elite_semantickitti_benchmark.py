# ELiTe for the SemanticKITTI test-server benchmark: the reference recipe (ELiTe config/ELiTe-test-semantickitti.yaml,
# network/base_model.py, dataloader/dataset.py): SAM pseudo-labels (row l), train + val, batch 2, 128 epochs,
# CosineAnnealingLR(T_max = 128 - 4, eta_min = 1e-5) stepped per epoch, instance cut-mix, and the student
# initialised from a trained student checkpoint (e.g. the baseline's best, or one converted from 2DPASS with
# tools/convert_checkpoint.py): only backbone.* / decode_head.* load, the rest starts fresh.
_base_ = ['./ablations/l_adalora_cut_upscale_plg.py']

epochs = 128
# another training scan's in-range instance points, augmented on their own as the reference augments its cut
# scan, appended after the scan's own augmentation (no pixels: the image is this scan's)
instance_cutmix = dict(type='InstanceCutMix', pre_transform=_base_.load_steps,
                       augment=[_base_.point_flip, *_base_.point_augment_steps],
                       point_cloud_range=_base_.point_cloud_range)
train_pipeline = [*_base_.train_pipeline]
train_pipeline.insert(train_pipeline.index(_base_.camera_pack), instance_cutmix)
train_dataloader = dict(batch_size=2, dataset=dict(ann_file='semantickitti_infos_trainval.pkl',
                                                   pipeline=train_pipeline))
train_cfg = dict(max_epochs=epochs, val_interval=epochs)
param_scheduler = [dict(type='CosineAnnealingLR', T_max=epochs - 4, eta_min=1e-5, by_epoch=True, begin=0,
                        end=epochs)]
load_from = 'work_dirs/spvcnnlite_semantickitti/student.pth'  # set to your student checkpoint
