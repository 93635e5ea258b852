"""Export a trained student to ONNX: a graph that runs with onnxruntime and numpy alone (``elite_deploy``).

The student is rebuilt on the kernel-map sparse backend (same weights, same keys), its index work is left to the
numpy plan that ships in ``elite_deploy`` and the rest is traced (:mod:`elite.models.student_graph`). The grid,
the stage scales and the label tables go into the file's metadata, so the runner needs nothing else. The export
is checked before it is written: onnxruntime's logits on a generated scan must match the PyTorch student's.
"""
import json
import os
import warnings
from typing import Dict, Sequence

import numpy as np
import torch
from torch import nn

from ..datasets.semantickitti_labels import CLASS_NAMES, LEARNING_MAP_INV, PALETTE
from ..models.student_graph import plan_inputs, student_graph_inputs
from .student_predictor import load_student_model

OPSET = 18
METADATA_KEY = 'elite_student'  # read by elite_deploy.onnx_student


def example_scan(point_cloud_range: Sequence[float], num_points: int = 6000, seed: int = 0) -> np.ndarray:
    """A small scan inside the range whose voxels have neighbours at every offset (a tracing input)."""
    rng = np.random.default_rng(seed)
    low, high = np.asarray(point_cloud_range[:3]), np.asarray(point_cloud_range[3:])
    centre, size = (low + high) / 2, np.minimum(high - low, 8.0)
    xyz = centre + (rng.random((num_points, 3)) - 0.5) * size * np.array([1.0, 1.0, 0.25])
    return np.concatenate([xyz, rng.random((num_points, 1))], 1).astype(np.float32)


def student_metadata(model: nn.Module, voxels: Dict) -> Dict:
    """What the runner needs besides the graph: the grid of ``voxels`` (the data preprocessor's output), the stage
    scales and the label tables."""
    layer = model.data_preprocessor.voxel_layer
    grid = dict(point_cloud_range=[float(v) for v in layer.point_cloud_range],
                voxel_size=[float(v) for v in layer.voxel_size], spatial_shape=list(voxels['spatial_shape']),
                scales=list(model.backbone.scales), in_channels=model.backbone.in_channels)
    return dict(grid=grid, class_names=list(CLASS_NAMES), palette=[list(c) for c in PALETTE],
                train_to_raw=[LEARNING_MAP_INV[i] for i in range(len(CLASS_NAMES))], opset=OPSET)


def export_onnx(config: str, checkpoint: str, out: str, check_points: int = 6000) -> Dict:
    """Write the student of ``checkpoint`` (``config``'s model) to ``out``; returns the metadata and the check's
    largest logit difference (``max_abs_diff``)."""
    from mmengine.config import Config
    backbone_type = Config.fromfile(config).model.backbone.type
    if backbone_type != 'SPVCNNLite':
        raise ValueError(f'{config}: ONNX export covers the SPVCNNLite student, not {backbone_type}')
    model = load_student_model(config, checkpoint, sparse_backend='kernel_map')
    layer = model.data_preprocessor.voxel_layer
    points = torch.from_numpy(example_scan(layer.point_cloud_range, check_points))
    names = plan_inputs(len(model.backbone.stages))
    with torch.no_grad():
        graph, voxels, inputs = student_graph_inputs(model, points)
        meta = student_metadata(model, voxels)
        expected = graph(*inputs).numpy()
        os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
        tmp = out + '.tmp'
        with warnings.catch_warnings():  # the tracer's notes on the custom ScatterND op's eager body
            warnings.simplefilter('ignore', torch.jit.TracerWarning)
            torch.onnx.export(graph, inputs, tmp, input_names=names, output_names=['logits'],
                              opset_version=OPSET, dynamo=False,
                              dynamic_axes={n: {0: n.replace('.', '_') + '_rows'} for n in names}
                              | {'logits': {0: 'points_rows'}})
    import onnx
    onnx_model = onnx.load(tmp)
    meta['exported_from'] = os.path.abspath(checkpoint)
    onnx.helper.set_model_props(onnx_model, {METADATA_KEY: json.dumps(meta)})
    onnx.save(onnx_model, tmp)
    from elite_deploy.onnx_student import OnnxStudent
    logits = OnnxStudent(tmp)(points.numpy())
    meta['max_abs_diff'] = float(np.abs(logits - expected).max())
    if not np.allclose(logits, expected, rtol=1e-3, atol=1e-4):
        raise RuntimeError(f'the exported graph disagrees with the PyTorch student (max |diff| '
                           f'{meta["max_abs_diff"]:.3g}); {tmp} kept for inspection')
    os.replace(tmp, out)
    return meta
