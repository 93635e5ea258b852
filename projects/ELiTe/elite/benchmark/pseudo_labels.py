"""Speed of SAM pseudo-label generation: prompts per second and seconds per image.

SAM vit_b with random weights (the cost does not depend on the weights) on synthetic frames written to a
temporary folder. The mask decoder runs once per prompt and its size is the same for every SAM type, so
prompts per second also holds for vit_h; only the one image-encoder pass per image grows with the type.
"""
import os
import tempfile
import time
from typing import Dict

import numpy as np
import torch

from ..datasets.kitti_files import lidar2img_from_calib, read_calib
from ..datasets.synthetic import write_dataset
from ..pseudo_labels.sam_model import build_sam
from ..pseudo_labels.sam_plg import SamPseudoLabelGenerator
from ..pseudo_labels.writer import list_frames, load_frame
from .machine import machine_description


def pseudo_label_speed(images: int = 1, num_points: int = 120000, points_per_batch: int = 64,
                       model_type: str = 'vit_b', downsample: str = 'nearest', seed: int = 0) -> Dict:
    """Time :meth:`SamPseudoLabelGenerator.generate` on ``images`` full-size synthetic frames (1241 x 376, and
    120,000 points by default, as KITTI: about 650 prompts per frame with the paper's 'nearest' downsampling).

    Returns prompts_per_second (prompts / (total - encoder time): the decoding, filtering and painting rate),
    seconds_per_image and encoder_seconds_per_image (means), the median and [min, max] of the images' seconds
    (use ``images >= 3`` for a spread), prompts_per_image, encoder_runs and images.
    """
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    generator = SamPseudoLabelGenerator(build_sam(model_type).to(device), points_per_batch, downsample=downsample)
    encoder_seconds = []

    def clock() -> float:
        if device == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter()

    encoder = generator.predictor.model.image_encoder
    starts = []
    encoder.register_forward_pre_hook(lambda *_: starts.append(clock()))
    encoder.register_forward_hook(lambda *_: encoder_seconds.append(clock() - starts.pop()))

    image_seconds, prompts = [], 0
    with tempfile.TemporaryDirectory() as root:
        write_dataset(root, ('00',), frames=images, num_points=num_points, seed=seed)
        lidar2img = lidar2img_from_calib(read_calib(os.path.join(root, 'sequences', '00', 'calib.txt')))
        frames, _ = list_frames(root, ['00'])
        for seq, frame in frames:
            inputs = load_frame(root, seq, frame, lidar2img)
            start = clock()
            labels = generator.generate(*inputs)
            image_seconds.append(clock() - start)
            prompts += labels.num_prompts
    total_seconds = sum(image_seconds)
    decode_seconds = total_seconds - sum(encoder_seconds)
    return dict(prompts_per_second=round(prompts / decode_seconds, 2),
                seconds_per_image=round(total_seconds / len(frames), 2),
                median_seconds_per_image=round(float(np.median(image_seconds)), 2),
                range_seconds_per_image=[round(min(image_seconds), 2), round(max(image_seconds), 2)],
                encoder_seconds_per_image=round(sum(encoder_seconds) / len(frames), 2),
                prompts_per_image=round(prompts / len(frames), 1), encoder_runs=generator.encoder_runs,
                images=len(frames), model_type=model_type, points_per_batch=points_per_batch, num_points=num_points,
                downsample=downsample, device=device, threads=torch.get_num_threads(), machine=machine_description())
