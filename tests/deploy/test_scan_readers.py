"""Scan readers: files written by the libraries themselves (pypcd4, plyfile, numpy) read back exactly; every bad
file is named with the fix."""
import numpy as np
import pytest
from elite_deploy import ScanReadError, find_scans, read_scan
from plyfile import PlyData, PlyElement
from pypcd4 import Encoding, PointCloud

POINTS = np.array([[1.5, -2.25, 0.125, 0.5], [10.0, 20.0, -1.0, 0.0], [-3.0, 0.75, 2.5, 0.99]], np.float32)


@pytest.mark.parametrize('encoding', [Encoding.ASCII, Encoding.BINARY, Encoding.BINARY_COMPRESSED])
def test_pcd_of_every_encoding(tmp_path, encoding):
    path = str(tmp_path / 'scan.pcd')
    PointCloud.from_xyzi_points(POINTS).save(path, encoding=encoding)
    scan = read_scan(path)
    np.testing.assert_allclose(scan.points, POINTS, rtol=1e-6)
    assert scan.points.dtype == np.float32 and not scan.intensity_filled


def test_pcd_without_intensity_gets_zeros_and_says_so(tmp_path):
    path = str(tmp_path / 'xyz.pcd')
    PointCloud.from_xyz_points(POINTS[:, :3]).save(path)
    scan = read_scan(path)
    assert scan.intensity_filled and (scan.points[:, 3] == 0).all()
    np.testing.assert_allclose(scan.points[:, :3], POINTS[:, :3])


@pytest.mark.parametrize('intensity', ['intensity', 'remission', None])
def test_ply_vertices(tmp_path, intensity):
    names = [('x', 'f4'), ('y', 'f4'), ('z', 'f4')] + ([(intensity, 'f4')] if intensity else [])
    vertex = np.array([tuple(p[:len(names)]) for p in POINTS], dtype=names)
    path = str(tmp_path / 'scan.ply')
    PlyData([PlyElement.describe(vertex, 'vertex')]).write(path)
    scan = read_scan(path)
    np.testing.assert_array_equal(scan.points[:, :3], POINTS[:, :3])
    np.testing.assert_array_equal(scan.points[:, 3], POINTS[:, 3] if intensity else 0)
    assert scan.intensity_filled == (intensity is None)


def test_bin_npy_npz(tmp_path):
    POINTS.tofile(tmp_path / 'a.bin')
    np.save(tmp_path / 'b.npy', POINTS.astype(np.float64))
    np.save(tmp_path / 'c.npy', POINTS[:, :3])
    np.savez(tmp_path / 'd.npz', points=POINTS, other=np.zeros(2))
    np.savez(tmp_path / 'e.npz', POINTS)
    for name in ('a.bin', 'b.npy', 'd.npz', 'e.npz'):
        np.testing.assert_array_equal(read_scan(str(tmp_path / name)).points, POINTS)
    scan = read_scan(str(tmp_path / 'c.npy'))
    assert scan.intensity_filled and scan.points.shape == (3, 4)
    assert find_scans([str(tmp_path)]) == [str(tmp_path / n) for n in ('a.bin', 'b.npy', 'c.npy', 'd.npz', 'e.npz')]
    assert find_scans([str(tmp_path / '*.npz')]) == [str(tmp_path / 'd.npz'), str(tmp_path / 'e.npz')]


def bad_files(tmp_path):
    POINTS.tofile(tmp_path / 'truncated.bin')
    with open(tmp_path / 'truncated.bin', 'r+b') as f:
        f.truncate(20)
    np.save(tmp_path / 'shape.npy', np.zeros((5, 7), np.float32))
    np.save(tmp_path / 'empty.npy', np.zeros((0, 4), np.float32))
    nan = POINTS.copy()
    nan[1, 2] = np.nan
    np.save(tmp_path / 'nan.npy', nan)
    np.savez(tmp_path / 'two.npz', a=POINTS, b=POINTS)
    (tmp_path / 'garbage.pcd').write_bytes(b'not a point cloud')
    (tmp_path / 'scan.txt').write_text('1 2 3')
    return [('truncated.bin', 'not a multiple of 16'), ('shape.npy', r'shape \(5, 7\)'), ('empty.npy', 'no points'),
            ('nan.npy', r'1 of 3 points hold non-finite values \(first at point 1\)'), ('two.npz', 'none named'),
            ('garbage.pcd', 'could not be read as .pcd'), ('scan.txt', 'unknown scan format'),
            ('missing.bin', 'file not found')]


def test_bad_files_are_named_with_the_fix(tmp_path):
    for name, message in bad_files(tmp_path):
        path = str(tmp_path / name)
        with pytest.raises(ScanReadError, match=message) as err:
            read_scan(path)
        assert str(err.value).startswith(path + ': ')
