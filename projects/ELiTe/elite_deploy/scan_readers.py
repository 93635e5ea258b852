"""Read a LiDAR scan from the formats users keep them in, as (N, 4) float32 x, y, z, intensity.

numpy alone (plus ``pypcd4`` for ``.pcd`` and ``plyfile`` for ``.ply``, imported only for those files): this
module belongs to the deployable part of the project, which runs without the training stack.

- ``.bin``: KITTI, float32 x, y, z, intensity per point;
- ``.pcd``: ASCII, binary or binary-compressed (fields ``x``, ``y``, ``z`` and one of ``intensity``,
  ``remission``, ``reflectance``, ``i``);
- ``.ply``: a ``vertex`` element with ``x``, ``y``, ``z`` (and one of those intensity names);
- ``.npy`` / ``.npz``: an (N, 3) or (N, 4) array (``.npz``: its ``points`` array, or its only one).

A scan without intensity gets zeros there (:attr:`Scan.intensity_filled` says so). Every problem (unreadable,
truncated, wrong shape, empty, non-finite) raises :class:`ScanReadError` naming the file and the fix.
"""
import os
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

SCAN_SUFFIXES = ('.bin', '.pcd', '.ply', '.npy', '.npz')
INTENSITY_NAMES = ('intensity', 'remission', 'reflectance', 'i')


class ScanReadError(ValueError):
    """A scan file that cannot be used; the message names the file and the fix."""


@dataclass
class Scan:
    path: str
    points: np.ndarray  # (N, 4) float32 x, y, z, intensity
    intensity_filled: bool = False  # the file had no intensity: zeros


def _fail(path: str, problem: str, fix: str) -> ScanReadError:
    return ScanReadError(f'{path}: {problem}. {fix}')


def _from_columns(path: str, columns: dict, names: Sequence[str]) -> Scan:
    missing = [axis for axis in 'xyz' if axis not in columns]
    if missing:
        raise _fail(path, f'no {"/".join(missing)} field (fields: {", ".join(names)})',
                    'Write the points with x, y, z fields (and intensity).')
    intensity = next((columns[n] for n in INTENSITY_NAMES if n in columns), None)
    xyz = [np.asarray(columns[axis], dtype=np.float32) for axis in 'xyz']
    filled = intensity is None
    values = np.zeros(len(xyz[0]), np.float32) if filled else np.asarray(intensity, dtype=np.float32)
    return Scan(path, np.stack([*xyz, values], axis=1), filled)


def _read_bin(path: str) -> Scan:
    size = os.path.getsize(path)
    if size % 16:
        raise _fail(path, f'size {size} bytes is not a multiple of 16 (float32 x, y, z, intensity per point)',
                    'The file is truncated or not a KITTI scan; write it again, or save it as .npy / .pcd.')
    return Scan(path, np.fromfile(path, dtype=np.float32).reshape(-1, 4))


def _read_array(path: str, array: np.ndarray) -> Scan:
    if array.ndim != 2 or array.shape[1] not in (3, 4):
        raise _fail(path, f'holds an array of shape {array.shape}, not (N, 3) or (N, 4)',
                    'Save the points as an (N, 4) array of x, y, z, intensity (or (N, 3) without intensity).')
    points = np.asarray(array, dtype=np.float32)
    if points.shape[1] == 3:
        return Scan(path, np.concatenate([points, np.zeros((len(points), 1), np.float32)], 1), True)
    return Scan(path, points)


def _read_npz(path: str) -> Scan:
    with np.load(path, allow_pickle=False) as archive:
        names = list(archive.files)
        if 'points' in names:
            return _read_array(path, archive['points'])
        if len(names) == 1:
            return _read_array(path, archive[names[0]])
    raise _fail(path, f'holds the arrays {names} and none named "points"', 'Save the scan as points=... in it.')


def _read_pcd(path: str) -> Scan:
    try:
        from pypcd4 import PointCloud
    except ImportError as err:
        raise _fail(path, 'reading .pcd needs the pypcd4 package', 'pip install pypcd4') from err
    cloud = PointCloud.from_path(path)
    fields = list(cloud.fields)
    array = cloud.numpy(fields)
    return _from_columns(path, {name: array[:, i] for i, name in enumerate(fields)}, fields)


def _read_ply(path: str) -> Scan:
    try:
        from plyfile import PlyData
    except ImportError as err:
        raise _fail(path, 'reading .ply needs the plyfile package', 'pip install plyfile') from err
    ply = PlyData.read(path)
    if 'vertex' not in [element.name for element in ply.elements]:
        raise _fail(path, 'has no vertex element', 'Write the points as the vertices of the .ply file.')
    vertex = ply['vertex'].data
    names = list(vertex.dtype.names)
    return _from_columns(path, {name: vertex[name] for name in names}, names)


READERS = {'.bin': _read_bin, '.npy': lambda p: _read_array(p, np.load(p, allow_pickle=False)), '.npz': _read_npz,
           '.pcd': _read_pcd, '.ply': _read_ply}


def read_scan(path: str) -> Scan:
    """The scan at ``path`` (format by suffix), checked: at least one point, every value finite."""
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in READERS:
        raise _fail(path, f'unknown scan format {suffix!r}', f'Use one of {", ".join(SCAN_SUFFIXES)}.')
    if not os.path.isfile(path):
        raise _fail(path, 'file not found', 'Check the path.')
    try:
        scan = READERS[suffix](path)
    except ScanReadError:
        raise
    except Exception as err:  # the libraries' own errors for damaged files, with the file named
        raise _fail(path, f'could not be read as {suffix} ({type(err).__name__}: {err})',
                    'The file is damaged or not a point cloud; write it again.') from err
    if len(scan.points) == 0:
        raise _fail(path, 'holds no points', 'Leave it out, or pass --on-error skip.')
    finite = np.isfinite(scan.points).all(axis=1)
    if not finite.all():
        raise _fail(path, f'{int((~finite).sum())} of {len(finite)} points hold non-finite values (first at point '
                          f'{int(np.flatnonzero(~finite)[0])})', 'Remove those points, or pass --on-error skip.')
    return scan


def find_scans(inputs: Sequence[str]) -> list:
    """Scan files from files, folders (their scan files, sorted) and glob patterns, in the order given."""
    import glob
    found: list = []
    for item in inputs:
        if os.path.isdir(item):
            found += sorted(os.path.join(item, f) for f in os.listdir(item) if f.lower().endswith(SCAN_SUFFIXES))
        elif any(ch in item for ch in '*?['):
            found += sorted(glob.glob(item))
        else:
            found.append(item)
    return found


def scan_name(path: str, taken: Optional[set] = None) -> str:
    """The output name of a scan: its file name without suffix (a clash gets the parent folder prefixed)."""
    name = os.path.splitext(os.path.basename(path))[0]
    if taken is not None and name in taken:
        name = f'{os.path.basename(os.path.dirname(os.path.abspath(path)))}_{name}'
    return name
