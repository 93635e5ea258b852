"""Latency of the deployed student (``tools/benchmark.py latency CONFIG --deployed``).

In one run, taking turns on the same full-size scans: the exported student as ``tools/infer.py model.onnx`` runs
it (numpy plan + onnxruntime), the plan alone, the config's student in the training stack (spconv) and mmdet3d's
MinkUNet. Beside the times: the student's arithmetic on the first scan (multiply-adds of the matrix products
actually performed: the active kernel pairs of every convolution and the point layers, counted by torch's
``FlopCounterMode`` on the exported graph's PyTorch twin) and the rate the deployed path achieves with it.
"""
import os
import tempfile
from typing import Dict, Optional

import numpy as np
import torch
from mmengine.dataset import pseudo_collate
from mmengine.runner.checkpoint import get_state_dict, save_checkpoint, weights_to_cpu
from torch.utils.flop_counter import FlopCounterMode

from ..engine.student_onnx_export import export_onnx
from ..engine.student_predictor import load_student_model
from ..models.student_graph import student_graph_inputs
from .machine import machine_description
from .model_stats import build_model, compare_model, full_size_samples, timed_in_turn


def student_multiply_adds(model: torch.nn.Module, points: np.ndarray) -> Dict[str, float]:
    """Multiply-adds of the student on one scan: all matrix products, and those of the sparse convolutions."""
    with torch.no_grad():
        graph, _, inputs = student_graph_inputs(model, torch.from_numpy(points))
        with FlopCounterMode(display=False) as counter:
            graph(*inputs)
    total = counter.get_total_flops() / 2
    conv = sum(flops for module, counts in counter.get_flop_counts().items() if module.endswith(('conv1', 'conv2'))
               for flops in counts.values()) / 2
    return dict(multiply_adds=total, conv_multiply_adds=conv, point_layer_multiply_adds=total - conv)


def deployed_latency_report(config: str, compare: Optional[str] = 'minkunet_w32', scans: int = 4, repeats: int = 10,
                            warmup: int = 2, data_root: str = 'data/benchmark_kitti') -> Dict:
    from elite_deploy.onnx_student import OnnxStudent
    samples = full_size_samples(config, data_root, scans)
    points = [s['inputs']['points'].numpy() for s in samples]
    torch.manual_seed(0)
    student = build_model(config).eval()
    with tempfile.TemporaryDirectory() as tmp:
        checkpoint, exported = os.path.join(tmp, 'student.pth'), os.path.join(tmp, 'student.onnx')
        save_checkpoint(dict(state_dict=weights_to_cpu(get_state_dict(student)), meta={}), checkpoint)
        export_onnx(config, checkpoint, exported)
        deployed = OnnxStudent(exported)
        arithmetic = student_multiply_adds(load_student_model(config, checkpoint, sparse_backend='kernel_map'),
                                           points[0])
    fns = dict(deployed=lambda i: deployed(points[i % len(points)]),
               deployed_plan=lambda i: deployed.plan(points[i % len(points)]),
               student=lambda i: student.test_step(pseudo_collate([samples[i % len(samples)]])))
    if compare:
        other = compare_model(compare).eval()
        fns['compare'] = lambda i: other.test_step(pseudo_collate([samples[i % len(samples)]]))
    with torch.no_grad():
        timing = timed_in_turn(fns, warmup, repeats, 'cpu')
    result = dict(deployed_ms=timing['deployed']['ms'], deployed_range_ms=timing['deployed']['range_ms'],
                  deployed_peak_mb=timing['deployed']['peak_mb'], deployed_plan_ms=timing['deployed_plan']['ms'],
                  deployed_plan_range_ms=timing['deployed_plan']['range_ms'],
                  student_backend=student.backbone.backend.name, student_ms=timing['student']['ms'],
                  student_range_ms=timing['student']['range_ms'], student_peak_mb=timing['student']['peak_mb'],
                  deployed_speedup_vs_student=round(timing['student']['ms'] / timing['deployed']['ms'], 2))
    if compare:
        result.update(compare=compare, compare_ms=timing['compare']['ms'],
                      compare_range_ms=timing['compare']['range_ms'], compare_peak_mb=timing['compare']['peak_mb'],
                      deployed_speedup_vs_compare=round(timing['compare']['ms'] / timing['deployed']['ms'], 2))
    gmacs = {k.replace('multiply_adds', 'gmacs'): round(v / 1e9, 3) for k, v in arithmetic.items()}
    result.update(gmacs, achieved_gflops=round(2 * arithmetic['multiply_adds'] / 1e6 / timing['deployed']['ms'], 1),
                  points_per_scan=int(np.mean([len(p) for p in points])), scans=len(points), repeats=repeats,
                  threads=torch.get_num_threads(), machine=machine_description(), config=config)
    return result
