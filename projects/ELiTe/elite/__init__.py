"""ELiTe plugin for MMDetection3D: importing it registers every component and applies the patches."""
from . import patches

patches.apply_all()

from . import datasets, models, visualization  # noqa: E402,F401  (registration)

__all__ = ['datasets', 'models', 'patches', 'visualization']
