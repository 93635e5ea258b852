"""Parameter counts and inference latency of a config's model (``tools/benchmark.py params|latency``)."""
import os
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional

import numpy as np
import psutil
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

from .data_pipeline import ensure_full_size_frames
from .machine import machine_description

# Models to compare the student with, from mmdet3d's own configs, on the same sparse backend (spconv) and
# through PointImageDataPreprocessor's device-agnostic 'minkunet' voxelisation (mmdet3d's calls .cuda()).
COMPARE_MODELS = {
    # mmdet3d's stock spconv MinkUNet W32 config (MinkUNet34 blocks, 0.05 m voxels)
    'minkunet_w32': 'minkunet/minkunet34_w32_spconv_8xb2-laser-polar-mix-3x_semantickitti.py',
    # the lighter MinkUNet18 W32 of mmdet3d's base model config, switched to spconv
    'minkunet18_w32': '_base_/models/minkunet.py',
}


def count(parameters: Iterable[nn.Parameter], trainable: Optional[bool] = None) -> int:
    """Number of values in ``parameters`` (each tensor once); only (non-)trainable ones if ``trainable``."""
    unique = {id(p): p for p in parameters}.values()
    return sum(p.numel() for p in unique if trainable is None or p.requires_grad == trainable)


def build_model(config: str) -> nn.Module:
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    return MODELS.build(Config.fromfile(config).model)


def parameter_report(model: nn.Module) -> Dict:
    """``inference`` / ``trainable`` / ``frozen`` totals and per-component counts.

    A model may define ``parameter_groups() -> {name: [parameters]}`` and ``inference_parameters()``;
    otherwise the whole model is the student and runs at inference.
    """
    everything = list(model.parameters())
    groups = model.parameter_groups() if hasattr(model, 'parameter_groups') else {'student': everything}
    inference = model.inference_parameters() if hasattr(model, 'inference_parameters') else everything
    return dict(inference=count(inference), trainable=count(everything, True), frozen=count(everything, False),
                components={name: count(params) for name, params in groups.items()})


class PeakRSS:
    """Peak increase of this process's resident memory while the block runs (sampled every millisecond)."""

    def __enter__(self):
        self.process = psutil.Process(os.getpid())
        self.baseline = self.peak = self.process.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.process.memory_info().rss)
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.process.memory_info().rss)

    @property
    def megabytes(self) -> float:
        return (self.peak - self.baseline) / 2 ** 20


def timed(fn: Callable[[int], None], warmup: int, repeats: int, device: str) -> Dict[str, float]:
    """Median milliseconds of ``fn(run_index)`` after ``warmup`` runs, and the peak memory of the last run."""
    times: List[float] = []
    for i in range(warmup + repeats):
        if device == 'cuda':
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        with PeakRSS() as memory:
            fn(i)
            if device == 'cuda':
                torch.cuda.synchronize()
        if i >= warmup:
            times.append(time.perf_counter() - start)
    peak = torch.cuda.max_memory_allocated() / 2 ** 20 if device == 'cuda' else memory.megabytes
    return dict(ms=round(float(np.median(times)) * 1000, 1), peak_mb=round(peak, 1))


def time_inference(model: nn.Module, samples: List[dict], repeats: int, warmup: int, device: str) -> Dict:
    """Preprocessing + forward of one scan at a time (batch 1), cycling through ``samples``."""
    model = model.to(device).eval()
    with torch.no_grad():
        return timed(lambda i: model.test_step(pseudo_collate([samples[i % len(samples)]])), warmup, repeats,
                     device)


def compare_model(name: str) -> nn.Module:
    if name not in COMPARE_MODELS:
        raise ValueError(f'unknown comparison model {name!r}; choose from {sorted(COMPARE_MODELS)}')
    import mmdet3d
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet3d.__file__), '.mim', 'configs', COMPARE_MODELS[name]))
    cfg.model.backbone.sparseconv_backend = 'spconv'
    cfg.model.data_preprocessor = dict(type='PointImageDataPreprocessor', voxel=True, voxel_type='minkunet',
                                       batch_first=True, voxel_layer=cfg.model.data_preprocessor.voxel_layer)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    return MODELS.build(cfg.model)


def latency_report(config: str, compare: Optional[str] = 'minkunet_w32', scans: int = 4, repeats: int = 10,
                   warmup: int = 2, data_root: str = 'data/benchmark_kitti') -> Dict:
    """Student inference latency on full-size synthetic scans, beside ``compare`` on the same scans."""
    ensure_full_size_frames(data_root, frames=max(scans, 1))
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS
    cfg = Config.fromfile(config)
    dataset_cfg = cfg.test_dataloader.dataset
    dataset_cfg.update(data_root=data_root, ann_file='semantickitti_infos_train.pkl', test_mode=True)
    dataset = DATASETS.build(dataset_cfg)
    samples = [dataset[i] for i in range(min(scans, len(dataset)))]
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    student = time_inference(build_model(config), samples, repeats, warmup, device)
    result = dict(student_ms=student['ms'], student_peak_mb=student['peak_mb'])
    if compare:
        other = time_inference(compare_model(compare), samples, repeats, warmup, device)
        result.update(compare=compare, compare_ms=other['ms'], compare_peak_mb=other['peak_mb'],
                      speedup=round(other['ms'] / student['ms'], 2))
    result.update(points_per_scan=int(np.mean([len(s['inputs']['points']) for s in samples])), scans=len(samples),
                  repeats=repeats, device=device, threads=torch.get_num_threads(), machine=machine_description(),
                  config=config)
    return result
