"""MultiScanHardInstances on a constructed moving sequence: gathered instances land where they are now."""

import shutil

import numpy as np
import pytest
from mmdet3d.datasets.transforms import LoadAnnotations3D, LoadPointsFromFile, PointSample, PointSegClassMapping

from elite.datasets.kitti_files import write_calib, write_label, write_poses, write_scan
from elite.datasets.semantickitti_labels import LABELS_MAP
from elite.datasets.synthetic import KITTI_CALIB, ego_pose_cam0
from elite.datasets.transforms import MultiScanHardInstances, PackPointImageInputs

TRUCK, PERSON, ROAD = 18, 30, 40  # raw ids; truck and person are hard classes, road is not
GRID = np.stack(np.meshgrid(np.linspace(0, 2, 5), np.linspace(0, 1, 3), np.linspace(0, 1, 3)), -1).reshape(-1, 3)


def world_points(frame):
    """A parked truck (instance 7), a person walking +0.5 m per frame along x (instance 300), road."""
    truck = GRID + [10.0, 3.0, -1.0]
    person = GRID * [0.3, 0.3, 1.0] + [5.0 + 0.5 * frame, -2.0, -1.0]
    road = np.stack([np.linspace(0, 20, 20), np.zeros(20), np.full(20, -1.7)], 1)
    xyz = np.concatenate([truck, person, road])
    sem = np.array([TRUCK] * len(GRID) + [PERSON] * len(GRID) + [ROAD] * 20)
    inst = np.array([7] * len(GRID) + [300] * len(GRID) + [0] * 20)
    return xyz, sem, inst


@pytest.fixture
def moving_sequence(tmp_path):
    seq = tmp_path / 'sequences' / '00'
    for sub in ('velodyne', 'labels'):
        (seq / sub).mkdir(parents=True)
    write_calib(str(seq / 'calib.txt'), KITTI_CALIB)
    write_poses(str(seq / 'poses.txt'), np.stack([ego_pose_cam0(f, KITTI_CALIB['Tr']) for f in range(3)]))
    for frame in range(3):  # the ego drives +1 m per frame: LiDAR coordinates = world - (frame, 0, 0)
        xyz, sem, inst = world_points(frame)
        write_scan(str(seq / 'velodyne' / f'{frame:06d}.bin'), np.c_[xyz - [frame, 0, 0], np.full(len(xyz), 0.5)])
        write_label(str(seq / 'labels' / f'{frame:06d}.label'), sem, inst)
    return seq


def load(seq, frame, lidar_path=None, label_path=None):
    """The results the dataset gives the pipeline: file paths, and the frame's identity from its infos."""
    mapping = np.full(260, 19)
    for raw, train_id in LABELS_MAP.items():
        mapping[raw] = train_id
    lidar_path = lidar_path or str(seq / 'velodyne' / f'{frame:06d}.bin')
    results = dict(lidar_path=lidar_path, lidar_points=dict(lidar_path=lidar_path),
                   pts_semantic_mask_path=label_path or str(seq / 'labels' / f'{frame:06d}.label'),
                   seg_label_mapping=mapping, sequence=seq.name, frame_id=f'{frame:06d}',
                   data_root=str(seq.parent.parent), sample_idx=frame)
    results = LoadPointsFromFile(coord_type='LIDAR', load_dim=4, use_dim=4)(results)
    results = LoadAnnotations3D(with_bbox_3d=False, with_label_3d=False, with_seg_3d=True, seg_3d_dtype='np.int32',
                                seg_offset=2 ** 16, dataset_type='semantickitti')(results)
    return PointSegClassMapping()(results)


@pytest.mark.parametrize('align', ['pose', 'centroid'])
def test_gathered_instances_land_on_the_current_instance(moving_sequence, align):
    results = MultiScanHardInstances(num_scans=4, align=align)(load(moving_sequence, 2))
    n = 2 * len(GRID) + 20
    packed = PackPointImageInputs(keys=['points', 'pts_semantic_mask', 'pts_instance_mask'])(results)
    sample, points = packed['data_samples'], packed['inputs']['points'].numpy()
    original = sample.original_mask.numpy()
    assert points.shape == (n + 2 * 2 * len(GRID), 4)  # truck and person from frames 1 and 0, no road
    assert original[:n].all() and not original[n:].any()
    current, _, _ = world_points(2)
    instance = sample.gt_pts_seg.pts_instance_mask.numpy()
    truck_now = current[:len(GRID)] - [2, 0, 0]
    for previous in range(2):  # the parked truck: the ego motion alone puts it back in place
        block = points[n + previous * 2 * len(GRID):][:len(GRID), :3]
        np.testing.assert_allclose(block, truck_now, atol=1e-3)
    person_now = points[:n][instance[:n] == 300, :3]
    person_then = points[n:][instance[n:] == 300, :3]
    if align == 'pose':  # the person walked: ego motion alone leaves its old positions behind
        assert np.abs(person_then.mean(0) - person_now.mean(0))[0] > 0.4
    else:
        np.testing.assert_allclose(person_then.mean(0), person_now.mean(0), atol=1e-4)


def test_first_frame_and_augmentation_keep_the_mask(moving_sequence):
    first = MultiScanHardInstances()(load(moving_sequence, 0))
    assert len(first['points']) == 2 * len(GRID) + 20  # nothing before the sequence start
    results = MultiScanHardInstances()(load(moving_sequence, 2))
    np.random.seed(0)
    results = PointSample(num_points=100)(results)  # reorders and drops points: the flag follows them
    packed = PackPointImageInputs(keys=['points', 'pts_semantic_mask', 'pts_instance_mask'])(results)
    points, sample = packed['inputs']['points'].numpy(), packed['data_samples']
    original = sample.original_mask.numpy()
    # original scan points are at frame 2's LiDAR positions; gathered road points do not exist
    road = sample.gt_pts_seg.pts_semantic_mask.numpy() == 8
    assert original[road].all() and len(points) == 100 and (~original).any()


def test_translation_only_alignment_and_no_fusion_before_min_frame(moving_sequence):
    """The released M2SKD code: no poses, each gathered instance translated onto its current centroid; frames
    before 4 (here before 2) get nothing."""
    assert len(MultiScanHardInstances(min_frame=3)(load(moving_sequence, 2))['points']) == 2 * len(GRID) + 20
    results = MultiScanHardInstances(align='translation', min_frame=2)(load(moving_sequence, 2))
    n = 2 * len(GRID) + 20
    points = results['points'].tensor.numpy()
    instance = results['pts_instance_mask']
    for inst in (7, 300):
        now, then = points[:n][instance[:n] == inst, :3], points[n:][instance[n:] == inst, :3]
        np.testing.assert_allclose(then.mean(0), now.mean(0), atol=1e-4)
    # without the poses the frame-0 truck keeps its frame-0 shape offsets (a pure translation of frame 0's points)
    xyz0, _, inst0 = world_points(0)
    truck0 = xyz0[inst0 == 7]
    gathered = points[n:][instance[n:] == 7, :3]
    np.testing.assert_allclose(gathered[-len(GRID):] - gathered[-len(GRID):].mean(0), truck0 - truck0.mean(0),
                               atol=1e-4)


def test_each_gathered_scan_of_a_moving_instance_is_centred_on_its_current_centroid(moving_sequence):
    """The released code (pc_dataset.py, its loop over fuse_idx) shifts scan j's copy by mean(gathered so far,
    starting from the current instance) - mean(scan j's copy): every copy lands at p + (c_0 - c_j). The person
    walks 0.5 m per frame, so one shift for all copies would leave them 0.5 m apart."""
    results = MultiScanHardInstances(align='translation', min_frame=2)(load(moving_sequence, 2))
    n = 2 * len(GRID) + 20
    points, instance = results['points'].tensor.numpy()[:, :3], results['pts_instance_mask']
    lidar = {f: world_points(f)[0] - [f, 0, 0] for f in range(3)}  # each scan's LiDAR coordinates
    person = {f: lidar[f][world_points(f)[2] == 300] for f in range(3)}
    c0 = person[2].mean(0)
    gathered = points[n:][instance[n:] == 300]
    for k, frame in enumerate((1, 0)):  # the previous scans, newest first
        copy = gathered[k * len(GRID):(k + 1) * len(GRID)]
        np.testing.assert_allclose(copy, person[frame] + (c0 - person[frame].mean(0)), atol=1e-4)


def test_current_instances_appended_once_more_as_the_released_code_does(moving_sequence):
    """duplicate_current=True: the scan's own instance points (car and the hard classes) once more, in every frame
    (frame 0 too), labelled as they are and not original; the road is not an instance."""
    n = 2 * len(GRID) + 20
    results = MultiScanHardInstances(align='translation', min_frame=4, duplicate_current=True)(
        load(moving_sequence, 0))
    points = results['points']
    assert len(points) == n + 2 * len(GRID)
    original = points.tensor.numpy()[:, -1].astype(bool)
    assert original[:n].all() and not original[n:].any()
    np.testing.assert_array_equal(points.tensor.numpy()[n:, :4], points.tensor.numpy()[:2 * len(GRID), :4])
    np.testing.assert_array_equal(results['pts_instance_mask'][n:], [7] * len(GRID) + [300] * len(GRID))
    np.testing.assert_array_equal(results['pts_semantic_mask'][n:], results['pts_semantic_mask'][:2 * len(GRID)])


def test_the_frame_comes_from_the_infos_not_the_scan_path(moving_sequence, tmp_path):
    """The current scan and label copied elsewhere under other names: the previous scans are still found."""
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    shutil.copy(moving_sequence / 'velodyne' / '000002.bin', elsewhere / 'current_scan.bin')
    shutil.copy(moving_sequence / 'labels' / '000002.label', elsewhere / 'current_scan.label')
    moved = MultiScanHardInstances()(load(moving_sequence, 2, str(elsewhere / 'current_scan.bin'),
                                          str(elsewhere / 'current_scan.label')))
    in_place = MultiScanHardInstances()(load(moving_sequence, 2))
    assert len(moved['points']) == len(in_place['points']) == 2 * len(GRID) + 20 + 2 * 2 * len(GRID)
    np.testing.assert_array_equal(moved['points'].tensor.numpy(), in_place['points'].tensor.numpy())


@pytest.mark.parametrize('key, fix', [('sequence', 'tools/create_data.py semantickitti'),
                                      ('frame_id', 'tools/create_data.py semantickitti'),
                                      ('data_root', 'SemanticKittiFrameDataset')])
def test_missing_identity_names_the_sample_and_the_fix(moving_sequence, key, fix):
    results = load(moving_sequence, 2)  # its lidar_path is in the dataset layout, but is not read back
    del results[key]
    with pytest.raises(KeyError, match=fix) as err:
        MultiScanHardInstances()(results)
    assert f'sample 2 ({results["lidar_path"]})' in str(err.value) and key in str(err.value)
