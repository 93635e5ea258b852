"""SemanticKittiMetric: submission files, scoring equal to SegMetric's, the test split, clear errors."""
import os

import mmdet3d
import numpy as np
import pytest
import torch
from mmdet3d.evaluation.metrics import SegMetric
from mmdet3d.structures import Det3DDataSample, PointData
from mmengine.config import Config
from mmengine.evaluator import Evaluator

from elite.datasets import SemanticKittiMMDataset
from elite.datasets.kitti_files import count_points, read_label
from elite.datasets.semantickitti_labels import (
    CLASS_NAMES,
    IGNORE_INDEX,
    LABELS_MAP,
    LEARNING_MAP_INV,
    raw_to_train,
    train_to_raw,
)
from elite.evaluation import SemanticKittiMetric, read_prediction, score_submission

MMDET3D_BASE = Config.fromfile(
    os.path.join(os.path.dirname(mmdet3d.__file__), '.mim/configs/_base_/datasets/semantickitti.py'))
LIDAR_ONLY = dict(use_lidar=True, use_camera=False)


def make_dataset(root: str, split: str, pipeline: list) -> SemanticKittiMMDataset:
    return SemanticKittiMMDataset(data_root=root, ann_file=f'semantickitti_infos_{split}.pkl',
                                  metainfo=MMDET3D_BASE.metainfo, pipeline=pipeline, modality=LIDAR_ONLY,
                                  ignore_index=IGNORE_INDEX, test_mode=True)


def make_evaluator(root: str, **metric_args) -> Evaluator:
    """As the runner builds it: the metric from the registry, dataset_meta from the dataset's metainfo."""
    evaluator = Evaluator(dict(type='SemanticKittiMetric', **metric_args))
    evaluator.dataset_meta = make_dataset(root, 'val', []).metainfo
    return evaluator


def scan_path(root: str, seq: str, frame: str, folder: str = 'velodyne', ext: str = '.bin') -> str:
    return os.path.join(root, 'sequences', seq, folder, frame + ext)


def train_labels(root: str, seq: str, frame: str) -> np.ndarray:
    num_points = count_points(scan_path(root, seq, frame))
    return raw_to_train(read_label(scan_path(root, seq, frame, 'labels', '.label'), num_points)[0])


def noisy_prediction(num_points: int, gt, rng: np.random.Generator) -> np.ndarray:
    """The ground truth with 20 % of the points (and every ignored one) set to a random class."""
    pred = np.array(gt) if gt is not None else rng.integers(0, 19, num_points)
    change = (rng.random(num_points) < 0.2) | (pred == IGNORE_INDEX)
    pred[change] = rng.integers(0, 19, change.sum())
    return pred.astype(np.int64)


def make_sample(root: str, seq: str, frame: str, pred: np.ndarray, eval_ann_info) -> Det3DDataSample:
    sample = Det3DDataSample(metainfo=dict(sequence=seq, frame_id=frame, lidar_path=scan_path(root, seq, frame)))
    sample.eval_ann_info = eval_ann_info
    sample.pred_pts_seg = PointData(pts_semantic_mask=torch.from_numpy(pred))
    return sample


def test_label_constants_match_mmdet3d():
    assert LABELS_MAP == MMDET3D_BASE.labels_map
    assert CLASS_NAMES == tuple(MMDET3D_BASE.class_names)
    assert sorted(LEARNING_MAP_INV) == list(range(19))
    assert all(LABELS_MAP[raw] == train for train, raw in LEARNING_MAP_INV.items())


def test_writes_submission_and_scores_like_segmetric(synthetic_root, tmp_path):
    rng = np.random.default_rng(0)
    samples, gts, preds = [], [], []
    for seq, frame, labelled, empty_ann in [('08', '000000', True, None), ('08', '000001', True, None),
                                            ('11', '000000', False, {}), ('11', '000001', False, None)]:
        gt = train_labels(synthetic_root, seq, frame) if labelled else None
        pred = noisy_prediction(count_points(scan_path(synthetic_root, seq, frame)), gt, rng)
        samples.append(make_sample(synthetic_root, seq, frame, pred,
                                   dict(pts_semantic_mask=gt) if labelled else empty_ann))
        gts.append(gt)
        preds.append(pred)
    sub = str(tmp_path / 'submission')
    evaluator = make_evaluator(synthetic_root, submission_dir=sub)
    for i in (0, 2):
        evaluator.process(samples[i:i + 2])
    result = evaluator.evaluate(len(samples))

    written = sorted(os.path.relpath(os.path.join(d, f), sub) for d, _, fs in os.walk(sub) for f in fs)
    assert written == [f'sequences/{s}/predictions/{f}.label' for s in ('08', '11') for f in ('000000', '000001')]
    for sample, pred in zip(samples, preds):
        path = os.path.join(sub, 'sequences', sample.sequence, 'predictions', sample.frame_id + '.label')
        raw = np.fromfile(path, dtype=np.uint32)
        assert len(raw) == count_points(sample.lidar_path) == len(pred)
        assert set(np.unique(raw)) <= set(LEARNING_MAP_INV.values())
        np.testing.assert_array_equal(raw, train_to_raw(pred))
        np.testing.assert_array_equal(read_prediction(path, len(pred)), raw)

    # mmdet3d's SegMetric on the labelled scans, and the files read back, give the very same numbers
    reference = Evaluator(SegMetric())
    reference.dataset_meta = evaluator.dataset_meta
    reference.process([{'eval_ann_info': dict(pts_semantic_mask=g), 'pred_pts_seg': dict(pts_semantic_mask=p)}
                       for g, p in zip(gts[:2], preds[:2])])
    expected = reference.evaluate(2)
    offline = score_submission(sub, synthetic_root)
    assert result.keys() == expected.keys() == offline.keys()
    assert 0 < result['miou'] < 1
    for key in result:
        np.testing.assert_equal(result[key], expected[key])
        np.testing.assert_equal(offline[key], result[key])


def test_dataset_fills_eval_ann_info_as_the_samples_above(synthetic_root):
    """mmdet3d's test pipeline (test_mode) puts the mapped labels in eval_ann_info; the packer keeps the ids."""
    pipeline = MMDET3D_BASE.test_pipeline[:3] + [dict(type='PackPointImageInputs', keys=['points'])]
    sample = make_dataset(synthetic_root, 'val', pipeline)[1]['data_samples']
    assert (sample.sequence, sample.frame_id) == ('08', '000001')
    np.testing.assert_array_equal(sample.eval_ann_info['pts_semantic_mask'],
                                  train_labels(synthetic_root, '08', '000001'))


def test_test_split_only_writes_files(synthetic_root, tmp_path):
    """The test split has no labels to load, so mmdet3d packs eval_ann_info as {}."""
    pipeline = MMDET3D_BASE.test_pipeline[:1] + [dict(type='PackPointImageInputs', keys=['points'])]
    dataset = make_dataset(synthetic_root, 'test', pipeline)
    samples = []
    for i in range(len(dataset)):
        sample = dataset[i]['data_samples']
        assert sample.eval_ann_info == {}
        num_points = len(dataset[i]['inputs']['points'])
        sample.pred_pts_seg = PointData(pts_semantic_mask=torch.arange(num_points) % 19)
        samples.append(sample)
    sub = str(tmp_path / 'submission')
    evaluator = make_evaluator(synthetic_root, submission_dir=sub)
    evaluator.process(samples)
    assert evaluator.evaluate(len(samples)) == {'submission_files': len(dataset)}
    assert sorted(os.listdir(os.path.join(sub, 'sequences', '11', 'predictions'))) == ['000000.label', '000001.label']


def test_ignore_index_prediction_is_refused(synthetic_root, tmp_path):
    num_points = count_points(scan_path(synthetic_root, '11', '000000'))
    pred = np.zeros(num_points, dtype=np.int64)
    pred[7] = IGNORE_INDEX
    sub = tmp_path / 'submission'
    evaluator = make_evaluator(synthetic_root, submission_dir=str(sub))
    with pytest.raises(ValueError, match=r'sequence 11 frame 000000: class ids \[19\].*ignore index'):
        evaluator.process([make_sample(synthetic_root, '11', '000000', pred, {})])
    assert not sub.exists()


def test_unusable_samples_are_refused(synthetic_root):
    num_points = count_points(scan_path(synthetic_root, '11', '000000'))
    evaluator = make_evaluator(synthetic_root)
    with pytest.raises(ValueError, match='no labels .* set submission_dir'):
        evaluator.process([make_sample(synthetic_root, '11', '000000', np.zeros(num_points, np.int64), None)])
    with pytest.raises(ValueError, match=f'{num_points - 1} predictions for a scan of {num_points} points'):
        evaluator.process([make_sample(synthetic_root, '11', '000000', np.zeros(num_points - 1, np.int64), None)])
    with pytest.raises(ValueError, match='submission_dir'):
        SemanticKittiMetric(submission_prefix='results/')
    # seg_eval would silently drop unmapped raw labels and miscount ignore-index predictions
    gt = train_labels(synthetic_root, '08', '000000')
    with pytest.raises(ValueError, match=r'prediction holds ids \[19\].*ignore index'):
        evaluator.process([make_sample(synthetic_root, '08', '000000', np.full(len(gt), IGNORE_INDEX),
                                       dict(pts_semantic_mask=gt))])
    with pytest.raises(ValueError, match='ground truth holds ids .*PointSegClassMapping'):
        evaluator.process([make_sample(synthetic_root, '08', '000000', gt, dict(pts_semantic_mask=gt + 40))])


def test_reference_protocol_scores_in_range_points_and_all_points(synthetic_root, tmp_path):
    """With point_cloud_range, ``miou`` is the reference protocol (points strictly inside the range, as 2DPASS's
    dataset keeps them) and ``miou_all_points`` scores every point; the printed table names both rows."""
    from elite.evaluation.semantickitti_metric import protocol_table
    seq_dir = tmp_path / 'sequences' / '08' / 'velodyne'
    seq_dir.mkdir(parents=True)
    # 6 points: 4 inside, one on the x boundary (50.0: outside, the filter is strict), one far away
    xyz = np.array([[1, 1, 0], [2, 2, 0], [3, 3, 0], [4, 4, 0], [50.0, 0, 0], [80, 0, 0]], np.float32)
    scan = np.c_[xyz, np.zeros(6, np.float32)]
    scan.tofile(seq_dir / '000000.bin')
    gt = np.array([0, 0, 8, 8, 0, 8])
    pred = np.array([0, 0, 8, 8, 8, 0])  # right inside the range, wrong on the two outside points
    evaluator = make_evaluator(synthetic_root, point_cloud_range=[-50, -50, -4, 50, 50, 2])
    sample = Det3DDataSample(metainfo=dict(sequence='08', frame_id='000000', lidar_path=str(seq_dir / '000000.bin')))
    sample.eval_ann_info = dict(pts_semantic_mask=gt)
    sample.pred_pts_seg = PointData(pts_semantic_mask=torch.from_numpy(pred))
    evaluator.process([sample])
    result = evaluator.evaluate(1)
    assert result['miou'] == 1.0 and result['car'] == 1.0 and result['road'] == 1.0
    # all points: car 2 right of (2 + 1 + 1) = 0.5, road 2 of 4 = 0.5
    assert result['miou_all_points'] == pytest.approx(0.5) and result['car_all_points'] == pytest.approx(0.5)
    table = protocol_table({'in range (reference)': {k: result[k] for k in ('car', 'road', 'miou', 'acc', 'acc_cls')},
                            'all points': {k: result[k + '_all_points'] for k in ('car', 'road', 'miou', 'acc',
                                                                                    'acc_cls')}},
                           {0: 'car', 1: 'road'})
    rows = [line for line in table.splitlines() if line.startswith('|')]
    assert 'protocol' in rows[0] and 'car' in rows[0] and 'miou' in rows[0]
    assert rows[1].split('|')[1].strip() == 'in range (reference)' and '1.0000' in rows[1]
    assert rows[2].split('|')[1].strip() == 'all points' and '0.5000' in rows[2]


def test_reference_protocol_needs_the_scan_file(synthetic_root):
    evaluator = make_evaluator(synthetic_root, point_cloud_range=[-50, -50, -4, 50, 50, 2])
    sample = Det3DDataSample(metainfo=dict(sequence='08', frame_id='000000', lidar_path='/nowhere/000000.bin'))
    sample.eval_ann_info = dict(pts_semantic_mask=np.zeros(3, np.int64))
    sample.pred_pts_seg = PointData(pts_semantic_mask=torch.zeros(3, dtype=torch.long))
    with pytest.raises(FileNotFoundError, match='/nowhere/000000.bin'):
        evaluator.process([sample])


def test_scan_identity_comes_from_the_metainfo_not_the_path(synthetic_root, tmp_path):
    """The predictions go where the sample's infos say (sequence, frame_id), wherever its scan file lies; a sample
    without them is refused even when its lidar_path is in the dataset layout."""
    num_points = count_points(scan_path(synthetic_root, '11', '000001'))
    renamed = tmp_path / 'scans' / 'renamed.bin'
    renamed.parent.mkdir()
    renamed.write_bytes(open(scan_path(synthetic_root, '11', '000001'), 'rb').read())
    sub = tmp_path / 'submission'
    evaluator = make_evaluator(synthetic_root, submission_dir=str(sub))
    sample = make_sample(synthetic_root, '11', '000001', np.zeros(num_points, np.int64), {})
    sample.set_metainfo(dict(lidar_path=str(renamed)))
    evaluator.process([sample])
    assert os.listdir(sub / 'sequences' / '11' / 'predictions') == ['000001.label']

    standard = Det3DDataSample(metainfo=dict(lidar_path=scan_path(synthetic_root, '11', '000000'), sample_idx=5))
    standard.pred_pts_seg = PointData(pts_semantic_mask=torch.zeros(num_points, dtype=torch.long))
    with pytest.raises(KeyError, match='tools/create_data.py semantickitti.*PackPointImageInputs') as err:
        evaluator.process([standard])
    assert 'sample 5' in str(err.value) and scan_path(synthetic_root, '11', '000000') in str(err.value)
