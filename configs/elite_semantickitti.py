# ELiTe on SemanticKITTI with the paper's settings (Table II row k; row l adds SAM pseudo-labels):
# vit_b teacher with AdaLoRA, token cut, upscale-interpolate patch decoders, 4-stage PPMSKD, 64 epochs.
# Set model.teacher.checkpoint to your sam_vit_b_01ec64.pth.
_base_ = [
    './_base_/datasets/semantickitti_mm.py',
    './_base_/models/elite_ppmskd.py',
    './_base_/schedules/sgd_cosine_64e.py',
    './_base_/default_runtime.py',
]
