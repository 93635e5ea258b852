"""Shared fixtures: the real KITTI frame from ../shared/data and a tiny synthetic SemanticKITTI."""
import os

import pytest

import elite  # noqa: F401  (registers the plugin)
from elite.datasets.synthetic import ensure_synthetic_dataset

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARED_DATA = os.environ.get('ELITE_SHARED_DATA', os.path.join(REPO, '..', 'shared', 'data'))


@pytest.fixture(scope='session')
def kitti_frame_dir() -> str:
    path = os.path.join(SHARED_DATA, 'kitti_frame')
    if not os.path.isdir(path):
        pytest.skip(f'real KITTI frame not found at {path} (set ELITE_SHARED_DATA to the shared data folder)')
    return path


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """Sequences 00 (train), 08 (val), 11 (test, no labels); 2 frames each; small scans, full-size images."""
    root = str(tmp_path_factory.mktemp('synthetic_kitti'))
    ensure_synthetic_dataset(root, ('00', '08', '11'), frames=2, num_points=4000)
    return root


@pytest.fixture(scope='session', autouse=True)
def mmdet3d_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
