"""A per-point segmentor for point-voxel students, usable as a plain mmdet3d segmentor (the baseline)."""
from typing import Dict

from mmdet3d.models.segmentors import EncoderDecoder3D
from mmdet3d.registry import MODELS
from mmdet3d.structures import PointData
from mmdet3d.structures.det3d_data_sample import OptSampleList, SampleList
from torch import Tensor

from ..stage_features import StageFeatures


@MODELS.register_module()
class PointVoxelSegmentor(EncoderDecoder3D):
    """Backbone on ``inputs['voxels']`` (all points, see ``PointImageDataPreprocessor``) + per-point head.

    ``predict`` fills ``pred_pts_seg.pts_semantic_mask`` (N,) and ``pts_seg_logits.pts_seg_logits``
    (num_classes, N) for every input point, in input order, as mmdet3d's ``SegMetric``,
    ``Seg3DTTAModel`` and visualisers expect.
    """

    # earlier versions' names of submodules in checkpoints, moved to their names now when a checkpoint is read
    RENAMED_PREFIXES: Dict[str, str] = {}

    def _load_from_state_dict(self, state_dict: dict, prefix: str, *args, **kwargs) -> None:
        for old, new in self.RENAMED_PREFIXES.items():
            for key in [k for k in state_dict if k.startswith(prefix + old)]:
                value = state_dict.pop(key)
                state_dict.setdefault(prefix + new + key[len(prefix + old):], value)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extract_feat(self, batch_inputs_dict: Dict) -> StageFeatures:
        return self.backbone(batch_inputs_dict['voxels'])

    def loss(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        return self.decode_head.loss(self.extract_feat(batch_inputs_dict), batch_data_samples, self.train_cfg)

    def predict(self, batch_inputs_dict: Dict, batch_data_samples: SampleList) -> SampleList:
        """On fused multi-scan batches (``original_mask``, M2SKD's pipelines) only the scan's own points are
        predicted, and scored: the data preprocessor derives their inputs and data samples (``single_scan``)."""
        if 'original_mask' in batch_data_samples[0]:
            batch_inputs_dict = single_scan_inputs(batch_inputs_dict)
            batch_data_samples = batch_inputs_dict['data_samples']
        logits = self.decode_head(self.extract_feat(batch_inputs_dict))
        counts = [len(p) for p in batch_inputs_dict['points']]
        for sample, chunk in zip(batch_data_samples, logits.split(counts)):
            # what EncoderDecoder3D.postprocess_result sets, with the argmax taken on the contiguous (N, C)
            # logits rather than their (C, N) transpose (several times faster on 120,000 points)
            sample.set_data(dict(pts_seg_logits=PointData(pts_seg_logits=chunk.t()),
                                 pred_pts_seg=PointData(pts_semantic_mask=chunk.argmax(dim=1))))
        return batch_data_samples

    def _forward(self, batch_inputs_dict: Dict, batch_data_samples: OptSampleList = None) -> Tensor:
        return self.decode_head(self.extract_feat(batch_inputs_dict))


def single_scan_inputs(batch_inputs_dict: Dict) -> Dict:
    """The single-scan inputs (with their ``data_samples``) of a fused multi-scan batch."""
    if 'single_scan' not in batch_inputs_dict:
        raise KeyError('a fused multi-scan batch needs its single-scan inputs: use PointImageDataPreprocessor '
                       'and a pipeline with MultiScanHardInstances (it marks the original points)')
    return batch_inputs_dict['single_scan']
