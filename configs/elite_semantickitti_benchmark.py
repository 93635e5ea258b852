# ELiTe for the SemanticKITTI test-server benchmark (ELITE.md section 6): SAM pseudo-labels (row l),
# train + val, 128 epochs, the student initialised from a trained student checkpoint (e.g. the baseline's
# best, or one converted from 2DPASS with tools/convert_checkpoint.py): only backbone.* / decode_head.*
# load, the rest starts fresh. (The reference's instance cut-mix augmentation is not implemented.)
_base_ = ['./ablations/l_adalora_cut_upscale_plg.py']

train_dataloader = dict(dataset=dict(ann_file='semantickitti_infos_trainval.pkl'))
train_cfg = dict(max_epochs=128, val_interval=128)
load_from = 'work_dirs/spvcnnlite_semantickitti/student.pth'  # set to your student checkpoint
