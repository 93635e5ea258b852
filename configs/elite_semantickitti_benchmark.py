# ELiTe for the SemanticKITTI test-server benchmark (ELITE.md section 6): SAM pseudo-labels (row l),
# train + val, 128 epochs, the student initialised from a trained student checkpoint (e.g. the baseline's
# best, or one converted from 2DPASS with tools/convert_checkpoint.py): only backbone.* / decode_head.*
# load, the rest starts fresh. (The reference's instance cut-mix augmentation is not implemented.)
_base_ = ['./ablations/l_adalora_cut_upscale_plg.py']

max_epochs = 128
train_dataloader = dict(dataset=dict(ann_file='semantickitti_infos_trainval.pkl'))
param_scheduler = [dict(type='ReferenceCosineLR', warmup_iters=1000, by_epoch=True, begin=0, end=max_epochs,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
load_from = 'work_dirs/spvcnnlite_semantickitti/student.pth'  # set to your student checkpoint
