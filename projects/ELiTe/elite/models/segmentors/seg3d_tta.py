"""Test-time augmentation merged as the reference code merges it: raw logits summed over the views."""
from typing import List

import torch
from mmdet3d.models.segmentors import Seg3DTTAModel
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import SampleList


@MODELS.register_module()
class Seg3DLogitSumTTAModel(Seg3DTTAModel):
    """mmdet3d's ``Seg3DTTAModel`` averages the views' softmax; 2DPASS / ELiTe (``--num_vote``) sum their raw
    logits (``vote_logits.index_add_``) and take the argmax. This merges the same way and keeps the summed
    logits in ``pts_seg_logits`` (C, N)."""

    def merge_preds(self, data_samples_list: List[SampleList]) -> SampleList:
        merged = []
        for views in data_samples_list:
            # summed in float32 (views tested in float16 would round, or overflow, in a float16 sum)
            logits = torch.stack([v.pts_seg_logits.pts_seg_logits.float() for v in views]).sum(0)
            first = views[0]
            first.pts_seg_logits.pts_seg_logits = logits
            first.pred_pts_seg.pts_semantic_mask = logits.argmax(dim=0)
            merged.append(first)
        return merged
