"""SemanticKITTI evaluation that also writes benchmark submission files.

mmdet3d's ``SegMetric`` scores labelled scans but cannot handle the test split (sequences 11-21 have no
labels, so ``eval_ann_info`` is ``{}`` or ``None``) and its ``submission_prefix`` writes ScanNet-style
text files. :class:`SemanticKittiMetric` writes ``{submission_dir}/sequences/{seq}/predictions/{frame}.label``
(uint32 raw ids, one per point, in scan order) as the benchmark server expects, and scores whatever
samples carry labels exactly as ``SegMetric`` does. :func:`score_submission` scores such a folder offline.

With ``point_cloud_range``, it scores two protocols and prints both in one table: the reference code's
(2DPASS / ELiTe validate on the points strictly inside the range, which their dataset keeps) and all points.
"""
import os
import tempfile
from typing import Dict, List, Mapping, Optional, Sequence

import numpy as np
from mmdet3d.evaluation import seg_eval
from mmdet3d.evaluation.metrics import SegMetric
from mmdet3d.registry import METRICS
from mmengine.logging import MMLogger, print_log
from terminaltables import AsciiTable

from ..datasets.kitti_files import count_points, label_path, read_label, read_scan, scan_path, sequence_dir
from ..datasets.semantickitti_infos import frame_identity
from ..datasets.semantickitti_labels import (
    CLASS_NAMES,
    IGNORE_INDEX,
    LABELS_MAP,
    LEARNING_MAP_INV,
    raw_to_train,
    train_to_raw,
)


def prediction_path(submission_dir: str, sequence: str, frame_id: str) -> str:
    """Where the benchmark expects the predictions of one scan."""
    return os.path.join(sequence_dir(submission_dir, sequence), 'predictions', f'{frame_id}.label')


def read_prediction(path: str, num_points: int) -> np.ndarray:
    """Raw semantic ids (int64) of a submission ``.label`` file, checked to hold one label per point."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f'{path}: predictions not found. Write them with '
                                'SemanticKittiMetric(submission_dir=...) in the test evaluator.')
    raw = np.fromfile(path, dtype=np.uint32)
    if len(raw) != num_points:
        raise ValueError(f'{path}: {len(raw)} labels for a scan of {num_points} points. A submission needs one '
                         'label per scan point in file order; drop point sampling/filtering from the test pipeline.')
    return (raw & 0xFFFF).astype(np.int64)


def _write_atomically(path: str, raw_ids: np.ndarray) -> None:
    """Write through a temporary file in the same folder, so a killed run never leaves a truncated file."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            raw_ids.astype(np.uint32).tofile(f)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def _scan_ids(sample: dict) -> tuple:
    """(sequence, frame_id) from the sample's metainfo, as its infos name them."""
    return frame_identity(sample, fix='; load them with SemanticKittiFrameDataset or SemanticKittiMMDataset and '
                                      'pack with elite\'s PackPointImageInputs, which keep sequence and frame_id')


def _numpy(value) -> np.ndarray:
    return value.cpu().numpy() if hasattr(value, 'cpu') else np.asarray(value)


def _check_range(ids: np.ndarray, allowed_max: int, what: str, source: str, fix: str) -> None:
    """Out-of-range ids would be silently dropped or miscounted by ``seg_eval``'s confusion matrix."""
    if ids.size and (ids.min() < 0 or ids.max() > allowed_max):
        bad = np.unique(ids[(ids < 0) | (ids > allowed_max)])
        raise ValueError(f'{source}: {what} holds ids {bad[:10].tolist()} outside 0..{allowed_max}. {fix}')


def _ground_truth(sample: dict) -> Optional[np.ndarray]:
    """The sample's train-id labels (``eval_ann_info`` first, as ``SegMetric``), or None on the test split."""
    for field in ('eval_ann_info', 'gt_pts_seg'):
        mask = (sample.get(field) or {}).get('pts_semantic_mask')
        if mask is not None:
            return _numpy(mask)
    return None


@METRICS.register_module()
class SemanticKittiMetric(SegMetric):
    """``SegMetric`` on labelled scans plus SemanticKITTI submission files for every scan.

    Args:
        submission_dir: if set, every scan's predictions are written under
            ``{submission_dir}/sequences/{seq}/predictions/{frame}.label``; required for unlabelled scans.
        learning_map_inv: train id -> raw id for the written files; defaults to the official inverse
            (``LEARNING_MAP_INV``; it cannot be derived from ``labels_map``, which is many-to-one).
        point_cloud_range: [x_min, y_min, z_min, x_max, y_max, z_max]: also score the points strictly inside
            it (read from each scan's file), the reference protocol; its mIoU is then ``miou`` and the all-points
            results get the suffix ``_all_points``. None: all points only.
        **kwargs: ``SegMetric``'s ``collect_device``, ``prefix``, ``pklfile_prefix``. Its
            ``submission_prefix`` (ScanNet text files) is refused in favour of ``submission_dir``.

    Each processed scan adds exactly one entry to ``self.results`` (labelled or not), so mmengine's
    ``collect_results`` trims the distributed padding correctly; labels and predictions are kept in the
    smallest integer type that holds them, since a full SemanticKITTI val run keeps every scan.
    """

    def __init__(self, submission_dir: Optional[str] = None, learning_map_inv: Optional[Mapping[int, int]] = None,
                 point_cloud_range: Optional[Sequence[float]] = None, **kwargs) -> None:
        if kwargs.get('submission_prefix'):
            raise ValueError('SemanticKittiMetric: submission_prefix writes ScanNet-style text files; '
                             'use submission_dir for SemanticKITTI .label files.')
        super().__init__(**kwargs)
        self.submission_dir = submission_dir
        self.learning_map_inv = dict(LEARNING_MAP_INV if learning_map_inv is None else learning_map_inv)
        if point_cloud_range is not None and len(point_cloud_range) != 6:
            raise ValueError(f'point_cloud_range needs 6 values (mins then maxes), got {point_cloud_range}')
        self.point_cloud_range = None if point_cloud_range is None else np.asarray(point_cloud_range, np.float32)

    def process(self, data_batch: dict, data_samples: Sequence[dict]) -> None:
        """Check each scan, write its predictions (if ``submission_dir``) and keep labelled scans for scoring."""
        for sample in data_samples:
            sequence, frame_id = _scan_ids(sample)
            source = f'sequence {sequence} frame {frame_id}'
            pred = _numpy(sample['pred_pts_seg']['pts_semantic_mask']).astype(np.int64, copy=False).ravel()
            lidar_path = sample.get('lidar_path')
            num_points = count_points(lidar_path) if lidar_path and os.path.isfile(lidar_path) else len(pred)
            if num_points != len(pred):
                raise ValueError(f'{lidar_path}: {len(pred)} predictions for a scan of {num_points} points. '
                                 'Predict every scan point in file order: drop point sampling/filtering from the '
                                 'test pipeline.')
            gt = _ground_truth(sample)
            if gt is None and self.submission_dir is None:
                raise ValueError(f'{source} has no labels (test split?) and SemanticKittiMetric has no '
                                 'submission_dir: set submission_dir to write its predictions.')
            scored = (None, None) if gt is None else self._checked_for_scoring(gt.ravel(), pred, source)
            in_range = None if gt is None else self._in_range(lidar_path, len(pred), source)
            written = None
            if self.submission_dir is not None:
                written = prediction_path(self.submission_dir, sequence, frame_id)
                _write_atomically(written, self._raw_ids(pred, source))
            self.results.append((*scored, written, in_range))  # one entry per scan, labelled or not

    def _in_range(self, lidar_path: Optional[str], num_points: int, source: str) -> Optional[np.ndarray]:
        """(N,) bool: the scan's points strictly inside ``point_cloud_range`` (2DPASS's dataset filter)."""
        if self.point_cloud_range is None:
            return None
        if not lidar_path or not os.path.isfile(lidar_path):
            raise FileNotFoundError(f'{source}: scan file {lidar_path!r} not found; SemanticKittiMetric('
                                    'point_cloud_range=...) reads it to find the in-range points. Keep lidar_path '
                                    'in the data sample, or set point_cloud_range=None to score all points only.')
        xyz = read_scan(lidar_path)[:, :3]
        if len(xyz) != num_points:
            raise ValueError(f'{lidar_path}: {len(xyz)} points in the file, {num_points} predictions')
        lo, hi = self.point_cloud_range[:3], self.point_cloud_range[3:]
        return ((xyz > lo) & (xyz < hi)).all(axis=1)

    def _raw_ids(self, pred: np.ndarray, source: str) -> np.ndarray:
        try:
            return train_to_raw(pred, self.learning_map_inv, source)
        except ValueError as err:
            raise ValueError(f'{err}. Every point needs one of the {len(self.learning_map_inv)} classes; '
                             f'{IGNORE_INDEX} is the ignore index (unlabelled), which the benchmark does not '
                             'accept: take the argmax over the class logits only.') from None

    def _checked_for_scoring(self, gt: np.ndarray, pred: np.ndarray, source: str) -> tuple:
        """(gt, pred) in a compact dtype, after the checks ``seg_eval`` itself does not make."""
        meta = self.dataset_meta or {}
        if 'label2cat' not in meta or 'ignore_index' not in meta:
            raise KeyError('SemanticKittiMetric.dataset_meta needs label2cat and ignore_index; mmengine\'s '
                           'Evaluator sets them from the dataset\'s metainfo (set evaluator.dataset_meta).')
        num_classes, ignore_index = len(meta['label2cat']), meta['ignore_index']
        if len(gt) != len(pred):
            raise ValueError(f'{source}: {len(pred)} predictions for {len(gt)} labels; predict every point.')
        _check_range(gt, max(num_classes - 1, ignore_index), 'ground truth', source,
                     'Map raw ids to train ids with PointSegClassMapping in the test pipeline.')
        _check_range(pred, num_classes - 1, 'prediction', source,
                     f'{ignore_index} is the ignore index; predict one of the {num_classes} classes.')
        dtype = np.min_scalar_type(max(num_classes, ignore_index))
        return gt.astype(dtype), pred.astype(dtype)

    def compute_metrics(self, results: List[tuple]) -> Dict[str, float]:
        """``SegMetric``'s result (per-class IoU table, mIoU) over labelled scans, else the submission count."""
        logger = MMLogger.get_current_instance()
        written = sorted({path for _, _, path, _ in results if path is not None})
        if written:
            print_log(f'SemanticKITTI predictions of {len(written)} scans written under '
                      f'{os.path.join(self.submission_dir, "sequences")}', logger=logger)
        labelled = [(gt, pred, in_range) for gt, pred, _, in_range in results if gt is not None]
        if not labelled:
            return dict(submission_files=len(written))
        meta = self.dataset_meta
        label2cat, ignore_index = meta['label2cat'], meta['ignore_index']
        gts, preds = [gt for gt, _, _ in labelled], [pred for _, pred, _ in labelled]
        if self.point_cloud_range is None:
            return seg_eval(gts, preds, label2cat, ignore_index, logger=logger)
        in_range_gts = [np.where(in_range, gt, np.asarray(ignore_index, gt.dtype)) for gt, _, in_range in labelled]
        protocols = {'in range (reference)': seg_eval(in_range_gts, preds, label2cat, ignore_index, logger='silent'),
                     'all points': seg_eval(gts, preds, label2cat, ignore_index, logger='silent')}
        lo, hi = self.point_cloud_range[:3].tolist(), self.point_cloud_range[3:].tolist()
        print_log(f'\nin range: the points strictly inside {lo} .. {hi}, as 2DPASS / ELiTe validate (miou); '
                  'all points: every point of each scan (miou_all_points)\n' + protocol_table(protocols, label2cat),
                  logger=logger)
        reference, all_points = protocols.values()
        return dict(reference, **{f'{k}_all_points': v for k, v in all_points.items()})


def protocol_table(protocols: Mapping[str, Mapping[str, float]], label2cat: Mapping[int, str]) -> str:
    """One table, a named row per protocol: per-class IoU, mIoU, acc, acc_cls (as ``seg_eval`` prints them)."""
    columns = [label2cat[i] for i in range(len(label2cat))] + ['miou', 'acc', 'acc_cls']
    rows = [['protocol'] + columns]
    rows += [[name] + [f'{result[c]:.4f}' for c in columns] for name, result in protocols.items()]
    table = AsciiTable(rows)
    table.inner_footing_row_border = False
    return table.table


def score_submission(submission_dir: str, data_root: str,
                     label2cat: Optional[Mapping[int, str]] = None,
                     labels_map: Mapping[int, int] = LABELS_MAP,
                     ignore_index: int = IGNORE_INDEX, logger=None) -> Dict[str, float]:
    """Score a submission folder against ``{data_root}/sequences/*/labels`` with mmdet3d's ``seg_eval``.

    Both sides go raw id -> train id through ``labels_map``; sequences without a ``labels`` folder (the
    test split) are skipped. Returns the same dict as :class:`SemanticKittiMetric` on the same scans.
    """
    label2cat = dict(enumerate(CLASS_NAMES)) if label2cat is None else label2cat
    seq_root = os.path.join(submission_dir, 'sequences')
    if not os.path.isdir(seq_root):
        raise FileNotFoundError(f'{seq_root}: not found; pass the submission_dir given to SemanticKittiMetric.')
    gts, preds = [], []
    for sequence in sorted(name for name in os.listdir(seq_root) if name.isdigit()):
        labels_dir = os.path.dirname(label_path(data_root, sequence, 0))
        if not os.path.isdir(labels_dir):
            print_log(f'sequence {sequence}: no {labels_dir}, not scored', logger=logger)
            continue
        pred_dir = os.path.dirname(prediction_path(submission_dir, sequence, '000000'))
        for name in sorted(f for f in os.listdir(pred_dir) if f.endswith('.label')):
            frame_id = name[:-len('.label')]
            num_points = count_points(scan_path(data_root, sequence, frame_id))
            gt_path = label_path(data_root, sequence, frame_id)
            pred_path = os.path.join(pred_dir, name)
            gts.append(raw_to_train(read_label(gt_path, num_points)[0], labels_map, gt_path))
            pred = raw_to_train(read_prediction(pred_path, num_points), labels_map, pred_path)
            if (pred == ignore_index).any():
                raise ValueError(f'{pred_path}: predicts raw ids that map to the ignore index {ignore_index}; '
                                 'a submission must give every point one of the classes.')
            preds.append(pred)
    if not gts:
        raise ValueError(f'{submission_dir}: no predictions for a labelled sequence of {data_root}; nothing to score. '
                         'Check both folders (the test split 11-21 has no labels).')
    return seg_eval(gts, preds, label2cat, ignore_index, logger=logger)
