"""Headless PNG pictures (no display, no open3d)."""
from elite_deploy.bev import draw_bev, side_by_side

from .image_overlay import draw_points_on_image

__all__ = ['draw_points_on_image', 'draw_bev', 'side_by_side']
