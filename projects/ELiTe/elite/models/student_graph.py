"""The student as a pure tensor graph: points and a precomputed *plan* in, per-point logits out.

Everything data-dependent in :class:`~.backbones.SPVCNNLite` (voxelisation, the stage grids and transfers, the
kernel maps: sorts, uniques, searches) is index work; what remains is gathers, matrix products and scatter-adds,
which ``torch.onnx`` traces. :func:`student_plan` does the index work with the model's own code and names its
results (:data:`PLAN_INPUTS`); ``elite_deploy.student_plan`` does the same in numpy, so the exported graph runs
with onnxruntime and numpy alone. :class:`StudentGraph` is the backbone and head on the kernel-map backend with
the plan given, the module that is exported.
"""
from typing import Dict, List, Sequence, Tuple

import torch
from torch import Tensor, nn

from .backbones.stage_grids import StageTransfer
from .data_preprocessor import preprocess_scan
from .sparse.kernel_map import NON_CENTRE, KernelMap, submanifold_kernel_map
from .utils import group_counts

POINT_INPUTS = ('points', 'point_coors', 'point2voxel', 'coors', 'point2leaf')
STAGE_INPUTS = ('out_coors', 'pair_in', 'pair_out', 'pair_points', 'context', 'context_sizes', 'out_of_leaf') + tuple(
    f'kmap{j}.{end}' for j in range(len(NON_CENTRE)) for end in ('in', 'out'))


def plan_inputs(num_stages: int) -> List[str]:
    """The graph's input names, in order: the points' then each stage's (``stage{i}.<name>``)."""
    return list(POINT_INPUTS) + [f'stage{i}.{name}' for i in range(num_stages) for name in STAGE_INPUTS]


def student_plan(backbone: nn.Module, voxel_dict: Dict) -> Dict[str, Tensor]:
    """The named inputs of :class:`StudentGraph` for one voxelised scan (the data preprocessor's ``voxels``),
    computed by the backbone's own index code. Refuses the nested grid mode (export covers the default)."""
    if backbone.grid != 'reference':
        raise ValueError(f"export supports the student's default grid='reference', not {backbone.grid!r}")
    transfers, point2leaf = backbone.stage_transfers(voxel_dict)
    plan = dict(points=voxel_dict['points'][:, :backbone.in_channels], point_coors=voxel_dict['point_coors'],
                point2voxel=voxel_dict['point2voxel_map'], coors=voxel_dict['coors'], point2leaf=point2leaf)
    coors = voxel_dict['coors']
    for i, (transfer, shape) in enumerate(zip(transfers, backbone.stage_shapes(voxel_dict['spatial_shape']))):
        kmap = submanifold_kernel_map(coors, shape)
        context_sizes = group_counts(transfer.context, transfer.num_context, torch.long)
        plan.update({f'stage{i}.{name}': value for name, value in zip(STAGE_INPUTS, (
            transfer.coors, transfer.pair_in, transfer.pair_out, transfer.pair_points, transfer.context,
            context_sizes, transfer.out_of_leaf, *(rows for pair in kmap.pairs for rows in pair)))})
        coors = transfer.coors
    return plan


class StudentGraph(nn.Module):
    """SPVCNNLite + its head on the kernel-map backend, taking the plan as tensors: ``forward(*inputs)`` in
    :func:`plan_inputs` order -> (N, num_classes) logits.

    ``grid``: the data preprocessor's ``spatial_shape``, ``voxel_size`` and ``point_cloud_range`` (constants of
    the graph, as the model was trained with them).
    """

    def __init__(self, backbone: nn.Module, head: nn.Module, spatial_shape: Sequence[int], voxel_size: Tensor,
                 point_cloud_range: Tensor) -> None:
        super().__init__()
        if backbone.backend.name != 'kernel_map':
            raise ValueError('StudentGraph needs the kernel_map sparse backend (build the backbone with '
                             "sparse_backend='kernel_map'; the weights load unchanged)")
        self.backbone, self.head = backbone, head
        self.spatial_shape = [int(s) for s in spatial_shape]
        self.register_buffer('voxel_size', voxel_size.float().clone(), persistent=False)
        self.register_buffer('point_cloud_range', point_cloud_range.float().clone(), persistent=False)

    def forward(self, *inputs: Tensor) -> Tensor:
        num_stages = len(self.backbone.stages)
        named = dict(zip(plan_inputs(num_stages), inputs))
        transfers, kernel_maps = [], []
        for i in range(num_stages):
            s = {name: named[f'stage{i}.{name}'] for name in STAGE_INPUTS}
            transfers.append(StageTransfer(s['out_coors'], s['pair_in'], s['pair_out'], s['pair_points'],
                                           s['context'], s['context_sizes'].shape[0], s['out_of_leaf']))
            kernel_maps.append(KernelMap([(s[f'kmap{j}.in'], s[f'kmap{j}.out']) for j in range(len(NON_CENTRE))]))
        voxel_dict = dict(points=named['points'], point_coors=named['point_coors'], coors=named['coors'],
                          point2voxel_map=named['point2voxel'], batch_size=1, spatial_shape=self.spatial_shape,
                          voxel_size=self.voxel_size, point_cloud_range=self.point_cloud_range,
                          stage_plan=(transfers, named['point2leaf'], kernel_maps))
        return self.head(self.backbone(voxel_dict))


def student_graph_inputs(model: nn.Module, points: Tensor) -> Tuple[StudentGraph, Dict, Tuple[Tensor, ...]]:
    """For a segmentor whose student runs on the kernel-map backend: its :class:`StudentGraph` (eval mode), the
    voxels of ``points`` (N, >= 4) from its data preprocessor, and the graph's inputs for them, in order."""
    voxels = preprocess_scan(model.data_preprocessor, points)['voxels']
    graph = StudentGraph(model.backbone, model.decode_head, voxels['spatial_shape'], voxels['voxel_size'],
                         voxels['point_cloud_range']).eval()
    plan = student_plan(model.backbone, voxels)
    return graph, voxels, tuple(plan[name] for name in plan_inputs(len(model.backbone.stages)))

