"""What mmengine's runner and loops need from the plugin: config set-up for the tools, hooks and
the reference learning-rate schedule."""
from .checkpoint_types import allow_mmengine_checkpoints
from .hooks import BEVVisualizationHook
from .runner_setup import setup_runner_config, setup_test_config
from .schedulers import ReferenceCosineLR

__all__ = ['BEVVisualizationHook', 'ReferenceCosineLR', 'setup_runner_config', 'setup_test_config']

allow_mmengine_checkpoints()  # torch >= 2.6's weights-only loading refuses mmengine's checkpoints otherwise
