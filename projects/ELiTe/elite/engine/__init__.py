"""What mmengine's runner and loops need from the plugin: config set-up for the tools, the optimiser step
(non-finite check, AdaLoRA's allocation, clipping, step), hooks and the reference learning-rate schedule;
mmdet3d's inferencer made to take the plugin's configs."""
from .checkpoint_types import register_checkpoint_loader
from .hooks import BEVVisualizationHook
from .lidar_seg_inferencer import ELiTeLidarSeg3DInferencer
from .optim_wrapper import ELiTeAmpOptimWrapper, ELiTeOptimWrapper, NonFiniteTrainingError
from .runner_setup import setup_runner_config, setup_test_config
from .schedulers import ReferenceCosineLR

__all__ = ['BEVVisualizationHook', 'ELiTeAmpOptimWrapper', 'ELiTeLidarSeg3DInferencer', 'ELiTeOptimWrapper',
           'NonFiniteTrainingError', 'ReferenceCosineLR', 'setup_runner_config', 'setup_test_config']

register_checkpoint_loader()  # weights-only loading of mmengine's checkpoints under torch >= 2.6
