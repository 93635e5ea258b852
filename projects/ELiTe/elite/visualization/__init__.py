"""Headless PNG pictures (no display, no open3d)."""
from .image_overlay import denormalize_image, draw_points_on_image

__all__ = ['draw_points_on_image', 'denormalize_image']
