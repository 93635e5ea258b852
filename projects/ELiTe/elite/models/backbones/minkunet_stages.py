"""mmdet3d's MinkUNet as a distillation student: its four decoder stages brought back to every point.

PPMSKD distils into any student whose backbone returns per-point features of several stages (and says
their widths in ``stage_channels``). This adapter gives mmdet3d's own ``MinkUNetBackbone`` (spconv) that
shape without changing it: forward hooks catch the output of each decoder stage (strides 8, 4, 2, 1), and
each point takes the features of the voxel containing it at that stride (spconv's stride-2 convolutions
index coarse voxels as ``floor(coors / 2)``).
"""
from typing import Dict, List, Sequence

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..utils import scatter_mean


def lookup_rows(table: Tensor, queries: Tensor) -> Tensor:
    """Row of ``table`` (V, D) equal to each row of ``queries`` (N, D); ``V`` where a query is absent."""
    radix = torch.maximum(table.amax(0), queries.amax(0)).long() + 1

    def pack(rows: Tensor) -> Tensor:
        key = rows[:, 0].long()
        for d in range(1, rows.shape[1]):
            key = key * radix[d] + rows[:, d].long()
        return key

    table_keys, order = torch.sort(pack(table))
    query_keys = pack(queries)
    position = torch.searchsorted(table_keys, query_keys).clamp_(max=len(table_keys) - 1)
    return torch.where(table_keys[position] == query_keys, order[position], len(table))


@MODELS.register_module()
class MinkUNetStageFeatures(BaseModule):
    """``MinkUNetBackbone`` (spconv) returning (N, C_i) point features for each decoder stage.

    Args: those of mmdet3d's ``MinkUNetBackbone`` (``sparseconv_backend`` is spconv). Input: the ``voxels``
    dict of ``PointImageDataPreprocessor`` with ``voxel_type='point_voxel'``; each voxel's input feature
    is the mean of its points.
    """

    def __init__(self, in_channels: int = 4, decoder_channels: Sequence[int] = (256, 128, 96, 96),
                 init_cfg=None, **minkunet_kwargs) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.minkunet = MODELS.build(dict(type='MinkUNetBackbone', in_channels=in_channels,
                                          decoder_channels=list(decoder_channels), sparseconv_backend='spconv',
                                          **minkunet_kwargs))
        self.stage_channels = tuple(decoder_channels)
        self._stage_outputs: List = []
        for layer in self.minkunet.decoder:
            layer[1].register_forward_hook(lambda module, args, output: self._stage_outputs.append(output))

    def forward(self, voxel_dict: Dict) -> List[Tensor]:
        coors, point2voxel = voxel_dict['coors'], voxel_dict['point2voxel_map']
        features = scatter_mean(voxel_dict['points'][:, :self.in_channels], point2voxel, len(coors))
        self._stage_outputs = []
        self.minkunet(features, coors)
        point_coors = voxel_dict['point_coors']
        outputs = []
        num_stages = len(self._stage_outputs)
        for i, stage in enumerate(self._stage_outputs):
            stride = 2 ** (num_stages - 1 - i)
            query = torch.cat([point_coors[:, :1], torch.div(point_coors[:, 1:], stride, rounding_mode='floor')], 1)
            # mmdet3d sizes the grid to the largest coordinate + 1, so its unpadded stride-2 convolutions drop
            # the last voxel row of an odd-sized axis: those few boundary points get zero features there
            padded = torch.cat([stage.features, stage.features.new_zeros((1, stage.features.shape[1]))])
            outputs.append(padded[lookup_rows(stage.indices, query)])
        return outputs
