"""The GPU paths, checked on a machine with a CUDA GPU: one line per check, PASS / FAIL / SKIP with what was seen.

CI has no GPU: there the same code paths are checked by proxies (float16 CPU autocast, gloo ranks, the torchsparse
2.1 call contract). This module runs the real thing for a maintainer, through ``tools/gpu_acceptance.py``:

- ``train``: fp32 and AMP (``ELiTeAmpOptimWrapper``, mmengine's ``AmpOptimWrapper`` with the plugin's step)
  training steps of the main configs on spconv and, if installed, torchsparse: finite losses, every trainable
  weight with a gradient and changed, float16 under AMP;
- ``ddp``: ``tools/dist_train.sh`` with 2 processes (NCCL on 2 GPUs; with one GPU, 2 processes sharing it over
  gloo, since NCCL refuses two ranks on one device);
- ``devices``: the student's logits on the GPU vs the CPU on a full scan (<= 1e-3 relative);
- ``backends``: spconv vs torchsparse on the GPU, same weights (<= 1e-3 relative);
- ``plg``: ``tools/generate_pseudo_labels.py --device cuda`` on one full-size frame (random-weight SAM vit_b);
- ``timing``: the student's inference and the training steps' milliseconds.
"""
import importlib.util
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import torch

from ..datasets.synthetic import ensure_synthetic_dataset
from .train_steps import build_for_steps, run_train_steps

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
TRAIN_CONFIGS = ('configs/spvcnnlite_demo.py', 'configs/elite_demo.py', 'configs/m2skd_demo.py',
                 'configs/elite_m2skd_demo.py')
CHECKS = ('train', 'ddp', 'devices', 'backends', 'plg', 'timing')


@dataclass
class Check:
    name: str
    status: str  # PASS, FAIL, SKIP, INFO
    detail: str

    def line(self) -> str:
        return f'{self.status:4s}  {self.name}: {self.detail}'


def installed_backends() -> List[str]:
    return [name for name in ('spconv', 'torchsparse') if importlib.util.find_spec(name) is not None]


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """max |a - b| / max |b|."""
    return float((a.float() - b.float()).abs().max() / b.float().abs().max().clamp(min=1e-12))


def train_checks(data_root: str, device: str, configs: Sequence[str] = TRAIN_CONFIGS, steps: int = 4
                 ) -> List[Check]:
    from ..engine.optim_wrapper import ELiTeAmpOptimWrapper, ELiTeOptimWrapper
    checks = []
    for config in configs:
        for backend in installed_backends():
            for amp in ((False, True) if device == 'cuda' else (False,)):  # mmengine's AMP wrapper needs CUDA
                name = f'train {os.path.basename(config)} {backend} {"amp" if amp else "fp32"}'
                try:
                    torch.manual_seed(0)
                    built = build_for_steps(os.path.join(REPO, config), data_root, backend)
                    if built is None:
                        continue
                    cfg, model, dataset = built
                    model.to(device)
                    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01,
                                                momentum=0.9)
                    clip = cfg.optim_wrapper.get('clip_grad')
                    wrapper = (ELiTeAmpOptimWrapper(optimizer=optimizer, clip_grad=clip, loss_scale='dynamic') if amp
                               else ELiTeOptimWrapper(optimizer=optimizer, clip_grad=clip))
                    report = run_train_steps(model, dataset, wrapper, steps=steps)
                except Exception as err:  # a check reports, it does not stop the others
                    checks.append(Check(name, 'FAIL', f'{type(err).__name__}: {err}'))
                    continue
                problems = []
                if not report.finite:
                    problems.append(f'non-finite losses {report.losses[-1]}')
                if report.no_grad:
                    problems.append(f'{len(report.no_grad)} parameters without a gradient ({report.no_grad[0]})')
                if report.frozen_weights:
                    problems.append(f'{len(report.frozen_weights)} weights never changed ({report.frozen_weights[0]})')
                if amp and not report.half_precision:
                    problems.append('the head did not run in float16')
                detail = (f'{steps} steps, median {np.median(report.step_ms[1:]):.0f} ms/step after the first, '
                          f'loss {report.losses[-1]["loss"]:.3f}'
                          + (f', loss scale {report.loss_scale:g}' if amp else ''))
                checks.append(Check(name, 'FAIL' if problems else 'PASS', '; '.join(problems) or detail))
    return checks


def ddp_check(data_root: str, work_dir: str) -> Check:
    gpus = torch.cuda.device_count()
    options = [f'{loader}.dataset.data_root={data_root}' for loader in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        'train_cfg.max_epochs=2', 'train_cfg.val_interval=3', 'train_dataloader.batch_size=1',
        'default_hooks.checkpoint.interval=2', 'param_scheduler=[]']
    name = 'ddp 2 processes, NCCL' if gpus >= 2 else 'ddp 2 processes on 1 GPU, gloo (NCCL needs 2 GPUs)'
    if gpus < 2:
        options.append('env_cfg.dist_cfg.backend=gloo')
    cmd = ['bash', os.path.join(REPO, 'tools/dist_train.sh'), os.path.join(REPO, 'configs/spvcnnlite_demo.py'), '2',
           '--work-dir', work_dir, '--cfg-options', *options]
    env = dict(os.environ, PYTHON=sys.executable, PORT=str(29500 + os.getpid() % 1000))
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    written = os.path.isfile(os.path.join(work_dir, 'epoch_2.pth'))
    if result.returncode or not written:
        return Check(name, 'FAIL', f'exit {result.returncode}, checkpoint {"" if written else "not "}written: '
                                   + (result.stderr or result.stdout)[-800:].replace('\n', ' | '))
    return Check(name, 'PASS', 'both ranks trained 2 epochs, epoch_2.pth written')


def full_scan(kitti_frame: Optional[str]) -> torch.Tensor:
    """The real KITTI frame's scan if given, else a 120,000-point synthetic scan."""
    if kitti_frame:
        from ..datasets.kitti_files import read_scan
        path = os.path.join(kitti_frame, 'velodyne', '000000.bin') if os.path.isdir(kitti_frame) else kitti_frame
        return torch.from_numpy(read_scan(path))
    from ..datasets.synthetic import lidar_scan, make_scene
    rng = np.random.default_rng(0)
    return torch.from_numpy(lidar_scan(make_scene(rng, 160.0), 40.0, 120000, rng)[0])


def student_logits(model, points: torch.Tensor, device: str) -> torch.Tensor:
    from ..models.data_preprocessor import preprocess_scan
    model.to(device).eval()
    with torch.no_grad():
        return model.decode_head(model.extract_feat(preprocess_scan(model.data_preprocessor, points.to(device)))).cpu()


def build_student(backend: str, seed: int = 0):
    from .model_stats import build_model
    torch.manual_seed(seed)
    return build_model(os.path.join(REPO, 'configs/spvcnnlite_semantickitti.py'), sparse_backend=backend)


def compare_logits(name: str, reference: torch.Tensor, other: torch.Tensor, tolerance: float = 1e-3) -> Check:
    rel = relative_difference(other, reference)
    agree = float((other.argmax(1) == reference.argmax(1)).float().mean())
    detail = f'{len(reference)} points, max relative logit difference {rel:.1e}, argmax agreement {100 * agree:.3f} %'
    return Check(name, 'PASS' if rel <= tolerance else 'FAIL', detail)


def device_check(kitti_frame: Optional[str]) -> Check:
    points = full_scan(kitti_frame)
    model = build_student('spconv')
    cpu = student_logits(model, points, 'cpu')
    return compare_logits('student GPU vs CPU (spconv)', cpu, student_logits(model, points, 'cuda'))


def backend_check(kitti_frame: Optional[str]) -> Check:
    if 'torchsparse' not in installed_backends():
        return Check('spconv vs torchsparse on the GPU', 'SKIP', 'torchsparse is not installed')
    points = full_scan(kitti_frame)
    spconv_model, ts_model = build_student('spconv'), build_student('torchsparse')
    ts_model.load_state_dict(spconv_model.state_dict())
    return compare_logits('spconv vs torchsparse on the GPU', student_logits(spconv_model, points, 'cuda'),
                          student_logits(ts_model, points, 'cuda'))


def plg_check(work_dir: str) -> Check:
    from ..pseudo_labels.sam_model import build_sam
    root = os.path.join(work_dir, 'plg')
    ensure_synthetic_dataset(root, ('00',), frames=1, num_points=120000)
    checkpoint = os.path.join(work_dir, 'sam_vit_b_random.pth')
    torch.save(build_sam('vit_b').state_dict(), checkpoint)
    cmd = [sys.executable, os.path.join(REPO, 'tools/generate_pseudo_labels.py'), '--root', root, '--checkpoint',
           checkpoint, '--model-type', 'vit_b', '--device', 'cuda', '--no-progress']
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=900)
    written = os.path.isfile(os.path.join(root, 'sequences', '00', 'image_2_pseudo', 'semantic', '000000.png'))
    status = 'PASS' if result.returncode == 0 and written else 'FAIL'
    return Check('SAM-PLG --device cuda, one frame (random vit_b)', status,
                 (result.stdout or result.stderr).strip()[-400:].replace('\n', ' | '))


def timing_check(work_dir: str) -> Check:
    from .model_stats import latency_report
    report = latency_report(os.path.join(REPO, 'configs/spvcnnlite_semantickitti.py'), compare=None, scans=2,
                            repeats=10, data_root=os.path.join(work_dir, 'timing'))
    return Check('student inference on the GPU', 'INFO',
                 f'{report["student_ms"]} ms per {report["points_per_scan"]}-point scan (median, range '
                 f'{report["student_range_ms"]}), peak {report["student_peak_mb"]} MB, {report["student_backend"]}')


def environment() -> Check:
    versions = {name: getattr(__import__(name), '__version__', '?') for name in installed_backends()}
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'
    return Check('environment', 'INFO', f'torch {torch.__version__} (CUDA {torch.version.cuda}), GPU {gpu} x '
                                        f'{torch.cuda.device_count()}, ' + ', '.join(f'{k} {v}' for k, v in
                                                                                      versions.items()))


def run_checks(checks: Sequence[str] = CHECKS, device: str = 'cuda', kitti_frame: Optional[str] = None,
               configs: Sequence[str] = TRAIN_CONFIGS, work_dir: Optional[str] = None,
               emit: Callable[[str], None] = print) -> List[Check]:
    """Run ``checks`` (names of :data:`CHECKS`), printing each line as it completes. ``device='cpu'`` runs the
    device-independent checks (``train``) on the CPU, to test this script itself."""
    unknown = sorted(set(checks) - set(CHECKS))
    if unknown:
        raise ValueError(f'unknown checks {unknown}; choose from {list(CHECKS)}')
    results: List[Check] = []

    def add(found) -> None:
        for check in found if isinstance(found, list) else [found]:
            results.append(check)
            emit(check.line())
    add(environment())
    with tempfile.TemporaryDirectory(dir=work_dir) as tmp:
        data_root = os.path.join(tmp, 'synthetic')
        ensure_synthetic_dataset(data_root, ('00', '08', '11'), frames=2, num_points=20000)
        runners: Dict[str, Callable[[], object]] = dict(
            train=lambda: train_checks(data_root, device, configs),
            ddp=lambda: ddp_check(data_root, os.path.join(tmp, 'ddp')),
            devices=lambda: device_check(kitti_frame),
            backends=lambda: backend_check(kitti_frame),
            plg=lambda: plg_check(tmp),
            timing=lambda: timing_check(tmp))
        for name in checks:
            if device != 'cuda' and name != 'train':
                add(Check(name, 'SKIP', 'needs CUDA'))
                continue
            try:
                add(runners[name]())
            except Exception as err:
                add(Check(name, 'FAIL', f'{type(err).__name__}: {err}'))
    return results
