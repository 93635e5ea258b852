"""Pseudo-label files for the synthetic dataset, read off its images (the renderer paints each class in its own
colour), for the tests of the SAM-PLG data path."""
import glob
import os
import shutil

import cv2
import numpy as np

from elite.datasets.kitti_files import image_path
from elite.datasets.pseudo_label_files import pseudo_label_paths
from elite.datasets.semantickitti_labels import raw_to_learning
from elite.datasets.synthetic import CLASS_RGB

PALETTE = np.array(list(CLASS_RGB.values()), dtype=np.float64)
RAW_IDS = np.array(list(CLASS_RGB.keys()), dtype=np.uint16)


def colour_to_raw(img: np.ndarray) -> np.ndarray:
    """The class of each pixel of a synthetic image (0 = sky)."""
    dist = np.abs(img[..., None, :].astype(np.float64) - PALETTE).max(-1)
    raw = RAW_IDS[dist.argmin(-1)]
    return np.where(dist.min(-1) < 30, raw, 0).astype(np.uint16)


def pseudo_labelled_copy(synthetic_root: str, root: str) -> str:
    """A copy of the ``conftest`` synthetic dataset (sequences 00, 08, 11; frames 0, 1) at ``root`` with a
    pseudo-label PNG per image (learning_map ids, as the generator writes them)."""
    shutil.copytree(os.path.join(synthetic_root, 'sequences'), os.path.join(root, 'sequences'))
    for name in glob.glob(os.path.join(synthetic_root, '*.pkl')):
        shutil.copy(name, root)
    for seq in ('00', '08', '11'):
        for frame in (0, 1):
            img = cv2.imread(image_path(root, seq, frame))[:, :, ::-1]
            path = pseudo_label_paths(root, seq, frame)[0]
            os.makedirs(os.path.dirname(path), exist_ok=True)
            cv2.imwrite(path, raw_to_learning(colour_to_raw(img)).astype(np.uint16))
    return root
