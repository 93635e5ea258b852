"""The deployable side of ELiTe: reading scans, labelling them, and running an exported student (its numpy plan
and the onnxruntime runner, ``onnx_student``), without the training stack: nothing here imports torch, mmdet3d,
mmcv, a sparse-convolution library or ``elite``."""
from .infer import InferenceSummary, run_inference
from .scan_readers import SCAN_SUFFIXES, Scan, ScanReadError, find_scans, read_scan

__all__ = ['InferenceSummary', 'run_inference', 'SCAN_SUFFIXES', 'Scan', 'ScanReadError', 'find_scans', 'read_scan']
