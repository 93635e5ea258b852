"""A per-point segmentor for point-voxel students, usable as a plain mmdet3d segmentor (the baseline)."""
from typing import Dict, List

from mmdet3d.models.segmentors import EncoderDecoder3D
from mmdet3d.registry import MODELS
from mmdet3d.structures.det3d_data_sample import OptSampleList, SampleList
from torch import Tensor


@MODELS.register_module()
class PointVoxelSegmentor(EncoderDecoder3D):
    """Backbone on ``inputs['voxels']`` (all points, see ``PointImageDataPreprocessor``) + per-point head.

    ``predict`` fills ``pred_pts_seg.pts_semantic_mask`` (N,) and ``pts_seg_logits.pts_seg_logits``
    (num_classes, N) for every input point, in input order, as mmdet3d's ``SegMetric``,
    ``Seg3DTTAModel`` and visualisers expect.
    """

    def extract_feat(self, batch_inputs_dict: Dict) -> List[Tensor]:
        return self.backbone(batch_inputs_dict['voxels'])

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        return self.decode_head.loss(self.extract_feat(batch_inputs_dict), batch_data_samples, self.train_cfg)

    def predict(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> SampleList:
        logits = self.decode_head(self.extract_feat(batch_inputs_dict))
        counts = [len(p) for p in batch_inputs_dict['points']]
        per_sample = [chunk.transpose(0, 1) for chunk in logits.split(counts)]
        return self.postprocess_result(per_sample, batch_data_samples)

    def _forward(self, batch_inputs_dict: Dict, batch_data_samples: OptSampleList = None) -> Tensor:
        return self.decode_head(self.extract_feat(batch_inputs_dict))
