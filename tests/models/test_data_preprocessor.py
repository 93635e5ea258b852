import numpy as np
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
