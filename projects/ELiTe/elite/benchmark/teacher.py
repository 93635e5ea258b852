"""Teacher cost with and without token cut, and where a distillation training step spends its time."""
import time
from typing import Dict

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from .data_pipeline import ensure_full_size_frames
from .machine import machine_description
from .model_stats import build_model, timed_in_turn


def teacher_report(config: str, crop_hw=(320, 1024), warmup: int = 1, repeats: int = 3) -> Dict:
    """Teacher forward + backward on one crop (the teacher pads it to 1024 x 1024 itself without the token cut),
    with token cut and without, taking turns run by run (median and range of ``repeats`` each)."""
    model = build_model(config)
    teacher = model.teacher
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    teacher.to(device).train()
    img = torch.randn(1, 3, *crop_hw, device=device)

    def step(cut: bool):
        def run(_: int) -> None:
            teacher.token_cut = cut
            outputs = teacher(img)
            sum(o.float().mean() for o in outputs).backward()
        return run

    results = timed_in_turn({'cut': step(True), 'full': step(False)}, warmup, repeats, device)
    return dict(cut_ms=results['cut']['ms'], full_ms=results['full']['ms'], cut_range_ms=results['cut']['range_ms'],
                full_range_ms=results['full']['range_ms'],
                speedup=round(results['full']['ms'] / results['cut']['ms'], 2),
                cut_peak_mb=results['cut']['peak_mb'], full_peak_mb=results['full']['peak_mb'],
                crop=list(crop_hw), variant=teacher.variant, tuning=teacher.tuning, device=device,
                threads=torch.get_num_threads(), machine=machine_description(), config=config)


def training_step_split(config: str, data_root: str = 'data/benchmark_kitti', repeats: int = 3) -> Dict:
    """Milliseconds of one distillation training step (batch 1, full-size frame): forward of the student,
    the teacher and the decoders with their losses, then the whole backward (median and [min, max] of
    ``repeats`` steps after one warm-up step)."""
    ensure_full_size_frames(data_root)
    init_default_scope('mmdet3d')
    from mmdet3d.registry import DATASETS
    cfg = Config.fromfile(config)
    cfg.train_dataloader.dataset.data_root = data_root
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    model = build_model(config).train()
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    model.to(device)
    batch = model.data_preprocessor(pseudo_collate([dataset[0]]), training=True)
    inputs, samples = batch['inputs'], batch['data_samples']

    def clock() -> float:
        if device == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter()

    splits = []
    for _ in range(repeats + 1):
        t0 = clock()
        stage_features = model.extract_feat(inputs)
        model.decode_head(stage_features)
        t1 = clock()
        model.teacher(inputs['imgs'])
        t2 = clock()
        losses = model.loss(inputs, samples)  # runs all three; the decoders' share is what remains
        t3 = clock()
        sum(losses.values()).backward()
        t4 = clock()
        model.zero_grad()
        student, teacher = t1 - t0, t2 - t1
        splits.append(dict(student_fwd_ms=student, teacher_fwd_ms=teacher,
                           decoders_and_losses_fwd_ms=max(0.0, (t3 - t2) - student - teacher),
                           backward_ms=t4 - t3, step_ms=t4 - t2))
    result = {k: round(float(np.median([s[k] for s in splits[1:]])) * 1000, 1) for k in splits[0]}
    result.update({f'{k}_range': [round(min(s[k] for s in splits[1:]) * 1000, 1),
                                  round(max(s[k] for s in splits[1:]) * 1000, 1)] for k in splits[0]})
    result.update(points=len(inputs['points'][0]), device=device, machine=machine_description(), config=config)
    return result
