"""Pseudo-label files, and the offline run over a dataset that writes them (SAM-PLG step 8).

Layout, beside each sequence's camera images ``sequences/XX/image_2/NNNNNN.png``::

    sequences/XX/image_2_pseudo/semantic/NNNNNN.png   learning_map ids: 0 = unlabelled, c + 1 = mmdet3d class c
    sequences/XX/image_2_pseudo/instance/NNNNNN.png   instance ids, 0 = none

Both are single-channel 16-bit PNGs of the camera image's size (read them with :func:`read_label_png`, or
``cv2.imread(path, cv2.IMREAD_UNCHANGED)``), so that ids above 255 survive. Pixels that no SAM mask painted keep
the label of the nearest projected point, or 0. :func:`pseudo_label_paths` gives a frame's two paths.

A frame is done when both of its files exist. Each file is written to a temporary file in its own folder and
then renamed over its final name, so a killed run never leaves a partial label, and a rerun carries on with the
frames not done.
"""
import os
from dataclasses import dataclass
from typing import List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from tqdm import tqdm

from ..datasets.kitti_files import (
    KittiFormatError,
    calib_path,
    image_path,
    label_path,
    lidar2img_from_calib,
    read_calib,
    read_label,
    read_scan,
    scan_path,
)
from ..datasets.pseudo_label_files import pseudo_label_paths, read_label_png, write_label_png  # noqa: F401 (API)
from ..datasets.semantickitti_infos import SPLITS
from ..datasets.semantickitti_labels import raw_to_learning
from .sam_model import build_sam
from .sam_plg import SamPseudoLabelGenerator, sparse_label_images

LABELLED_SEQUENCES = sorted(SPLITS['trainval'])  # 00-10; the test sequences have no labels to prompt with


def load_frame(root: str, sequence: str, frame: str, lidar2img: np.ndarray, shared_pixel: str = 'last'
               ) -> Tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A frame's RGB image (H, W, 3) uint8, its sparse semantic (learning_map ids) / instance label images (H, W)
    uint16 and the pixels with a point (H, W) bool: :meth:`SamPseudoLabelGenerator.generate`'s arguments
    (``shared_pixel``: see :func:`sparse_label_images`)."""
    img_file = image_path(root, sequence, frame)
    bgr = cv2.imread(img_file, cv2.IMREAD_COLOR)
    if bgr is None:
        raise KittiFormatError(f'{img_file}: image not found or unreadable. Extract image_2 from the KITTI '
                               'odometry colour archive over the dataset root.')
    scan = read_scan(scan_path(root, sequence, frame))
    label_file = label_path(root, sequence, frame)
    semantic, instance = read_label(label_file, len(scan))
    return (np.ascontiguousarray(bgr[..., ::-1]),
            *sparse_label_images(scan[:, :3], raw_to_learning(semantic, source=label_file), instance, lidar2img,
                                 bgr.shape[:2], shared_pixel))


def list_frames(root: str, sequences: Optional[Sequence[str]] = None) -> Tuple[List[Tuple[str, str]], int]:
    """The labelled frames (sequence, frame) of ``sequences`` (default: the labelled ones present), and the
    number of frames left out because they have no ``.label`` file."""
    if sequences:
        sequences = [f'{int(seq):02d}' for seq in sequences]
        for seq in sequences:
            velodyne = os.path.join(root, 'sequences', seq, 'velodyne')
            if not os.path.isdir(velodyne):
                raise KittiFormatError(f'{velodyne}: folder not found. Check --root and --sequences.')
    else:
        sequences = [seq for seq in LABELLED_SEQUENCES
                     if os.path.isdir(os.path.join(root, 'sequences', seq, 'velodyne'))]
        if not sequences:
            raise KittiFormatError(f'{os.path.join(root, "sequences")}: no labelled sequence (00-10) with a '
                                   'velodyne folder. Point --root at the SemanticKITTI root.')
    frames, unlabelled = [], 0
    for seq in sequences:
        seq_dir = os.path.join(root, 'sequences', seq)
        for name in sorted(os.listdir(os.path.join(seq_dir, 'velodyne'))):
            if not name.endswith('.bin'):
                continue
            if os.path.isfile(os.path.join(seq_dir, 'labels', name[:-4] + '.label')):
                frames.append((seq, name[:-4]))
            else:
                unlabelled += 1
    return frames, unlabelled


@dataclass
class GenerationSummary:
    """What a run did; ``encoder_runs`` and ``prompts`` count the work of this run only."""
    written: int
    already_done: int
    unlabelled: int
    encoder_runs: int
    prompts: int

    def __str__(self) -> str:
        return (f'pseudo-labels: {self.written} frames written, {self.already_done} already done, '
                f'{self.unlabelled} without labels skipped ({self.prompts} prompts, '
                f'{self.encoder_runs} image-encoder runs)')


def run_pseudo_label_generation(root: str, checkpoint: str, model_type: str = 'vit_h',
                                sequences: Optional[Sequence[str]] = None, device: Optional[str] = None,
                                points_per_batch: int = 64, downsample: str = 'nearest',
                                progress: bool = True, shared_pixel: str = 'last',
                                instance_vote: str = 'reference') -> GenerationSummary:
    """Write the pseudo-labels of every labelled frame not done yet (see the module docstring for the layout).

    SAM is loaded only when a frame remains to be done, so a finished dataset costs a directory listing.

    Args:
        root: SemanticKITTI root holding ``sequences/``.
        checkpoint: SAM checkpoint of ``model_type`` (e.g. ``sam_vit_h_4b8939.pth`` for 'vit_h').
        sequences: sequence names; default: those of 00-10 present under ``root``.
        device: 'cpu' or 'cuda'; default: 'cuda' when available.
        points_per_batch: prompts decoded together.
        downsample: how labels reach SAM's prompt grid: 'nearest' (the paper's) or 'keep_labelled' (every cell
            holding a labelled pixel prompts; about 12 times as many prompts).
        progress: show a tqdm progress bar.
    """
    frames, unlabelled = list_frames(root, sequences)
    todo = [(seq, frame) for seq, frame in frames
            if not all(os.path.isfile(p) for p in pseudo_label_paths(root, seq, frame))]
    summary = GenerationSummary(written=0, already_done=len(frames) - len(todo), unlabelled=unlabelled,
                                encoder_runs=0, prompts=0)
    if not todo:
        return summary
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    generator = SamPseudoLabelGenerator(build_sam(model_type, checkpoint).to(device), points_per_batch,
                                        downsample=downsample, instance_vote=instance_vote)
    lidar2img = {}
    for seq, frame in tqdm(todo, desc='SAM pseudo-labels', unit='frame', disable=not progress):
        if seq not in lidar2img:
            lidar2img[seq] = lidar2img_from_calib(read_calib(calib_path(root, seq)))
        labels = generator.generate(*load_frame(root, seq, frame, lidar2img[seq], shared_pixel))
        semantic_path, instance_path = pseudo_label_paths(root, seq, frame)
        write_label_png(semantic_path, labels.semantic)
        write_label_png(instance_path, labels.instance)
        summary.written += 1
        summary.prompts += labels.num_prompts
    summary.encoder_runs = generator.encoder_runs
    return summary
