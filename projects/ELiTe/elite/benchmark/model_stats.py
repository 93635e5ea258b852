"""Parameter counts and inference latency of a config's model (``tools/benchmark.py params|latency``)."""
import contextlib
import ctypes
import os
import threading
import time
from typing import Callable, Dict, Iterable, List, Optional, Sequence

import numpy as np
import psutil
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from torch import nn

from ..engine.student_predictor import build_model  # noqa: F401  (also this module's, for the tools)
from ..models.backbones.stage_grids import GRIDS
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


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in ('arena', 'ordblks', 'smblks', 'hblks', 'hblkhd', 'usmblks',
                                                     'fsmblks', 'uordblks', 'fordblks', 'keepcost')]


def _allocated_bytes_reader() -> Callable[[], int]:
    """Bytes the process has allocated and not freed, from glibc's ``mallinfo2`` (heap in use + mmapped
    blocks); the resident set size where that is unavailable (memory freed but kept by the allocator then
    still counts, so successive measurements in one process read low)."""
    try:
        mallinfo2 = ctypes.CDLL(None).mallinfo2
        mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        process = psutil.Process(os.getpid())
        return lambda: process.memory_info().rss

    def allocated() -> int:
        info = mallinfo2()
        return info.uordblks + info.hblkhd
    return allocated


class PeakMemory:
    """Peak increase of the process's allocated memory while the block runs (sampled every millisecond)."""

    def __enter__(self):
        self.read = _allocated_bytes_reader()
        self.baseline = self.peak = self.read()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.read())
            time.sleep(0.001)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.read())

    @property
    def megabytes(self) -> float:
        return (self.peak - self.baseline) / 2 ** 20


def timed_in_turn(fns: Dict[str, Callable[[int], None]], warmup: int, repeats: int,
                  device: str) -> Dict[str, Dict[str, float]]:
    """Per function: median milliseconds of ``fn(run_index)`` over ``repeats`` runs after ``warmup`` (at least
    1) runs, and the peak memory of its last warm-up run.

    The functions take turns, one run each per round, so that slow and fast periods of a shared machine fall
    on all of them alike. The memory is not sampled during the timed runs: its sampling thread takes the
    interpreter every millisecond and would slow them down (by a fifth on 2 cores).
    """
    warmup = max(warmup, 1)
    times: Dict[str, List[float]] = {name: [] for name in fns}
    peaks: Dict[str, float] = {}
    for i in range(warmup + repeats):
        for name, fn in fns.items():
            if device == 'cuda':
                torch.cuda.synchronize()
                torch.cuda.reset_peak_memory_stats()
            start = time.perf_counter()
            with PeakMemory() if i == warmup - 1 else contextlib.nullcontext() as memory:
                fn(i)
                if device == 'cuda':
                    torch.cuda.synchronize()
            if i == warmup - 1:
                peaks[name] = torch.cuda.max_memory_allocated() / 2 ** 20 if device == 'cuda' else memory.megabytes
            elif i >= warmup:
                times[name].append(time.perf_counter() - start)
    return {name: dict(ms=round(float(np.median(times[name])) * 1000, 1),
                       range_ms=[round(float(min(times[name])) * 1000, 1), round(float(max(times[name])) * 1000, 1)],
                       peak_mb=round(peaks[name], 1))
            for name in fns}


def time_inference(models: Dict[str, nn.Module], samples: List[dict], repeats: int, warmup: int,
                   device: str) -> Dict[str, Dict[str, float]]:
    """Preprocessing + forward of one scan at a time (batch 1), cycling through ``samples``; the models
    take turns (see :func:`timed_in_turn`)."""
    def runner(model: nn.Module) -> Callable[[int], None]:
        model.to(device).eval()
        return lambda i: model.test_step(pseudo_collate([samples[i % len(samples)]]))

    with torch.no_grad():
        return timed_in_turn({name: runner(model) for name, model in models.items()}, warmup, repeats, device)


def compare_model(name: str, backend: str = 'spconv') -> nn.Module:
    """mmdet3d's model ``name`` on sparse ``backend`` ('spconv' or 'torchsparse'), fed by our device-agnostic
    'minkunet' voxelisation."""
    if name not in COMPARE_MODELS:
        raise ValueError(f'unknown comparison model {name!r}; choose from {sorted(COMPARE_MODELS)}')
    import mmdet3d
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet3d.__file__), '.mim', 'configs', COMPARE_MODELS[name]))
    cfg.model.backbone.sparseconv_backend = backend
    cfg.model.data_preprocessor = dict(type='PointImageDataPreprocessor', voxel=True, voxel_type='minkunet',
                                       batch_first=backend == 'spconv',  # torchsparse: [x, y, z, batch]
                                       voxel_layer=cfg.model.data_preprocessor.voxel_layer)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import MODELS
    return MODELS.build(cfg.model)


def full_size_samples(config: str, data_root: str, scans: int) -> List[dict]:
    """Up to ``scans`` test samples of ``config``'s pipeline on full-size synthetic frames (made if missing)."""
    ensure_full_size_frames(data_root, frames=max(scans, 1))
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS
    dataset_cfg = Config.fromfile(config).test_dataloader.dataset
    dataset_cfg.update(data_root=data_root, ann_file='semantickitti_infos_train.pkl', test_mode=True)
    dataset = DATASETS.build(dataset_cfg)
    return [dataset[i] for i in range(min(scans, len(dataset)))]


def latency_report(config: str, compare: Optional[str] = 'minkunet_w32', scans: int = 4, repeats: int = 10,
                   warmup: int = 2, data_root: str = 'data/benchmark_kitti', backend: Optional[str] = None,
                   compare_backends: Sequence[str] = ('spconv',)) -> Dict:
    """Student inference latency on full-size synthetic scans, beside ``compare`` on the same scans.

    An SPVCNNLite student is timed in both grid modes (``grids``: ms, range, peak memory and speedup of each);
    ``student_ms`` / ``speedup`` are those of the config's own mode. ``backend`` sets the student's sparse backend
    (default: the config's); ``compare`` runs on each of ``compare_backends`` (``compare_by_backend``), the
    speedups against the first."""
    samples = full_size_samples(config, data_root, scans)
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    overrides = dict(sparse_backend=backend) if backend else {}
    models = dict(student=build_model(config, **overrides))
    own_grid = getattr(models['student'].backbone, 'grid', None)
    other_grids = [g for g in GRIDS if g != own_grid] if own_grid else []
    models.update({f'student_{grid}': build_model(config, grid=grid, **overrides) for grid in other_grids})
    if compare:
        for name in compare_backends:
            models[f'compare_{name}'] = compare_model(compare, name)
        models['compare'] = models.pop(f'compare_{compare_backends[0]}')
    timing = time_inference(models, samples, repeats, warmup, device)
    result = dict(student_backend=models['student'].backbone.backend.name, student_ms=timing['student']['ms'],
                  student_range_ms=timing['student']['range_ms'], student_peak_mb=timing['student']['peak_mb'])
    if compare:
        result.update(compare=compare, compare_ms=timing['compare']['ms'],
                      compare_range_ms=timing['compare']['range_ms'], compare_peak_mb=timing['compare']['peak_mb'],
                      speedup=round(timing['compare']['ms'] / timing['student']['ms'], 2))
        result['compare_by_backend'] = {
            name: dict(t, speedup=round(t['ms'] / timing['student']['ms'], 2)) for name, t in
            ((n, timing['compare' if i == 0 else f'compare_{n}']) for i, n in enumerate(compare_backends))}
    if own_grid:
        result['grids'] = {}
        for grid in [own_grid] + other_grids:
            t = timing['student' if grid == own_grid else f'student_{grid}']
            result['grids'][grid] = dict(t, **({'speedup': round(timing['compare']['ms'] / t['ms'], 2)}
                                               if compare else {}))
    result.update(points_per_scan=int(np.mean([len(s['inputs']['points']) for s in samples])), scans=len(samples),
                  repeats=repeats, device=device, threads=torch.get_num_threads(), machine=machine_description(),
                  config=config)
    return result
