"""The SAM pseudo-label files (layout, 16-bit PNG reading and atomic writing): a file format, like
``kitti_files``, shared by the generator (``pseudo_labels/writer.py``) and the data pipeline
(``transforms/sam_pseudo_label.py``), which must not import the generator (it loads SAM and the models).

Layout, beside each sequence's camera images ``sequences/XX/image_2/NNNNNN.png``::

    sequences/XX/image_2_pseudo/semantic/NNNNNN.png   learning_map ids: 0 = unlabelled, c + 1 = mmdet3d class c
    sequences/XX/image_2_pseudo/instance/NNNNNN.png   instance ids, 0 = none
"""
import os
import tempfile
from typing import Tuple, Union

import cv2
import numpy as np

from .kitti_files import KittiFormatError, frame_name, sequence_dir

PSEUDO_LABEL_DIR = 'image_2_pseudo'


def pseudo_label_paths(root: str, sequence: Union[str, int], frame: Union[str, int]) -> Tuple[str, str]:
    """(semantic_path, instance_path) of a frame's pseudo-labels, e.g. ``(root, '08', '000123')``."""
    folder = os.path.join(sequence_dir(root, sequence), PSEUDO_LABEL_DIR)
    name = frame_name(frame) + '.png'
    return os.path.join(folder, 'semantic', name), os.path.join(folder, 'instance', name)


def write_label_png(path: str, label: np.ndarray) -> None:
    """Atomically write an (H, W) uint16 label image as a 16-bit PNG: a temporary file in the same folder, read
    back and checked, then renamed over ``path``."""
    if label.dtype != np.uint16 or label.ndim != 2:
        raise ValueError(f'{path}: a label image must be (H, W) uint16, got {label.shape} {label.dtype}')
    folder = os.path.dirname(path)
    os.makedirs(folder, exist_ok=True)
    # Hidden name, and '.png' last so that OpenCV picks the PNG encoder.
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{os.path.basename(path)}.', suffix='.png', dir=folder)
    os.close(fd)
    try:
        if not cv2.imwrite(tmp_path, label):
            raise OSError(f'{path}: OpenCV could not write the PNG; check the disk and permissions of {folder}')
        written = cv2.imread(tmp_path, cv2.IMREAD_UNCHANGED)
        if written is None or written.dtype != np.uint16 or not np.array_equal(written, label):
            raise OSError(f'{path}: the PNG OpenCV wrote does not read back as the same 16-bit image; '
                          'use an OpenCV build with 16-bit PNG support (opencv-python from PyPI has it)')
        os.chmod(tmp_path, 0o644)  # mkstemp creates it readable by its owner only
        os.replace(tmp_path, path)
    except BaseException:
        os.unlink(tmp_path)
        raise


def read_label_png(path: str) -> np.ndarray:
    """Read a pseudo-label PNG as (H, W) uint16."""
    label = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if label is None:
        raise KittiFormatError(f'{path}: pseudo-label not found or unreadable. Write it with '
                               'tools/generate_pseudo_labels.py (it skips the frames already done).')
    if label.dtype != np.uint16 or label.ndim != 2:
        raise KittiFormatError(f'{path}: a {label.dtype} image of shape {label.shape}, not a single-channel 16-bit '
                               'PNG. Delete it and rerun tools/generate_pseudo_labels.py.')
    return label
