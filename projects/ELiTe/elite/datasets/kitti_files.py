"""Readers and writers for the SemanticKITTI file formats and layout, with errors that name the file and the fix.

One place knows the formats: ``velodyne/*.bin`` (float32 x, y, z, intensity), ``labels/*.label``
(uint32, low 16 bits semantic id, high 16 bits instance id), ``calib.txt`` (odometry style ``P0``..``P3``,
``Tr``) and ``poses.txt`` (one 3 x 4 row-major pose per frame, camera-0 frame); and the layout under a
dataset root: ``sequences/XX/{velodyne/NNNNNN.bin, labels/NNNNNN.label, image_2/NNNNNN.png, calib.txt,
poses.txt}``. The info builder, the dataset, the synthetic generator and the tests all go through here.
"""
import os
import struct
import zlib
from typing import Dict, Tuple, Union

import numpy as np

POINT_BYTES = 16  # 4 float32 values per point
PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'


class KittiFormatError(ValueError):
    """A SemanticKITTI file is missing, truncated or malformed."""


def _fail(path: str, problem: str, fix: str) -> KittiFormatError:
    return KittiFormatError(f'{path}: {problem}. {fix}')


def sequence_name(sequence: Union[str, int]) -> str:
    """A sequence id as its folder is named: ``8`` or ``'08'`` -> ``'08'``."""
    return f'{int(sequence):02d}'


def frame_name(frame: Union[str, int]) -> str:
    """A frame id as its files are named: ``12`` or ``'000012'`` -> ``'000012'``."""
    return f'{int(frame):06d}'


def sequence_dir(root: str, sequence: Union[str, int]) -> str:
    """``root/sequences/XX``; ``root=''`` gives the path relative to the dataset root (as the infos hold it)."""
    return os.path.join(root, 'sequences', sequence_name(sequence))


def calib_path(root: str, sequence: Union[str, int]) -> str:
    """``root/sequences/XX/calib.txt``."""
    return os.path.join(sequence_dir(root, sequence), 'calib.txt')


def poses_path(root: str, sequence: Union[str, int]) -> str:
    """``root/sequences/XX/poses.txt``."""
    return os.path.join(sequence_dir(root, sequence), 'poses.txt')


def scan_path(root: str, sequence: Union[str, int], frame: Union[str, int]) -> str:
    """``root/sequences/XX/velodyne/NNNNNN.bin``."""
    return os.path.join(sequence_dir(root, sequence), 'velodyne', frame_name(frame) + '.bin')


def label_path(root: str, sequence: Union[str, int], frame: Union[str, int]) -> str:
    """``root/sequences/XX/labels/NNNNNN.label``."""
    return os.path.join(sequence_dir(root, sequence), 'labels', frame_name(frame) + '.label')


def image_path(root: str, sequence: Union[str, int], frame: Union[str, int]) -> str:
    """``root/sequences/XX/image_2/NNNNNN.png`` (camera 2)."""
    return os.path.join(sequence_dir(root, sequence), 'image_2', frame_name(frame) + '.png')


def read_calib(path: str) -> Dict[str, np.ndarray]:
    """Read ``calib.txt`` into ``{'P0'..'P3': (3, 4), 'Tr': (4, 4)}`` (float64)."""
    if not os.path.isfile(path):
        raise _fail(path, 'calibration file not found',
                    'Copy calib.txt from the KITTI odometry calibration archive into the sequence folder.')
    calib = {}
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            key, sep, values = line.partition(':')
            try:
                numbers = np.array([float(v) for v in values.split()], dtype=np.float64)
            except ValueError:
                raise _fail(path, f'line {line_no} ({key.strip()!r}) has a non-numeric value',
                            'Restore the file from the KITTI odometry calibration archive.') from None
            if not sep or numbers.size != 12:
                raise _fail(path, f'line {line_no} ({key.strip()!r}) should be "KEY: 12 numbers"',
                            'Restore the file from the KITTI odometry calibration archive.')
            calib[key.strip()] = numbers.reshape(3, 4)
    missing = [k for k in ('P2', 'Tr') if k not in calib]
    if missing:
        raise _fail(path, f'missing {", ".join(missing)}',
                    'calib.txt must hold P0..P3 and Tr (lidar to camera 0); use the odometry calibration.')
    tr = np.eye(4)
    tr[:3] = calib['Tr']
    calib['Tr'] = tr
    return calib


def lidar2img_from_calib(calib: Dict[str, np.ndarray]) -> np.ndarray:
    """``lidar2img = P2 @ [Tr; 0 0 0 1]`` as a (4, 4) float64 matrix (last row 0 0 0 1)."""
    lidar2img = np.eye(4)
    lidar2img[:3] = calib['P2'] @ calib['Tr']
    return lidar2img


def read_poses(path: str) -> np.ndarray:
    """Read ``poses.txt`` into (F, 4, 4) float64 camera-0 poses."""
    if not os.path.isfile(path):
        raise _fail(path, 'poses file not found',
                    'Copy poses.txt (SemanticKITTI provides it for every sequence) into the sequence folder.')
    try:
        rows = np.loadtxt(path, dtype=np.float64, ndmin=2)
    except ValueError as e:
        raise _fail(path, f'cannot parse ({e})', 'Each line must hold 12 numbers (a row-major 3 x 4 pose).') from None
    if rows.shape[1] != 12:
        raise _fail(path, f'lines hold {rows.shape[1]} numbers, expected 12',
                    'Each line must hold 12 numbers (a row-major 3 x 4 pose).')
    poses = np.tile(np.eye(4), (len(rows), 1, 1))
    poses[:, :3] = rows.reshape(-1, 3, 4)
    return poses


def count_points(path: str) -> int:
    """Number of points in a ``.bin`` scan, checked from its size without reading it."""
    if not os.path.isfile(path):
        raise _fail(path, 'scan not found', 'Check the dataset root and the velodyne folder.')
    size = os.path.getsize(path)
    if size % POINT_BYTES:
        raise _fail(path, f'size {size} bytes is not a multiple of {POINT_BYTES} (float32 x, y, z, intensity)',
                    'The file is truncated or not a KITTI scan; download or extract it again.')
    return size // POINT_BYTES


def read_scan(path: str) -> np.ndarray:
    """Read a ``.bin`` scan as (N, 4) float32."""
    count_points(path)
    return np.fromfile(path, dtype=np.float32).reshape(-1, 4)


def check_scan_values(points: np.ndarray, path: str) -> np.ndarray:
    """``points`` (N, 4) if they are usable: at least one point, every value finite; else a KittiFormatError
    naming ``path``. A NaN or infinite coordinate turns every weight it reaches into NaN in training."""
    if len(points) == 0:
        raise _fail(path, 'the scan holds no points',
                    'Extract the scan again, or leave the frame out: tools/create_data.py --on-error skip.')
    finite = np.isfinite(points)
    if not finite.all():
        bad = np.flatnonzero(~finite.all(axis=1))
        raise _fail(path, f'{len(bad)} of {len(points)} points hold non-finite values (NaN or inf; first at '
                          f'point {bad[0]})',
                    'Extract the scan again, or leave the frame out: tools/create_data.py --on-error skip.')
    return points


def read_checked_scan(path: str) -> np.ndarray:
    """:func:`read_scan` plus :func:`check_scan_values`."""
    return check_scan_values(read_scan(path), path)


def check_label(path: str, num_points: int) -> None:
    """Check that a ``.label`` file holds exactly one uint32 per scan point."""
    if not os.path.isfile(path):
        raise _fail(path, 'label file not found', 'Extract the SemanticKITTI label archive over the dataset root.')
    size = os.path.getsize(path)
    if size != 4 * num_points:
        raise _fail(path, f'holds {size / 4:g} labels for a scan of {num_points} points',
                    'The label and scan files do not belong together or one is truncated; extract both again.')


def read_label(path: str, num_points: int) -> Tuple[np.ndarray, np.ndarray]:
    """Read a ``.label`` file as (semantic, instance) uint16 arrays of length ``num_points``."""
    check_label(path, num_points)
    raw = np.fromfile(path, dtype=np.uint32)
    return (raw & 0xFFFF).astype(np.uint16), (raw >> 16).astype(np.uint16)


def check_png_bytes(data: bytes, path: str) -> Tuple[int, int]:
    """(width, height) of a complete PNG: every chunk is whole and its CRC matches, up to IEND (a cheap full
    check, no decoding). A truncated or damaged file raises a KittiFormatError naming ``path``."""
    fix = 'Extract image_2 from the KITTI odometry colour archive again, or leave the frame out: ' \
          'tools/create_data.py --on-error skip.'
    if data[:8] != PNG_SIGNATURE or len(data) < 33:
        raise _fail(path, 'not a PNG file', fix)
    offset = 8
    while True:
        if offset + 12 > len(data):
            raise _fail(path, f'the PNG ends after {len(data)} bytes without its IEND chunk (truncated)', fix)
        length, kind = struct.unpack('>I4s', data[offset:offset + 8])
        end = offset + 12 + length
        if end > len(data):
            raise _fail(path, f'the PNG chunk {kind!r} at byte {offset} runs past the end of the file (truncated)',
                        fix)
        crc = struct.unpack('>I', data[end - 4:end])[0]
        if zlib.crc32(data[offset + 4:end - 4]) != crc:
            raise _fail(path, f'the PNG chunk {kind!r} at byte {offset} fails its CRC (damaged)', fix)
        if kind == b'IEND':
            return int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
        offset = end


def check_png(path: str) -> Tuple[int, int]:
    """:func:`check_png_bytes` on the file at ``path``."""
    if not os.path.isfile(path):
        raise _fail(path, 'image not found',
                    'Extract the KITTI odometry colour archive (image_2) over the dataset root.')
    with open(path, 'rb') as f:
        return check_png_bytes(f.read(), path)


def write_scan(path: str, points: np.ndarray) -> None:
    np.ascontiguousarray(points, dtype=np.float32).reshape(-1, 4).tofile(path)


def write_label(path: str, semantic: np.ndarray, instance: np.ndarray) -> None:
    raw = (instance.astype(np.uint32) << 16) | semantic.astype(np.uint32)
    raw.astype(np.uint32).tofile(path)


def write_calib(path: str, calib: Dict[str, np.ndarray]) -> None:
    with open(path, 'w') as f:
        for key in ('P0', 'P1', 'P2', 'P3', 'Tr'):
            f.write(f'{key}: ' + ' '.join(f'{v:.12e}' for v in np.asarray(calib[key])[:3].ravel()) + '\n')


def write_poses(path: str, poses: np.ndarray) -> None:
    np.savetxt(path, np.asarray(poses)[:, :3].reshape(len(poses), 12), fmt='%.12e')
