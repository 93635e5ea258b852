"""Time a config's training data pipeline (load, project, crop, augment, pack) on full-size frames."""
import contextlib
import os
import time
from typing import Optional

import cv2
import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..datasets.synthetic import ensure_synthetic_dataset
from .machine import machine_description


def ensure_full_size_frames(root: str, frames: int = 4) -> None:
    """Full-size synthetic frames (about 120,000 points, 1241 x 376 images) in train sequence 00."""
    ensure_synthetic_dataset(root, ('00',), frames=frames, num_points=120000)


@contextlib.contextmanager
def one_core():
    """Run the block on a single core and thread; restore the process's affinity and threads after."""
    affinity = os.sched_getaffinity(0) if hasattr(os, 'sched_setaffinity') else None
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    if affinity:
        os.sched_setaffinity(0, {min(affinity)})
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        if affinity:
            os.sched_setaffinity(0, affinity)
        torch.set_num_threads(threads)
        cv2.setNumThreads(cv_threads)


def time_data_pipeline(config: str, data_root: Optional[str] = None, samples: int = 20, warmup: int = 3,
                       cache_root: str = 'data/benchmark_kitti') -> dict:
    """Median time per sample of ``config``'s ``train_dataloader.dataset`` on one core."""
    if data_root is None:
        data_root = cache_root
        ensure_full_size_frames(data_root)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.data_root = data_root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    if len(dataset) == 0:
        raise RuntimeError(f'{data_root}: the training split is empty; build its infos with tools/create_data.py')
    times, num_points = [], []
    with one_core():
        for i in range(warmup + samples):
            start = time.perf_counter()
            sample = dataset[i % len(dataset)]
            elapsed = time.perf_counter() - start
            if i >= warmup:
                times.append(elapsed)
                num_points.append(len(sample['inputs']['points']))
    times_ms = np.array(times) * 1000
    return dict(ms_per_sample=round(float(np.median(times_ms)), 2), mean_ms=round(float(times_ms.mean()), 2),
                range_ms=[round(float(times_ms.min()), 2), round(float(times_ms.max()), 2)],
                p90_ms=round(float(np.percentile(times_ms, 90)), 2), samples=samples,
                points_per_sample=int(np.mean(num_points)), threads=1,
                machine=machine_description(), config=config,
                data_root=data_root)
