import os

import numpy as np

from elite.datasets.kitti_files import lidar2img_from_calib, read_calib, read_scan
from elite.datasets.transforms import project_to_image


def test_real_frame_projects_inside_image_and_matches_mmdet3d_matrix(kitti_frame_dir):
    seq = os.path.join(kitti_frame_dir, 'sequences', '00')
    points = read_scan(os.path.join(seq, 'velodyne', '000000.bin'))
    lidar2img = lidar2img_from_calib(read_calib(os.path.join(seq, 'calib.txt')))
    reference = np.loadtxt(os.path.join(kitti_frame_dir, 'lidar2img_cam2.txt'))
    assert len(points) == 17238

    point2img_index, img_indices = project_to_image(points[:, :3], lidar2img, (375, 1242))
    assert len(point2img_index) == 17238  # every point of this FOV-cropped scan lands in the image
    assert point2img_index.dtype == np.int64 and img_indices.dtype == np.int64
    assert (img_indices[:, 0] < 375).all() and (img_indices[:, 1] < 1242).all() and (img_indices >= 0).all()

    def pixels(matrix):
        proj = np.c_[points[:, :3], np.ones(len(points))] @ matrix.T
        return proj[:, :2] / proj[:, 2:3]

    ours, theirs = pixels(lidar2img), pixels(reference)
    assert np.abs(ours - theirs).max() < 0.5
    # (row, col) are the floors of (v, u)
    np.testing.assert_array_equal(img_indices, np.floor(ours[:, ::-1]).astype(np.int64))


def test_projection_keeps_only_points_in_front_and_strictly_inside():
    lidar2img = np.array([[50, -100, 0, 0], [50, 0, -100, 0], [1, 0, 0, 0], [0, 0, 0, 1]], dtype=np.float64)
    # pixel u = 50 - 100 y / x, v = 50 - 100 z / x on a 100 x 100 image
    xyz = np.array([
        [1.0, 0.0, 0.0],     # centre -> (50, 50)
        [-1.0, 0.0, 0.0],    # behind the sensor
        [1.0, 0.5, 0.0],     # u = 0: on the border, not strictly inside
        [1.0, -0.495, 0.0],  # u = 99.5: inside
        [1.0, -0.5, 0.0],    # u = 100: outside
        [2.0, 0.0, 0.499],   # v = 25.05
    ])
    index, pix = project_to_image(xyz, lidar2img, (100, 100))
    np.testing.assert_array_equal(index, [0, 3, 5])
    np.testing.assert_array_equal(pix, [[50, 50], [50, 99], [25, 50]])
