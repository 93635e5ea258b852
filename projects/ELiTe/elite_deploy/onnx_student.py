"""An exported student (``.onnx``) as a function from a scan's points to per-point logits: onnxruntime and numpy.

The file carries what running it needs besides the graph, as JSON in its metadata (key ``elite_student``): the
voxel grid and stage scales (for :func:`~.student_plan.student_plan`), the class names, the train id -> raw
SemanticKITTI id table and the palette.

onnxruntime (1.32) spreads a ScatterND's updates over its intra-op threads without guarding repeated rows, which
gives wrong sums; each op here runs on one thread and independent ops run side by side (``ORT_PARALLEL``), so
the results are exact and the cores are still used.
"""
import json
import os
from typing import Dict, Optional

import numpy as np

from .student_plan import student_plan

METADATA_KEY = 'elite_student'


class ExportedModelError(ValueError):
    """The file is not an exported ELiTe student (or cannot be read)."""


class OnnxStudent:
    """``OnnxStudent(path)(points (N, >= 4) float32) -> (N, num_classes) float32 logits``."""

    def __init__(self, path: str, threads: Optional[int] = None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as err:
            raise ImportError('running an exported .onnx student needs onnxruntime: pip install onnxruntime') from err
        if not os.path.isfile(path):
            raise ExportedModelError(f'{path}: no such file')
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1  # see the module: ScatterND is not exact on several threads
        options.inter_op_num_threads = threads or len(os.sched_getaffinity(0))
        options.execution_mode = ort.ExecutionMode.ORT_PARALLEL
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(path, options, providers=['CPUExecutionProvider'])
        except Exception as err:  # onnxruntime raises its own exception types for unreadable models
            raise ExportedModelError(
                f'{path}: not a readable ONNX model ({err}); export one with '
                'tools/export_student.py CHECKPOINT OUT.onnx --format onnx --config CONFIG') from err
        metadata = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise ExportedModelError(f'{path}: an ONNX model without ELiTe metadata ({METADATA_KEY!r}); export the '
                                     'student with tools/export_student.py ... --format onnx')
        self.meta: Dict = json.loads(metadata[METADATA_KEY])
        self.input_names = [i.name for i in self.session.get_inputs()]

    @property
    def class_names(self):
        return self.meta['class_names']

    def plan(self, points: np.ndarray) -> Dict[str, np.ndarray]:
        return student_plan(points, self.meta['grid'])

    def __call__(self, points: np.ndarray) -> np.ndarray:
        plan = self.plan(points)
        return self.session.run(None, {name: plan[name] for name in self.input_names})[0]

    def to_raw(self, classes: np.ndarray) -> np.ndarray:
        """SemanticKITTI raw label ids of train ids (the ``learning_map_inv`` stored at export)."""
        return np.asarray(self.meta['train_to_raw'], dtype=np.uint32)[classes]
