"""Label scans with a trained student: read each scan, predict, write SemanticKITTI ``.label`` files.

The loop behind ``tools/infer.py``; what predicts is passed in (``predict``: (N, 4) float32 points -> (N, C)
logits), so the same loop serves a checkpoint run by the training stack and, later, an exported model.
"""
import os
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Sequence

import numpy as np

from .scan_readers import ScanReadError, read_scan, scan_name


@dataclass
class InferenceSummary:
    written: List[str] = field(default_factory=list)  # output names, one per labelled scan
    skipped: List[str] = field(default_factory=list)  # the error messages of the scans left out
    intensity_filled: List[str] = field(default_factory=list)  # scans without intensity (zeros used)

    def __str__(self) -> str:
        text = f'{len(self.written)} scan(s) labelled'
        if self.intensity_filled:
            text += f', {len(self.intensity_filled)} without intensity (zeros used)'
        if self.skipped:
            text += f', {len(self.skipped)} skipped (each named above)'
        return text


def write_raw_labels(path: str, raw_ids: np.ndarray) -> None:
    """SemanticKITTI ``.label``: one uint32 per point (semantic id in the low 16 bits, instance 0)."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    np.asarray(raw_ids, dtype=np.uint32).tofile(tmp)
    os.replace(tmp, path)


def run_inference(predict: Callable[[np.ndarray], np.ndarray], scans: Sequence[str], out_dir: str,
                  to_raw: Callable[[np.ndarray], np.ndarray], on_error: str = 'stop', save_classes: bool = False,
                  save_probabilities: bool = False,
                  draw: Optional[Callable[[np.ndarray, np.ndarray], np.ndarray]] = None,
                  log: Callable[[str], None] = print, progress: bool = True) -> InferenceSummary:
    """Label every scan of ``scans`` into ``out_dir``.

    Writes ``<name>.label`` (uint32 raw ids, ``to_raw`` of the predicted classes), and optionally
    ``<name>.npy`` (class indices, uint8), ``<name>_probs.npy`` (N, C) float16 softmax and ``<name>.png``
    (``draw(xyz, classes)``, an RGB picture). ``on_error='stop'`` raises the first :class:`ScanReadError`;
    ``'skip'`` logs it and goes on.
    """
    if on_error not in ('stop', 'skip'):
        raise ValueError(f"on_error must be 'stop' or 'skip', got {on_error!r}")
    from tqdm import tqdm
    summary, taken = InferenceSummary(), set()
    for path in tqdm(scans, desc='labelling', unit='scan', disable=not progress):
        try:
            scan = read_scan(path)
        except ScanReadError as err:
            if on_error == 'stop':
                raise
            log(f'skipped: {err}')
            summary.skipped.append(str(err))
            continue
        if scan.intensity_filled:
            log(f'{path}: no intensity in the file: zeros used')
            summary.intensity_filled.append(path)
        logits = np.asarray(predict(scan.points))
        classes = logits.argmax(axis=1)
        name = scan_name(path, taken)
        taken.add(name)
        write_raw_labels(os.path.join(out_dir, f'{name}.label'), to_raw(classes))
        if save_classes:
            np.save(os.path.join(out_dir, f'{name}.npy'), classes.astype(np.uint8))
        if save_probabilities:
            shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
            np.save(os.path.join(out_dir, f'{name}_probs.npy'), (shifted / shifted.sum(1, keepdims=True)).astype(
                np.float16))
        if draw is not None:
            import cv2
            cv2.imwrite(os.path.join(out_dir, f'{name}.png'),
                        np.ascontiguousarray(draw(scan.points[:, :3], classes)[:, :, ::-1]))
        summary.written.append(name)
    return summary
