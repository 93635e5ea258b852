"""Stage grids: 2DPASS's per-scale quantisation from the points (default) and the nested option.

Expected values are worked out by hand from 2DPASS's formula ``long(ceil(shape / s) * (p - min) / (max - min))``
over [-50, 50] x [-50, 50] x [-4, 2], shape (1000, 1000, 60).
"""
import pytest
import torch

from elite.models.backbones.spvcnn_lite import SPVCNNLite
from elite.models.backbones.stage_grids import nested_transfers, quantise, reference_transfers
from elite.models.utils import reference_indices, scatter_mean, unique_rows

CELLS = torch.tensor([1000, 1000, 60])
LO, HI = torch.tensor([-50., -50., -4.]), torch.tensor([50., 50., 2.])
SCALES = (2, 4, 8, 16)


def voxelise(xyz, batch=None):
    batch = torch.zeros(len(xyz), dtype=torch.long) if batch is None else batch
    point_coors = torch.cat([batch[:, None], reference_indices(xyz, CELLS, LO, HI)], 1)
    coors, point2voxel = unique_rows(point_coors)
    return point_coors, coors, point2voxel


def test_reference_indices_follow_2dpass_formula():
    xyz = torch.tensor([[49.0, -49.99, 0.74], [-50.5, 60.0, -4.2], [0.0, 0.0, 1.99]])
    # x: 1000 * 99 / 100 = 990; y: 1000 * 0.01 / 100 = 0.1 -> 0; z: 60 * 4.74 / 6 = 47.4 -> 47
    assert reference_indices(xyz, CELLS, LO, HI)[0].tolist() == [990, 0, 47]
    # outside the range: clamped into the border cells (the reference drops such points in training)
    assert reference_indices(xyz, CELLS, LO, HI)[1].tolist() == [0, 999, 0]
    # scale 16: ceil(1000 / 16) = 63 cells of 1.5873 m: 63 * 99 / 100 = 62.37 -> 62 (nested: 990 // 16 = 61);
    # scale 8 in z: ceil(60 / 8) = 8 cells of 0.75 m: 8 * 4.74 / 6 = 6.32 -> 6 (nested: 47 // 8 = 5)
    assert reference_indices(xyz[:1], torch.tensor([63, 63, 4]), LO, HI)[0].tolist() == [62, 0, 3]
    assert reference_indices(xyz[:1], torch.tensor([125, 125, 8]), LO, HI)[0, 2].item() == 6
    assert reference_indices(xyz[2:], torch.tensor([63, 63, 4]), LO, HI)[0].tolist() == [31, 31, 3]


def test_reference_grids_do_not_nest_and_split_a_voxel_between_coarse_voxels():
    # three points of one 0.1 m voxel, z in [-3.3, -3.2) (60 * 0.72 / 6 = 7.2, 7.6, 7.8 -> 7), which the
    # scale-8 z boundary at -4 + 0.75 = -3.25 cuts: 8 * 0.72 / 6 = 0.96 -> 0; 8 * 0.76 / 6 = 1.01 -> 1; 1.04 -> 1
    xyz = torch.tensor([[1.01, 1.01, -3.28], [1.01, 1.01, -3.22], [1.02, 1.03, -3.24]])
    point_coors, coors, point2voxel = voxelise(xyz)
    assert coors.tolist() == [[0, 510, 510, 7]]
    voxel_points = torch.bincount(point2voxel).float()
    transfers, point2leaf = reference_transfers(xyz, point_coors, point2voxel, coors, CELLS, LO, HI, SCALES)
    # scales 2 and 4 (z cells 0.2 m, 0.4 m): 30 * 0.72 / 6 = 3.6 and 3.9 -> 3; 15 * 0.72 / 6 = 1.8, 1.95 -> 1
    assert transfers[0].coors.tolist() == [[0, 255, 255, 3]]
    assert transfers[1].coors.tolist() == [[0, 127, 127, 1]]
    # scale 8: x = 125 * 51.01 / 100 = 63.76 -> 63; z 0 and 1: the one scale-4 voxel goes to two voxels
    assert transfers[2].coors.tolist() == [[0, 63, 63, 0], [0, 63, 63, 1]]
    assert transfers[2].pair_in.tolist() == [0, 0] and transfers[2].pair_out.tolist() == [0, 1]
    assert transfers[2].pair_points.tolist() == [1.0, 2.0]
    assert transfers[0].pair_points.tolist() == [3.0]
    # scale 16 (z cells of 1.5 m): 4 * 0.72 / 6 = 0.48, 0.52 -> 0; x = 63 * 51.01 / 100 = 32.1 -> 32
    assert transfers[3].coors.tolist() == [[0, 32, 32, 0]]
    assert point2leaf[1] == point2leaf[2] != point2leaf[0]
    nested, _ = nested_transfers(coors, point2voxel, voxel_points, SCALES)
    assert nested[2].coors.tolist() == [[0, 63, 63, 0]]  # nested: 510 // 8, 7 // 8


def test_context_groups_input_voxels_by_half_coordinates_as_2dpass():
    xyz = torch.tensor([[0.01, 0.01, 0.01], [0.11, 0.01, 0.01], [0.21, 0.01, 0.01], [-0.05, 0.01, 0.01]])
    point_coors, coors, point2voxel = voxelise(xyz)
    assert coors[:, 1].tolist() == [499, 500, 501, 502]
    transfers, _ = reference_transfers(xyz, point_coors, point2voxel, coors, CELLS, LO, HI, SCALES)
    # coors // 2: 499 -> 249, 500 and 501 -> 250, 502 -> 251
    assert transfers[0].context.tolist() == [0, 1, 1, 2] and transfers[0].num_context == 3


@pytest.mark.parametrize('grid', ['reference', 'nested'])
def test_transfers_reproduce_per_point_averages(grid):
    """Averages over (input, output) pairs weighted by their points equal 2DPASS's per-point averages."""
    g = torch.Generator().manual_seed(0)
    xyz = torch.randn(4000, 3, generator=g) * torch.tensor([3.0, 3.0, 0.8])
    batch = (torch.arange(4000) >= 2500).long()
    point_coors, coors, point2voxel = voxelise(xyz, batch)
    voxel_points = torch.bincount(point2voxel).float()
    if grid == 'reference':
        transfers, point2leaf = reference_transfers(xyz, point_coors, point2voxel, coors, CELLS, LO, HI, SCALES)
    else:
        transfers, point2leaf = nested_transfers(coors, point2voxel, voxel_points, SCALES)
    point2in = point2voxel
    for i, (t, s) in enumerate(zip(transfers, SCALES)):
        # the points' own voxels at scale s, as the reference quantises them
        if grid == 'reference':
            cells = torch.div(CELLS + s - 1, s, rounding_mode='floor')
            own = torch.cat([batch[:, None], reference_indices(xyz, cells, LO, HI)], 1)
        else:
            own = torch.cat([batch[:, None], torch.div(point_coors[:, 1:], s, rounding_mode='floor')], 1)
        expected_coors, point2out = unique_rows(own)
        assert torch.equal(t.coors.long(), expected_coors.long())
        values = torch.randn(int(point2in.max()) + 1, 5, generator=g)
        ours = scatter_mean(t.gather_pairs(values), t.pair_out, len(t.coors), weight=t.pair_points)
        torch.testing.assert_close(ours, scatter_mean(values[point2in], point2out, len(expected_coors)))
        leaf2out = torch.arange(len(t.coors)) if t.out_of_leaf is None else t.out_of_leaf
        assert torch.equal(leaf2out[point2leaf], point2out)
        point2in = point2out


def test_nested_quantise_and_scale_checks():
    coors = torch.tensor([[0, 5, 7, 1], [0, 4, 6, 0], [1, 5, 7, 1], [0, 15, 0, 3]], dtype=torch.int32)
    coarse, fine2coarse = quantise(coors, 4)
    assert coarse.tolist() == [[0, 1, 1, 0], [0, 3, 0, 0], [1, 1, 1, 0]]
    assert fine2coarse.tolist() == [0, 0, 2, 1]
    with pytest.raises(ValueError, match='multiple of the previous'):
        SPVCNNLite(scales=(2, 3))
    with pytest.raises(ValueError, match='grid must be one of'):
        SPVCNNLite(grid='dense')
