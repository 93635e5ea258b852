# Table II row l: row k with SAM pseudo-labels (SAM-PLG, 66.4): the teacher's 2D losses use every pixel of
# the dense labels written by tools/generate_pseudo_labels.py, read right after the camera image.
_base_ = ['./k_adalora_cut_upscale.py']

train_pipeline = [*_base_.train_pipeline]
train_pipeline.insert(train_pipeline.index(_base_.load_image) + 1, dict(type='SAMPseudoLabel'))
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
