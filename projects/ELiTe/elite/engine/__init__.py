"""What mmengine's runner and loops need from the plugin: config set-up for the tools and hooks."""
from .hooks import BEVVisualizationHook
from .runner_setup import setup_runner_config, setup_test_config

__all__ = ['BEVVisualizationHook', 'setup_runner_config', 'setup_test_config']
