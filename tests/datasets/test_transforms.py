import numpy as np
import pytest
from mmdet3d.datasets.transforms import PointSample, RandomFlip3D
from mmdet3d.structures.points import LiDARPoints

from elite.datasets.transforms import (
    BottomCropImage,
    FlipImageHorizontal,
    PackPointImageInputs,
    ProjectPointsToImage,
    RandomFlip3DPointsOnly,
    project_to_image,
)
from elite.datasets.transforms.projection import POINT_INDEX, resolve_point2img_index


def make_results(num_points=6, width=8, height=4):
    """Points whose pixel is (row = i % height, col = i) on a (height, width) image, by construction."""
    points = np.zeros((num_points, 4), np.float32)
    points[:, 3] = np.arange(num_points)  # intensity = original index, to follow points by hand
    img = np.arange(height * width * 3, dtype=np.uint8).reshape(height, width, 3)
    return dict(points=LiDARPoints(points, points_dim=4), img=img, img_shape=(height, width),
                pixel_point_ids=np.arange(num_points), img_indices=np.stack(
                    [np.arange(num_points) % height, np.arange(num_points)], 1).astype(np.int64))


def with_index_column(results):
    pts = results['points'].tensor.numpy()
    tensor = np.c_[pts, np.arange(len(pts), dtype=np.float32)]
    results['points'] = LiDARPoints(tensor, points_dim=5, attribute_dims={POINT_INDEX: 4})
    return results


def test_resolve_handles_reorder_drop_and_duplicates():
    results = with_index_column(make_results())
    results['pixel_point_ids'] = np.array([1, 2, 4])  # points 0, 3, 5 have no pixel
    results['img_indices'] = np.array([[0, 10], [0, 20], [0, 40]])
    results['points'] = results['points'][np.array([4, 0, 2, 4, 5])]  # 1 and 3 dropped, 4 duplicated
    resolve_point2img_index(results)
    np.testing.assert_array_equal(results['point2img_index'], [0, 2, 3])  # positions, the ids are gone
    np.testing.assert_array_equal(results['img_indices'], [[0, 40], [0, 20], [0, 40]])
    assert 'pixel_point_ids' not in results
    assert results['points'].tensor.shape == (5, 4)
    assert not results['points'].attribute_dims


def test_projection_adds_index_column_and_pack_resolves_after_point_sample():
    lidar2img = np.array([[50, -100, 0, 0], [50, 0, -100, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    rng = np.random.default_rng(0)
    xyz = np.c_[rng.uniform(1, 5, 500), rng.uniform(-3, 3, 500), rng.uniform(-2, 2, 500)]
    points = np.c_[xyz, np.arange(500)].astype(np.float32)
    results = dict(points=LiDARPoints(points, points_dim=4), lidar2img=lidar2img, img_shape=(100, 100),
                   img=np.zeros((100, 100, 3), np.float32), pts_semantic_mask=np.arange(500))
    results = ProjectPointsToImage()(results)
    assert results['points'].attribute_dims == {POINT_INDEX: 4}
    np.random.seed(0)
    results = PointSample(num_points=300)(results)
    packed = PackPointImageInputs()(results)
    sample = packed['data_samples']
    out_points = packed['inputs']['points'].numpy()
    assert out_points.shape == (300, 4)
    original_id = out_points[:, 3].astype(int)
    np.testing.assert_array_equal(sample.gt_pts_seg.pts_semantic_mask.numpy(), original_id)
    index, pix = project_to_image(out_points[:, :3], lidar2img, (100, 100))
    np.testing.assert_array_equal(sample.point2img_index.numpy(), index)
    np.testing.assert_array_equal(sample.img_indices.numpy(), pix)


def test_bottom_crop_shifts_and_filters():
    results = make_results(num_points=8, width=8, height=4)
    np.random.seed(0)
    out = BottomCropImage(crop_size=(5, 2), random_left=False)(results)
    top, left = out['crop_offset']
    assert (top, left) == (2, 1)
    # kept: rows 2, 3 and cols 1..5 -> points 2, 3 (rows 2, 3; cols 2, 3); point 6 (row 2, col 6) is right of it
    np.testing.assert_array_equal(out['pixel_point_ids'], [2, 3])
    np.testing.assert_array_equal(out['img_indices'], [[0, 1], [1, 2]])
    assert out['img'].shape == (2, 5, 3) and out['img_shape'] == (2, 5)
    original = make_results(num_points=8)['img']
    np.testing.assert_array_equal(out['img'], original[2:, 1:6])


def test_bottom_crop_rejects_small_images():
    with pytest.raises(ValueError, match='smaller than the crop'):
        BottomCropImage(crop_size=(1024, 320))(make_results())


def test_image_flip_mirrors_columns():
    results = make_results()
    img = results['img'].copy()
    out = FlipImageHorizontal(prob=1.0)(results)
    assert out['img_flip']
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    np.testing.assert_array_equal(out['img_indices'][:, 1], 8 - 1 - np.arange(6))
    for (r, c), i in zip(out['img_indices'], range(6)):  # the pixel content follows the index
        np.testing.assert_array_equal(out['img'][r, c], img[i % 4, i])


def test_mmdet3d_random_flip3d_is_left_as_it_is():
    """Importing elite changes no library: mmdet3d's RandomFlip3D still flips the image with sync_2d=False
    (its bug), which is why the camera pipelines use RandomFlip3DPointsOnly."""
    results = make_results()
    img = results['img'].copy()
    out = RandomFlip3D(sync_2d=False, flip_ratio_bev_horizontal=1.0, flip_ratio_bev_vertical=0.0)(results)
    np.testing.assert_array_equal(out['img'], img[:, ::-1])


@pytest.mark.parametrize('sync_2d', [False, True])
def test_random_flip3d_points_only_keeps_correspondence(sync_2d):
    results = make_results()
    img = results['img'].copy()
    flip = RandomFlip3DPointsOnly(sync_2d=sync_2d, flip_ratio_bev_horizontal=1.0, flip_ratio_bev_vertical=0.0)
    out = flip(results)
    assert out['pcd_horizontal_flip']
    if not sync_2d:  # a point-cloud flip: the image and its indices are untouched
        np.testing.assert_array_equal(out['img'], img)
        np.testing.assert_array_equal(out['img_indices'][:, 1], np.arange(6))
    else:  # image flipped together with the points: indices mirrored with it
        np.testing.assert_array_equal(out['img'], img[:, ::-1])
        np.testing.assert_array_equal(out['img_indices'][:, 1], 8 - 1 - np.arange(6))
