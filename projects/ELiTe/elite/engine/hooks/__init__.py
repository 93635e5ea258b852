"""Hooks for mmengine's loops."""
from .adalora_hook import AdaLoRARankAllocationHook
from .bev_visualization_hook import BEVVisualizationHook

__all__ = ['AdaLoRARankAllocationHook', 'BEVVisualizationHook']
