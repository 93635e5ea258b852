import filecmp
import os

import numpy as np

from elite.datasets.kitti_files import read_label, read_poses, read_scan
from elite.datasets.synthetic import write_dataset


def test_layout_labels_and_poses(synthetic_root):
    seq = os.path.join(synthetic_root, 'sequences')
    assert sorted(os.listdir(seq)) == ['00', '08', '11']
    assert sorted(os.listdir(os.path.join(seq, '00'))) == ['calib.txt', 'image_2', 'labels', 'poses.txt', 'velodyne']
    assert 'labels' not in os.listdir(os.path.join(seq, '11'))  # test split: no labels
    points = read_scan(os.path.join(seq, '00', 'velodyne', '000000.bin'))
    sem, inst = read_label(os.path.join(seq, '00', 'labels', '000000.label'), len(points))
    assert len(points) == 4000
    assert {10, 40, 48, 50, 72} <= set(sem.tolist())  # cars, road, sidewalk, buildings, terrain
    assert (inst[sem == 10] > 0).all() and (inst[sem == 40] == 0).all()  # things have instances, stuff none
    poses = read_poses(os.path.join(seq, '00', 'poses.txt'))
    assert poses.shape == (2, 4, 4)
    # Tr is not exactly orthonormal
    np.testing.assert_allclose(np.linalg.norm(poses[1, :3, 3] - poses[0, :3, 3]), 1.0, rtol=1e-3)


def test_deterministic_per_seed(tmp_path):
    kwargs = dict(sequences=('08',), frames=1, num_points=500, image_size=(64, 32))
    write_dataset(str(tmp_path / 'a'), seed=3, **kwargs)
    write_dataset(str(tmp_path / 'b'), seed=3, **kwargs)
    write_dataset(str(tmp_path / 'c'), seed=4, **kwargs)
    rel = os.path.join('sequences', '08', 'velodyne', '000000.bin')
    assert filecmp.cmp(tmp_path / 'a' / rel, tmp_path / 'b' / rel, shallow=False)
    assert not filecmp.cmp(tmp_path / 'a' / rel, tmp_path / 'c' / rel, shallow=False)
