"""ELiTe plugin for MMDetection3D: importing it registers every component, and a weights-only loader for
mmengine's own checkpoints under torch >= 2.6 (``engine/checkpoint_types.py``, through mmengine's
``CheckpointLoader.register_scheme``).

Fixes for third-party bugs are applied where they are needed: spconv's and torchsparse's CPU fixes when those
backends run on a CPU (``models/sparse/``), mmdet3d's image-flipping ``RandomFlip3D`` by a subclass
(``RandomFlip3DPointsOnly``).
"""
import warnings

# mmengine and mmcv import pkg_resources, which setuptools deprecates with a warning on every run.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401  (registration)

__all__ = ['datasets', 'engine', 'evaluation', 'models', 'visualization']
