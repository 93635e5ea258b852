"""The deployable side of ELiTe: reading scans and labelling them, without the training stack (no mmdet3d,
mmcv or sparse-convolution library is imported here)."""
from .infer import InferenceSummary, run_inference
from .scan_readers import SCAN_SUFFIXES, Scan, ScanReadError, find_scans, read_scan

__all__ = ['InferenceSummary', 'run_inference', 'SCAN_SUFFIXES', 'Scan', 'ScanReadError', 'find_scans', 'read_scan']
