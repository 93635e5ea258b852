import numpy as np
import pytest
import torch
from mmdet3d.models.data_preprocessors import Det3DDataPreprocessor
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample, PointData

from elite.models.data_preprocessor import unique_voxels


def build(voxel_type, voxel_size=(0.1, 0.1, 0.1), pc_range=(-50, -50, -4, 50, 50, 2)):
    return MODELS.build(dict(type='PointImageDataPreprocessor', voxel=True, voxel_type=voxel_type,
                             voxel_layer=dict(max_num_points=-1, point_cloud_range=list(pc_range),
                                              voxel_size=list(voxel_size), max_voxels=(-1, -1))))


def sample_with_mask(n):
    s = Det3DDataSample()
    s.gt_pts_seg = PointData(pts_semantic_mask=torch.arange(n))
    s.point2img_index = torch.arange(3)
    s.img_indices = torch.zeros(3, 2, dtype=torch.long)
    return s


def test_point_voxel_coordinates_map_and_clamp():
    pre = build('point_voxel')
    a = torch.tensor([[0.05, 0.05, 0.05, 1.0],    # voxel (500, 500, 40)
                      [0.09, 0.01, 0.0, 1.0],     # same voxel
                      [-49.99, 49.99, -3.99, 0],  # (0, 999, 0)
                      [80.0, -70.0, 9.0, 0]])     # outside the range: clamped to (999, 0, 59)
    b = torch.tensor([[0.05, 0.05, 0.05, 1.0]])
    data = dict(inputs=dict(points=[a, b]), data_samples=[sample_with_mask(4), sample_with_mask(1)])
    out = pre(data, training=True)
    voxels = out['inputs']['voxels']
    expected = torch.tensor([[0, 500, 500, 40], [0, 500, 500, 40], [0, 0, 999, 0], [0, 999, 0, 59],
                             [1, 500, 500, 40]], dtype=torch.int32)
    torch.testing.assert_close(voxels['point_coors'], expected)
    assert voxels['spatial_shape'] == [1000, 1000, 60]
    assert len(voxels['coors']) == 4  # the two points of batch 0 share a voxel; batch 1 has its own
    torch.testing.assert_close(voxels['coors'][voxels['point2voxel_map']], expected)
    torch.testing.assert_close(voxels['points'], torch.cat([a, b]))
    # the correspondence rides along on the data samples
    assert out['data_samples'][0].point2img_index.tolist() == [0, 1, 2]


def test_minkunet_matches_mmdet3d_numpy_quantisation():
    rng = np.random.default_rng(0)
    pts = torch.from_numpy(rng.uniform(-5, 5, (2000, 4)).astype(np.float32))
    pre = build('minkunet', voxel_size=(0.5, 0.5, 0.5))
    sample = sample_with_mask(2000)
    out = pre(dict(inputs=dict(points=[pts]), data_samples=[sample]), training=False)
    voxels, sample = out['inputs']['voxels'], out['data_samples'][0]
    coors = torch.round(pts[:, :3] / 0.5).int()
    coors -= coors.min(0)[0]
    inds, inverse = Det3DDataPreprocessor.sparse_quantize(pre, coors.numpy(), return_index=True,
                                                          return_inverse=True)
    np.testing.assert_array_equal(sample.point2voxel_map.numpy(), inverse)
    np.testing.assert_array_equal(voxels['voxels'].numpy(), pts.numpy()[inds])
    np.testing.assert_array_equal(voxels['coors'][:, 1:].numpy(), coors.numpy()[inds])
    np.testing.assert_array_equal(sample.gt_pts_seg.voxel_semantic_mask.numpy(), inds)


def test_unique_voxels_first_point():
    coors = torch.tensor([[1, 0], [0, 5], [1, 0], [0, 5], [0, 1]])
    voxel_coors, inverse, first = unique_voxels(coors)
    assert voxel_coors.tolist() == [[0, 1], [0, 5], [1, 0]]
    assert inverse.tolist() == [2, 1, 2, 1, 0]
    assert first.tolist() == [4, 1, 0]


def test_images_are_stacked():
    pre = build('point_voxel')
    imgs = [torch.randn(3, 32, 64), torch.randn(3, 32, 64)]
    data = dict(inputs=dict(points=[torch.zeros(1, 4), torch.zeros(1, 4)], img=imgs),
                data_samples=[Det3DDataSample(), Det3DDataSample()])
    out = pre(data)
    torch.testing.assert_close(out['inputs']['imgs'], torch.stack(imgs))


def test_images_are_normalised_and_the_correspondence_made_batch_global():
    pre = MODELS.build(dict(type='PointImageDataPreprocessor', mean=[123.675, 116.28, 103.53],
                            std=[58.395, 57.12, 57.375]))
    imgs = [torch.randint(0, 256, (3, 4, 6), dtype=torch.uint8) for _ in range(2)]
    samples = [sample_with_mask(5), sample_with_mask(7)]
    samples[1].img_indices = torch.tensor([[0, 1], [2, 3], [3, 5]])
    out = pre(dict(inputs=dict(points=[torch.zeros(5, 4), torch.zeros(7, 4)], img=imgs), data_samples=samples))
    mean = torch.tensor([123.675, 116.28, 103.53])[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375])[:, None, None]
    torch.testing.assert_close(out['inputs']['imgs'], (torch.stack(imgs).float() - mean) / std)
    correspondence = out['inputs']['point_pixels']
    assert correspondence.point_index.tolist() == [0, 1, 2, 5, 6, 7]  # sample 1's points start at row 5
    assert correspondence.pixels.pixels[3:].tolist() == [[1, 0, 1], [1, 2, 3], [1, 3, 5]]
    assert correspondence.pixels.img_hw == (4, 6)


def test_single_scan_inputs_reuse_the_fused_voxel_coordinates():
    """M2SKD: the original points' voxels come from the fused scan's coordinates, equal to voxelising the
    original points anew; the correspondence is renumbered among them."""
    pre = build('point_voxel')
    torch.manual_seed(0)
    points = [torch.rand(40, 4) * 20 - 10, torch.rand(30, 4) * 20 - 10]
    samples = [sample_with_mask(40), sample_with_mask(30)]
    samples[0].original_mask = torch.arange(40) % 3 != 1
    samples[1].original_mask = torch.arange(30) < 20
    samples[0].point2img_index, samples[0].img_indices = torch.tensor([0, 1, 3]), torch.tensor([[0, 0], [1, 1], [2, 2]])
    imgs = [torch.zeros(3, 4, 4, dtype=torch.uint8)] * 2
    out = pre(dict(inputs=dict(points=points, img=imgs), data_samples=samples))
    single = out['inputs']['single_scan']
    originals = [p[s.original_mask] for p, s in zip(points, samples)]
    fresh = pre.voxelize(originals, samples)
    for key in ('points', 'point_coors', 'coors', 'point2voxel_map'):
        assert torch.equal(single['voxels'][key], fresh[key]), key
    assert [len(p) for p in single['points']] == [len(o) for o in originals]
    # fused points 0, 1, 3 of sample 0: point 1 is gathered (not original), 0 and 3 are originals 0 and 2
    assert single['point_pixels'].point_index[:2].tolist() == [0, 2]
    assert single['point_pixels'].pixels.pixels[:2].tolist() == [[0, 0, 0], [0, 2, 2]]


def test_single_scan_minkunet_voxels_leave_the_fused_samples_alone():
    """'minkunet' writes per-sample voxel maps: the single scan's go to its own samples, the fused scan's stay."""
    pre = build('minkunet', voxel_size=(0.05, 0.05, 0.05), pc_range=(-100, -100, -20, 100, 100, 20))
    torch.manual_seed(0)
    points = [torch.rand(50, 4) * 4, torch.rand(30, 4) * 4]
    samples = [sample_with_mask(50), sample_with_mask(30)]
    for sample, n in zip(samples, (50, 30)):
        sample.original_mask = torch.arange(n) % 2 == 0
    out = pre(dict(inputs=dict(points=points), data_samples=samples))
    single = out['inputs']['single_scan']
    fused_samples = out['data_samples']
    for fused, one, n in zip(fused_samples, single['data_samples'], (50, 30)):
        assert len(fused.point2voxel_map) == n and len(one.point2voxel_map) == n // 2
        assert torch.equal(one.gt_pts_seg.pts_semantic_mask, torch.arange(0, n, 2))
        assert len(one.gt_pts_seg.voxel_semantic_mask) == int(one.point2voxel_map.max()) + 1
    fresh = pre.voxelize([p[s.original_mask] for p, s in zip(points, samples)],
                         [s.clone() for s in single['data_samples']])
    assert torch.equal(single['voxels']['coors'], fresh['coors'])


def test_images_of_different_sizes_are_refused_for_the_correspondence():
    pre = build('point_voxel')
    samples = [sample_with_mask(5), sample_with_mask(5)]
    samples[0].set_metainfo(dict(img_shape=(4, 6)))
    samples[1].set_metainfo(dict(img_shape=(4, 5)))
    imgs = [torch.zeros(3, 4, 6, dtype=torch.uint8), torch.zeros(3, 4, 5, dtype=torch.uint8)]
    with pytest.raises(ValueError, match='different sizes'):
        pre(dict(inputs=dict(points=[torch.zeros(5, 4)] * 2, img=imgs), data_samples=samples))
