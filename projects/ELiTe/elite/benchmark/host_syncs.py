"""Count the operations that make the host wait for a GPU, on any device (a CPU run shows a GPU run's count).

On CUDA, reading a tensor's value on the host (``item()``, ``int()``, ``bool()``, ``tolist()``) and every op whose
output size depends on the data (``nonzero``, boolean indexing, ``unique``, ``bincount``, ``masked_select``,
``repeat_interleave`` without an output size) stop the host until the GPU catches up. The same aten ops run on the
CPU, so counting them in a CPU run counts the waits a GPU run would have.
"""
from collections import Counter
from typing import Callable, Dict, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode

SYNCING_OPS = ('_local_scalar_dense', 'nonzero', '_unique2', 'unique_dim', 'unique_consecutive', 'bincount',
               'masked_select', 'repeat_interleave', 'item')


class _SyncCounter(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.counts: Counter = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SYNCING_OPS:
            self.counts[name] += 1
        elif name == 'index' and any(isinstance(i, torch.Tensor) and i.dtype == torch.bool
                                     for i in (args[1] if len(args) > 1 else [])):
            self.counts['index (boolean)'] += 1
        return func(*args, **(kwargs or {}))


def count_host_syncs(fn: Callable[[], object]) -> Tuple[int, Dict[str, int]]:
    """Run ``fn()`` and return (number of host-syncing ops, per op name)."""
    counter = _SyncCounter()
    with counter:
        fn()
    return sum(counter.counts.values()), dict(counter.counts)


def student_host_syncs(config: str, points: int = 120000) -> Dict:
    """Host-syncing ops of the config's model at inference (preprocessing + forward, batch 1) on a synthetic scan
    of ``points`` points, and of the student's training forward + backward on a batch of two such scans."""
    import numpy as np
    from mmdet3d.structures import Det3DDataSample, PointData

    from ..datasets.synthetic import lidar_scan, make_scene
    from ..models.data_preprocessor import preprocess_scan
    from .model_stats import build_model
    model = build_model(config)
    rng = np.random.default_rng(0)
    scene = make_scene(rng, 160.0)
    scans = [torch.from_numpy(lidar_scan(scene, x, points, rng)[0]) for x in (40.0, 60.0)]

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            model.decode_head(model.extract_feat(preprocess_scan(model.data_preprocessor, scans[0])))

    def train() -> None:
        model.train()
        samples = []
        for scan in scans:
            sample = Det3DDataSample()
            sample.gt_pts_seg = PointData(pts_semantic_mask=torch.from_numpy(rng.integers(0, 19, len(scan))))
            samples.append(sample)
        data = model.data_preprocessor(dict(inputs=dict(points=scans), data_samples=samples), training=True)
        logits = model.decode_head(model.extract_feat(data['inputs']))
        logits.float().logsumexp(1).mean().backward()
    infer()  # warm-up (first-call initialisation)
    inference, inference_ops = count_host_syncs(infer)
    training, training_ops = count_host_syncs(train)
    return dict(inference=inference, inference_ops=inference_ops, training_forward_backward=training,
                training_ops=training_ops, points=points, config=config)
