"""mmdet3d's MinkUNet (or its SPVCNN) as a distillation student: four decoder stages brought back to every point.

PPMSKD distils into any student whose backbone returns :class:`~..stage_features.StageFeatures` (and says
their widths in ``stage_channels``). This adapter gives mmdet3d's own ``MinkUNetBackbone`` (spconv or
torchsparse) and ``SPVCNNBackbone`` (torchsparse) that shape without changing them: forward hooks catch the
output of each decoder stage (strides 8, 4, 2, 1), and each point takes the features of the voxel containing
it at that stride (spconv's stride-2 convolutions index coarse voxels as ``floor(coors / 2)``; torchsparse
keeps coarse coordinates in input units, ``floor(coors / s) * s``, with the batch index last).
"""
from typing import Dict, List, Sequence

import torch
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from ..sparse.backend import float32_off_cuda, sparse_autocast
from ..sparse.spconv_cpu import install_spconv_cpu_fixes
from ..sparse.torchsparse_cpu import install_torchsparse_cpu_fixes
from ..stage_features import StageFeatures
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
    """mmdet3d's ``MinkUNetBackbone`` / ``SPVCNNBackbone`` returning (N, C_i) point features for each decoder
    stage.

    Args:
        backbone_type: ``'MinkUNetBackbone'`` or ``'SPVCNNBackbone'`` (torchsparse only).
        sparseconv_backend: ``'spconv'`` or ``'torchsparse'`` (mmdet3d's names; torchsparse 1.4.0).
        the rest: those of mmdet3d's backbone.

    Input: the ``voxels`` dict of ``PointImageDataPreprocessor`` with ``voxel_type='point_voxel'``; each voxel's
    input feature is the mean of its points.
    """

    def __init__(self, in_channels: int = 4, decoder_channels: Sequence[int] = (256, 128, 96, 96),
                 backbone_type: str = 'MinkUNetBackbone', sparseconv_backend: str = 'spconv', init_cfg=None,
                 **minkunet_kwargs) -> None:
        super().__init__(init_cfg)
        self.in_channels = in_channels
        self.torchsparse = sparseconv_backend == 'torchsparse'
        # CPU fixes act on CPU tensors only (also on a machine with CUDA)
        install_torchsparse_cpu_fixes() if self.torchsparse else install_spconv_cpu_fixes()
        self.minkunet = MODELS.build(dict(type=backbone_type, in_channels=in_channels,
                                          decoder_channels=list(decoder_channels),
                                          sparseconv_backend=sparseconv_backend, **minkunet_kwargs))
        self.stage_channels = tuple(decoder_channels)
        self._stage_outputs: List = []
        for layer in self.minkunet.decoder:
            layer[1].register_forward_hook(lambda module, args, output: self._stage_outputs.append(output))

    def forward(self, voxel_dict: Dict) -> StageFeatures:
        coors, point2voxel = voxel_dict['coors'], voxel_dict['point2voxel_map']
        features = scatter_mean(voxel_dict['points'][:, :self.in_channels], point2voxel, len(coors))
        self._stage_outputs = []
        # torchsparse takes [x, y, z, batch]
        with sparse_autocast(features.device.type):  # float32 under non-CUDA autocast (see the function)
            if float32_off_cuda(features.device.type):
                features = features.float()
            own = self.minkunet(features, coors[:, [1, 2, 3, 0]].contiguous() if self.torchsparse else coors)
        point_coors = voxel_dict['point_coors']
        outputs = []
        num_stages = len(self._stage_outputs)
        for i, stage in enumerate(self._stage_outputs[:-1]):
            stride = 2 ** (num_stages - 1 - i)
            cell = torch.div(point_coors[:, 1:], stride, rounding_mode='floor')
            if self.torchsparse:
                stage_features, stage_coors = stage.F, stage.C
                query = torch.cat([cell * stride, point_coors[:, :1]], 1)
            else:
                stage_features, stage_coors = stage.features, stage.indices
                query = torch.cat([point_coors[:, :1], cell], 1)
            # mmdet3d sizes spconv's grid to the largest coordinate + 1, so its unpadded stride-2 convolutions
            # drop the last voxel row of an odd-sized axis: those few boundary points get zero features there
            padded = torch.cat([stage_features, stage_features.new_zeros((1, stage_features.shape[1]))])
            outputs.append(padded[lookup_rows(stage_coors, query)])
        # the last stage is the backbone's own output, per input voxel in input order: MinkUNet's last decoder
        # stage itself, SPVCNN's point branch on top of it
        outputs.append(own[point2voxel])
        return StageFeatures.per_point(outputs)
