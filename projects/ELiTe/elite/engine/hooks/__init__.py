"""Hooks for mmengine's loops."""
from .bev_visualization_hook import BEVVisualizationHook

__all__ = ['BEVVisualizationHook']
