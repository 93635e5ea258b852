"""SemanticKittiFrameDataset: every sample gives the pipeline its frame identity from the infos."""
import os
import pickle
import shutil

import mmdet3d
import numpy as np
import pytest
from mmdet3d.datasets import SemanticKittiDataset
from mmengine.config import Config

from elite.datasets import SemanticKittiFrameDataset, SemanticKittiMMDataset
from elite.datasets.kitti_files import scan_path
from elite.datasets.semantickitti_labels import IGNORE_INDEX

MMDET3D_BASE = Config.fromfile(
    os.path.join(os.path.dirname(mmdet3d.__file__), '.mim/configs/_base_/datasets/semantickitti.py'))
LOAD = [dict(type='LoadPointsFromFile', coord_type='LIDAR', load_dim=4, use_dim=4),
        dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False, with_seg_3d=True,
             seg_3d_dtype='np.int32', seg_offset=2 ** 16, dataset_type='semantickitti'),
        dict(type='PointSegClassMapping')]


def make_dataset(root, split='train', pipeline=(), dataset_class=SemanticKittiFrameDataset, **kwargs):
    return dataset_class(data_root=root, ann_file=f'semantickitti_infos_{split}.pkl', metainfo=MMDET3D_BASE.metainfo,
                         pipeline=list(pipeline), ignore_index=IGNORE_INDEX, **kwargs)


def test_samples_carry_sequence_frame_and_root(synthetic_root):
    results = make_dataset(synthetic_root, 'val', test_mode=True)[1]
    assert (results['sequence'], results['frame_id'], results['data_root']) == ('08', '000001', synthetic_root)
    assert results['lidar_pose'].shape == (4, 4) and results['lidar_pose'].dtype == np.float64
    assert 'img_path' not in results  # LiDAR only
    camera = make_dataset(synthetic_root, 'val', dataset_class=SemanticKittiMMDataset, test_mode=True)[1]
    assert (camera['sequence'], camera['frame_id'], camera['data_root']) == ('08', '000001', synthetic_root)
    # why the plugin needs its own dataset: mmdet3d's passes the infos' ids on, but not the dataset root
    plain = make_dataset(synthetic_root, 'val', dataset_class=SemanticKittiDataset, test_mode=True)[1]
    assert plain['frame_id'] == '000001' and 'data_root' not in plain


def test_infos_without_identity_are_refused_at_load(synthetic_root, tmp_path):
    """Infos from another converter (mmdet3d's has no sequence / frame_id) fail at once, naming the fix."""
    with open(os.path.join(synthetic_root, 'semantickitti_infos_val.pkl'), 'rb') as f:
        infos = pickle.load(f)
    for info in infos['data_list']:
        del info['sequence'], info['frame_id']
    with open(tmp_path / 'semantickitti_infos_val.pkl', 'wb') as f:
        pickle.dump(infos, f)
    with pytest.raises(KeyError, match='tools/create_data.py semantickitti') as err:
        make_dataset(str(tmp_path), 'val')
    assert 'semantickitti_infos_val.pkl' in str(err.value) and 'sample 08000000' in str(err.value)
    assert 'sequences/08/velodyne/000000.bin' in str(err.value)


def test_multiscan_follows_the_infos_when_the_scan_lies_elsewhere(synthetic_root, tmp_path):
    """Frame 1's scan moved out of the layout (the infos name it): it still gathers frame 0's instances."""
    root = str(tmp_path / 'kitti')
    shutil.copytree(os.path.join(synthetic_root, 'sequences'), os.path.join(root, 'sequences'))
    with open(os.path.join(synthetic_root, 'semantickitti_infos_train.pkl'), 'rb') as f:
        infos = pickle.load(f)
    moved = str(tmp_path / 'elsewhere' / 'scan.bin')
    os.makedirs(os.path.dirname(moved))
    shutil.move(scan_path(root, '00', 1), moved)
    infos['data_list'][1]['lidar_points']['lidar_path'] = moved
    with open(os.path.join(root, 'semantickitti_infos_train.pkl'), 'wb') as f:
        pickle.dump(infos, f)
    pipeline = LOAD + [dict(type='MultiScanHardInstances', min_frame=0),
                       dict(type='PackPointImageInputs', keys=['points', 'pts_semantic_mask', 'pts_instance_mask'])]
    sample = make_dataset(root, pipeline=pipeline)[1]['data_samples']
    assert (sample.sequence, sample.frame_id, sample.lidar_path) == ('00', '000001', moved)
    assert (~sample.original_mask).any() and sample.original_mask.sum() == len(np.fromfile(moved, np.float32)) // 4


def test_a_sample_the_pipeline_empties_is_named_or_skipped(synthetic_root, tmp_path):
    """All points outside the range (a scan in millimetres): the range filter's step and the scan are named,
    instead of an IndexError inside PointSample; with on_empty='skip' another sample is drawn, with a warning."""
    root = str(tmp_path / 'kitti')
    shutil.copytree(os.path.join(synthetic_root, 'sequences'), os.path.join(root, 'sequences'))
    for name in os.listdir(synthetic_root):
        if name.endswith('.pkl'):
            shutil.copy(os.path.join(synthetic_root, name), root)
    path = scan_path(root, '00', 1)
    points = np.fromfile(path, dtype=np.float32).reshape(-1, 4)
    points[:, :3] *= 1000.0
    points.tofile(path)
    pipeline = LOAD + [dict(type='PointsRangeFilter', point_cloud_range=[-50, -50, -4, 50, 50, 2]),
                       dict(type='PointSample', num_points=0.8)]
    from elite.datasets.semantickitti_frame_dataset import EmptyScanError
    with pytest.raises(EmptyScanError, match=r'000001\.bin: no points left after pipeline step 3 \(PointsRangeFilter'):
        make_dataset(root, pipeline=pipeline)[1]
    skipping = make_dataset(root, pipeline=pipeline, on_empty='skip')
    for _ in range(3):
        assert skipping[1]['lidar_path'].endswith('000000.bin')  # the other training sample, drawn instead
    with pytest.raises(ValueError, match='on_empty'):
        make_dataset(root, on_empty='ignore')
