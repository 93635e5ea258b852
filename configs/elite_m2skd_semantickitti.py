# ELiTe and M2SKD at once: the student learns from the SAM image teacher (PPMSKD) and from the multi-scan
# teacher (M2SKD). The camera pipeline gains the multi-scan step before the range filter and the projection
# (gathered points get no pixel), and packs the instance ids.
_base_ = ['./elite_semantickitti.py']

train_pipeline = [*_base_.train_pipeline]
train_pipeline.insert(train_pipeline.index(_base_.range_filter), _base_.multiscan)
train_pipeline[-1] = dict(_base_.camera_pack, keys=[*_base_.camera_pack['keys'], 'pts_instance_mask'])
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
model = dict(type='ELiTeM2SKD')  # M2SKD's defaults (the released code's terms), as configs/m2skd_semantickitti.py
