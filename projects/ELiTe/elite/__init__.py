"""ELiTe plugin for MMDetection3D: importing it registers every component and applies the patches."""
import warnings

# mmengine and mmcv import pkg_resources, which setuptools deprecates with a warning on every run.
warnings.filterwarnings('ignore', message='pkg_resources is deprecated', category=UserWarning)

from . import patches  # noqa: E402

patches.apply_all()

from . import datasets, engine, evaluation, models, visualization  # noqa: E402,F401  (registration)

__all__ = ['datasets', 'engine', 'evaluation', 'models', 'patches', 'visualization']
