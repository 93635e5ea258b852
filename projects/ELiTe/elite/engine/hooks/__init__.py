"""Hooks for mmengine's loops (``NonFiniteTrainingError`` is the optimiser wrapper's, exported here too)."""
from .adalora_hook import AdaLoRARankAllocationHook
from .bev_visualization_hook import BEVVisualizationHook
from .checkpoint_coverage import CheckpointCoverageError, CheckpointCoverageHook
from .non_finite_guard import NonFiniteGuardHook, NonFiniteTrainingError

__all__ = ['AdaLoRARankAllocationHook', 'BEVVisualizationHook', 'CheckpointCoverageError', 'CheckpointCoverageHook',
           'NonFiniteGuardHook', 'NonFiniteTrainingError']
