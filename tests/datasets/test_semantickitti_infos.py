import os
import pickle
import re
import shutil

import numpy as np
import pytest

from elite.datasets.kitti_files import (
    KittiFormatError,
    read_calib,
    read_label,
    read_poses,
    read_scan,
    write_label,
    write_scan,
)
from elite.datasets.semantickitti_infos import build_split_infos
from elite.datasets.synthetic import KITTI_CALIB


@pytest.fixture
def dataset_copy(synthetic_root, tmp_path):
    root = str(tmp_path / 'kitti')
    shutil.copytree(os.path.join(synthetic_root, 'sequences'), os.path.join(root, 'sequences'))
    return root


def seq_file(root, *parts):
    return os.path.join(root, 'sequences', '00', *parts)


def test_infos_have_mmdet3d_format_and_camera_fields(synthetic_root):
    with open(os.path.join(synthetic_root, 'semantickitti_infos_train.pkl'), 'rb') as f:
        infos = pickle.load(f)
    assert infos['metainfo']['DATASET'] == 'SemanticKITTI'
    assert [i['sample_idx'] for i in infos['data_list']] == ['00000000', '00000001']
    info = infos['data_list'][1]
    assert info['lidar_points'] == dict(lidar_path='sequences/00/velodyne/000001.bin', num_pts_feats=4)
    assert info['pts_semantic_mask_path'] == 'sequences/00/labels/000001.label'
    cam = info['images']['CAM2']
    assert cam['img_path'] == 'sequences/00/image_2/000001.png' and (cam['width'], cam['height']) == (1241, 376)
    tr = KITTI_CALIB['Tr']
    np.testing.assert_allclose(cam['lidar2img'][:3], KITTI_CALIB['P2'] @ tr)
    poses = read_poses(seq_file(synthetic_root, 'poses.txt'))
    np.testing.assert_allclose(info['pose'], poses[1])
    # the synthetic ego moves 1 m along the LiDAR's x per frame
    np.testing.assert_allclose(np.asarray(info['lidar_pose'])[:3, 3], [1.0, 0.0, 0.0], atol=1e-9)
    assert info['sequence'] == '00' and info['frame_id'] == '000001'
    assert info['num_points'] == len(read_scan(os.path.join(synthetic_root, info['lidar_points']['lidar_path'])))


def test_splits_follow_the_benchmark(synthetic_root):
    def frames(split):
        with open(os.path.join(synthetic_root, f'semantickitti_infos_{split}.pkl'), 'rb') as f:
            return [i['sample_idx'] for i in pickle.load(f)['data_list']]
    assert frames('train') == ['00000000', '00000001']
    assert frames('val') == ['08000000', '08000001']
    assert frames('trainval') == frames('train') + frames('val')
    with open(os.path.join(synthetic_root, 'semantickitti_infos_test.pkl'), 'rb') as f:
        test = pickle.load(f)['data_list']
    assert [i['sample_idx'] for i in test] == ['11000000', '11000001']
    assert all('pts_semantic_mask_path' not in i for i in test)


def test_frames_are_discovered_from_files(dataset_copy):
    for ext, sub in (('.bin', 'velodyne'), ('.png', 'image_2'), ('.label', 'labels')):
        os.remove(seq_file(dataset_copy, sub, '000001' + ext))
    assert [i['frame_id'] for i in build_split_infos(dataset_copy, 'train').data_list] == ['000000']


@pytest.mark.parametrize('damage, message', [
    (lambda root: os.remove(seq_file(root, 'calib.txt')), 'calibration file not found'),
    (lambda root: open(seq_file(root, 'calib.txt'), 'w').write('P2: 1 2 3\nTr: 1 2\n'), 'should be "KEY: 12 numbers"'),
    (lambda root: open(seq_file(root, 'calib.txt'), 'w').write('P0: ' + ' '.join(['1'] * 12) + '\n'), 'missing P2, Tr'),
])
def test_bad_calibration_names_the_file(dataset_copy, damage, message):
    damage(dataset_copy)
    with pytest.raises(KittiFormatError, match=message) as err:
        build_split_infos(dataset_copy, 'train', on_error='stop')
    assert seq_file(dataset_copy, 'calib.txt') in str(err.value)
    skipped = build_split_infos(dataset_copy, 'train', on_error='skip', log=lambda m: None)
    assert skipped.data_list == [] and len(skipped.problems) == 2  # both frames of the sequence


def truncate_scan(root):
    path = seq_file(root, 'velodyne', '000001.bin')
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 6)
    return path


def shorten_label(root):
    path = seq_file(root, 'labels', '000001.label')
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) - 8)
    return path


def remove_image(root):
    path = seq_file(root, 'image_2', '000001.png')
    os.remove(path)
    return path


def nan_scan(root):
    """110 points of a scan with a NaN or infinite coordinate."""
    path = seq_file(root, 'velodyne', '000001.bin')
    points = read_scan(path)
    points[:100, 0] = np.nan
    points[100:110, 2] = np.inf
    write_scan(path, points)
    return path


def empty_scan(root):
    """An empty scan with an empty label file: they agree, but there is nothing to train on."""
    path = seq_file(root, 'velodyne', '000001.bin')
    open(path, 'wb').close()
    open(seq_file(root, 'labels', '000001.label'), 'wb').close()
    return path


def truncate_image(root):
    path = seq_file(root, 'image_2', '000001.png')
    with open(path, 'r+b') as f:
        f.truncate(os.path.getsize(path) // 2)
    return path


def corrupt_image(root):
    """One flipped byte in the middle of the PNG's data: the file is whole but a chunk's CRC fails."""
    path = seq_file(root, 'image_2', '000001.png')
    with open(path, 'r+b') as f:
        f.seek(os.path.getsize(path) // 2)
        byte = f.read(1)
        f.seek(-1, 1)
        f.write(bytes([byte[0] ^ 0xFF]))
    return path


def remove_label(root):
    path = seq_file(root, 'labels', '000001.label')
    os.remove(path)
    return path


BAD_FRAMES = [
    (truncate_scan, 'not a multiple of 16'),
    (shorten_label, 'labels for a scan of'),
    (remove_image, 'image not found'),
    (nan_scan, '110 of .* points hold non-finite values'),
    (empty_scan, 'holds no points'),
    (truncate_image, 'truncated'),
    (corrupt_image, 'fails its CRC'),
    (remove_label, 'label file not found'),
]


@pytest.mark.parametrize('damage, message', BAD_FRAMES)
def test_bad_frame_stops_or_is_skipped(dataset_copy, damage, message):
    path = damage(dataset_copy)
    with pytest.raises(KittiFormatError, match=message) as err:
        build_split_infos(dataset_copy, 'train', on_error='stop')
    assert path in str(err.value)
    logged = []
    report = build_split_infos(dataset_copy, 'train', on_error='skip', log=logged.append)
    assert [i['frame_id'] for i in report.data_list] == ['000000']
    assert len(report.problems) == 1 and path in report.problems[0] and path in logged[0]


def test_sequence_without_velodyne_stops_or_is_counted(dataset_copy):
    shutil.rmtree(seq_file(dataset_copy, 'velodyne'))
    with pytest.raises(KittiFormatError, match='no velodyne/') as err:
        build_split_infos(dataset_copy, 'train', on_error='stop')
    assert seq_file(dataset_copy, 'velodyne') in str(err.value)
    report = build_split_infos(dataset_copy, 'train', on_error='skip', log=lambda msg: None)
    assert report.data_list == [] and len(report.problems) == 1


@pytest.mark.parametrize('damage, message', [BAD_FRAMES[3], BAD_FRAMES[4], BAD_FRAMES[5]])
def test_create_data_tool_stops_or_leaves_the_frame_out_of_every_info_file(dataset_copy, damage, message, capsys):
    """The tool on each fault the issue met: exit 1 naming the file, or with --on-error skip the frame is in no
    info file and the summary counts it."""
    from tools_loader import load_tool
    create_data = load_tool('create_data')
    path = damage(dataset_copy)
    assert create_data.main(['semantickitti', '--root-path', dataset_copy]) == 1
    err = capsys.readouterr().err
    assert path in err and re.search(message, err)
    assert create_data.main(['semantickitti', '--root-path', dataset_copy, '--on-error', 'skip']) == 0
    out = capsys.readouterr().out
    assert 'summary: 1 bad frame(s) left out of every info file' in out
    for split in ('train', 'trainval'):
        with open(os.path.join(dataset_copy, f'semantickitti_infos_{split}.pkl'), 'rb') as f:
            frames = [(i['sequence'], i['frame_id']) for i in pickle.load(f)['data_list']]
        assert ('00', '000001') not in frames and ('00', '000000') in frames


def test_create_data_tool_reports_skips_and_stops(dataset_copy, capsys):
    from tools_loader import load_tool
    create_data = load_tool('create_data')
    path = truncate_scan(dataset_copy)
    assert create_data.main(['semantickitti', '--root-path', dataset_copy]) == 1
    err = capsys.readouterr().err
    assert path in err and '--on-error skip' in err
    assert create_data.main(['semantickitti', '--root-path', dataset_copy, '--out-dir', dataset_copy + '/infos',
                             '--extra-tag', 'kitti', '--on-error', 'skip']) == 0
    out = capsys.readouterr().out
    assert 'train: 1 frames' in out and 'skipped 1 bad frame(s)' in out
    assert os.path.isfile(os.path.join(dataset_copy, 'infos', 'kitti_infos_trainval.pkl'))


def test_file_round_trips(tmp_path):
    points = np.random.default_rng(0).normal(size=(10, 4)).astype(np.float32)
    write_scan(str(tmp_path / 'a.bin'), points)
    np.testing.assert_array_equal(read_scan(str(tmp_path / 'a.bin')), points)
    sem = np.array([10, 40, 252, 0], np.uint16)
    inst = np.array([1, 0, 65535, 7], np.uint16)
    write_label(str(tmp_path / 'a.label'), sem, inst)
    got_sem, got_inst = read_label(str(tmp_path / 'a.label'), 4)
    np.testing.assert_array_equal(got_sem, sem)
    np.testing.assert_array_equal(got_inst, inst)
    with pytest.raises(KittiFormatError, match='holds 4 labels for a scan of 5 points'):
        read_label(str(tmp_path / 'a.label'), 5)


def test_calib_with_non_numeric_value(tmp_path):
    path = tmp_path / 'calib.txt'
    path.write_text('P2: 1 2 x 4 5 6 7 8 9 10 11 12\n')
    with pytest.raises(KittiFormatError, match="line 1 \\('P2'\\) has a non-numeric value"):
        read_calib(str(path))


@pytest.mark.parametrize('damage, message', [
    (nan_scan, 'hold non-finite values'),
    (empty_scan, 'holds no points'),
    (truncate_scan, 'not a scan of whole float32 values'),
    (shorten_label, 'labels for a scan of'),
    (truncate_image, 'truncated'),
    (corrupt_image, 'fails its CRC'),
])
def test_files_changed_after_create_data_fail_at_load_naming_the_file(dataset_copy, damage, message):
    """The training pipeline meets the same faults in files changed after the infos were built."""
    from mmdet3d.registry import DATASETS
    from mmengine.config import Config

    from elite.datasets.semantickitti_infos import create_semantickitti_infos
    create_semantickitti_infos(dataset_copy, log=lambda msg: None)
    path = damage(dataset_copy)
    cfg = Config.fromfile(os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        __file__)))), 'configs/_base_/datasets/semantickitti_mm.py'))
    dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, data_root=dataset_copy))
    dataset[0]  # the untouched frame loads
    with pytest.raises(KittiFormatError, match=message) as err:
        dataset[1]
    assert path in str(err.value)


def test_scans_with_few_points_in_the_training_range_are_kept_with_a_warning(dataset_copy):
    """A scan in millimetres passes every file check but would leave nothing to train on: named, kept."""
    path = seq_file(dataset_copy, 'velodyne', '000001.bin')
    points = read_scan(path)
    points[:, :3] *= 1000.0
    write_scan(path, points)
    logged = []
    report = build_split_infos(dataset_copy, 'train', log=logged.append)
    assert [i['frame_id'] for i in report.data_list] == ['000000', '000001']
    assert len(report.warnings) == 1 and path in report.warnings[0]
    assert 'nothing to train on' in report.warnings[0] and 'metres' in report.warnings[0]
    assert logged == [f'warning: {report.warnings[0]}']
