"""Build mmdet3d-format info files for SemanticKITTI with the camera fields ELiTe needs.

Each sample follows mmdet3d 1.x (``lidar_points``, ``pts_semantic_mask_path``, ``images``) and adds the
camera-2 image path and size, ``lidar2img`` / ``cam2img`` / ``lidar2cam`` from ``calib.txt``, the pose from
``poses.txt`` (verbatim camera-0 frame as ``pose`` and in the LiDAR frame as ``lidar_pose``), and the
sequence and frame ids. Frames are discovered from the files present; every file is checked (a scan must
hold points, all finite; an image must be a complete PNG, every chunk's CRC up to IEND; a labelled split
needs a label per point; a sequence folder needs velodyne/), and a bad one either stops the build or is
skipped and counted, as the caller chooses. :func:`frame_identity` and :func:`sample_data_root` read a
sample's identity back in the pipeline and the metric (never parsed from its file paths).
"""
import os
import pickle
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .kitti_files import (
    KittiFormatError,
    calib_path,
    check_label,
    check_png,
    frame_name,
    image_path,
    label_path,
    lidar2img_from_calib,
    poses_path,
    read_calib,
    read_checked_scan,
    read_poses,
    scan_path,
    sequence_dir,
    sequence_name,
)

SPLITS: Dict[str, Sequence[str]] = {
    'train': ['00', '01', '02', '03', '04', '05', '06', '07', '09', '10'],
    'val': ['08'],
    'test': [f'{i:02d}' for i in range(11, 22)],
}
SPLITS['trainval'] = list(SPLITS['train']) + list(SPLITS['val'])
CAMERA = 'CAM2'
IDENTITY_KEYS = ('sequence', 'frame_id')
REBUILD_INFOS = 'rebuild the info files with tools/create_data.py semantickitti'


def _describe(sample: Mapping) -> str:
    """Name a sample in an error: its index and, when known, its scan file."""
    lidar_path = sample.get('lidar_path') or (sample.get('lidar_points') or {}).get('lidar_path')
    return f'sample {sample.get("sample_idx", "?")}' + (f' ({lidar_path})' if lidar_path else '')


def frame_identity(sample: Mapping, fix: str = '') -> Tuple[str, str]:
    """``(sequence, frame_id)`` of a sample (results, info or data-sample metainfo), e.g. ``('08', '000123')``.

    Read from the keys the infos carry; ``fix`` is added to the error's advice when they are missing.
    """
    missing = [key for key in IDENTITY_KEYS if sample.get(key) is None]
    if missing:
        raise KeyError(f'{_describe(sample)} has no {" / ".join(missing)}: {REBUILD_INFOS} (its infos name '
                       f'every scan\'s sequence and frame id){fix}')
    return sequence_name(sample['sequence']), frame_name(sample['frame_id'])


def sample_data_root(results: Mapping) -> str:
    """The dataset root the sample's infos are relative to (``data_root``, set by elite's SemanticKITTI datasets)."""
    if 'data_root' not in results:
        raise KeyError(f'{_describe(results)} has no data_root: load SemanticKITTI with elite\'s '
                       'SemanticKittiFrameDataset (LiDAR only) or SemanticKittiMMDataset, which pass it to the '
                       'pipeline; mmdet3d\'s SemanticKittiDataset does not')
    return results['data_root'] or ''


@dataclass
class InfoReport:
    """What a split build found: the samples kept, the problems met (one message per skipped frame) and the
    warnings (frames kept, with few points inside the training range)."""
    data_list: List[dict] = field(default_factory=list)
    problems: List[str] = field(default_factory=list)
    warnings: List[str] = field(default_factory=list)


# The configs' point_cloud_range (2DPASS's voxel grid): training keeps only the points strictly inside it.
TRAINING_RANGE = (-50.0, -50.0, -4.0, 50.0, 50.0, 2.0)
MIN_IN_RANGE_FRACTION = 0.5  # a real KITTI scan has about 95 % of its points there


def points_in_range(points: np.ndarray, point_cloud_range: Sequence[float] = TRAINING_RANGE) -> int:
    """How many of ``points`` (N, >= 3) lie strictly inside ``point_cloud_range`` (mins then maxes)."""
    lo, hi = np.asarray(point_cloud_range[:3]), np.asarray(point_cloud_range[3:])
    return int(np.count_nonzero(((points[:, :3] > lo) & (points[:, :3] < hi)).all(axis=1)))


def _sequence_frames(seq_dir: str) -> List[str]:
    velodyne = os.path.join(seq_dir, 'velodyne')
    return sorted(f[:-4] for f in os.listdir(velodyne) if f.endswith('.bin'))


def build_split_infos(root: str, split: str, on_error: str = 'stop',
                      log: Callable[[str], None] = print) -> InfoReport:
    """Collect the samples of ``split`` under ``root``.

    on_error: ``'stop'`` raises :class:`KittiFormatError` at the first bad file; ``'skip'`` logs it,
    leaves the frame out and records the message in ``InfoReport.problems``.
    """
    if on_error not in ('stop', 'skip'):
        raise ValueError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    labelled = split != 'test'
    report = InfoReport()

    def problem(err: KittiFormatError) -> None:
        if on_error == 'stop':
            raise err
        log(f'skipped: {err}')
        report.problems.append(str(err))

    for seq in SPLITS[split]:
        seq_dir = sequence_dir(root, seq)
        if not os.path.isdir(seq_dir):
            continue  # a sequence that is not there at all: a subset of SemanticKITTI
        if not os.path.isdir(os.path.join(seq_dir, 'velodyne')):
            problem(KittiFormatError(f'{os.path.join(seq_dir, "velodyne")}: the sequence folder has no velodyne/ '
                                     'scans. Extract the KITTI odometry velodyne archive over the dataset root, '
                                     'or remove the sequence folder.'))
            continue
        frames = _sequence_frames(seq_dir)
        try:
            calib = read_calib(calib_path(root, seq))
            poses = read_poses(poses_path(root, seq))
            if len(poses) < len(frames):
                raise KittiFormatError(
                    f'{poses_path(root, seq)}: {len(poses)} poses for {len(frames)} scans. '
                    'poses.txt needs one line per frame; restore it from SemanticKITTI.')
        except KittiFormatError as err:
            for _ in frames:
                problem(err)
            continue
        lidar2img = lidar2img_from_calib(calib)
        cam2img = np.eye(4)
        cam2img[:3] = calib['P2']
        tr_inv = np.linalg.inv(calib['Tr'])
        for frame in frames:
            lidar_rel, img_rel, label_rel = (path('', seq, frame) for path in (scan_path, image_path, label_path))
            try:
                scan = read_checked_scan(os.path.join(root, lidar_rel))
                num_points = len(scan)
                width, height = check_png(os.path.join(root, img_rel))
                if labelled:
                    check_label(os.path.join(root, label_rel), num_points)
            except KittiFormatError as err:
                problem(err)
                continue
            in_range = points_in_range(scan)
            if in_range < MIN_IN_RANGE_FRACTION * num_points:
                nothing = ', so this scan would leave nothing to train on' if not in_range else ''
                message = (f'{os.path.join(root, lidar_rel)}: only {in_range} of its {num_points} points lie '
                           f'inside the training range {list(TRAINING_RANGE)} (x, y, z mins then maxes, metres); '
                           f'training drops the others{nothing}. Check that the scan is in metres in the sensor frame.')
                log(f'warning: {message}')
                report.warnings.append(message)
            pose = poses[int(frame)]
            info = dict(
                sample_idx=f'{seq}{frame}',
                sequence=seq,
                frame_id=frame,
                num_points=num_points,
                lidar_points=dict(lidar_path=lidar_rel, num_pts_feats=4),
                images={CAMERA: dict(img_path=img_rel, height=height, width=width,
                                     lidar2img=lidar2img.tolist(), cam2img=cam2img.tolist(),
                                     lidar2cam=calib['Tr'].tolist())},
                pose=pose.tolist(),
                lidar_pose=(tr_inv @ pose @ calib['Tr']).tolist(),
            )
            if labelled:
                info['pts_semantic_mask_path'] = label_rel
            report.data_list.append(info)
    return report


def create_semantickitti_infos(root: str, out_dir: Optional[str] = None, extra_tag: str = 'semantickitti',
                               on_error: str = 'stop', log: Callable[[str], None] = print) -> Dict[str, str]:
    """Write ``{out_dir}/{extra_tag}_infos_{train,val,trainval,test}.pkl``; returns split -> written path.

    Every split is checked before any file is written, so a stop leaves the previous info files as they were.
    """
    out_dir = out_dir or root
    os.makedirs(out_dir, exist_ok=True)
    reports = {split: build_split_infos(root, split, on_error, log) for split in ('train', 'val', 'test')}
    reports['trainval'] = InfoReport(reports['train'].data_list + reports['val'].data_list,
                                     reports['train'].problems + reports['val'].problems)
    written = {}
    for split in ('train', 'val', 'trainval', 'test'):
        report = reports[split]
        path = os.path.join(out_dir, f'{extra_tag}_infos_{split}.pkl')
        with open(path, 'wb') as f:
            pickle.dump(dict(metainfo=dict(DATASET='SemanticKITTI', info_version='1.1-elite'),
                             data_list=report.data_list), f)
        skipped = f', skipped {len(report.problems)} bad frame(s)' if report.problems else ''
        log(f'{split}: {len(report.data_list)} frames -> {path}{skipped}')
        written[split] = path
    skipped = sum(len(reports[split].problems) for split in ('train', 'val', 'test'))
    warned = sum(len(reports[split].warnings) for split in ('train', 'val', 'test'))
    if warned:
        log(f'summary: {warned} frame(s) with few points in the training range (each named above as a warning); '
            'kept in the info files')
    if skipped:
        log(f'summary: {skipped} bad frame(s) left out of every info file (each named above as skipped)')
    return written
