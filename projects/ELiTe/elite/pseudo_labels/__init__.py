"""SAM-PLG: dense image pseudo-labels from SAM prompted with the projected LiDAR labels."""
from .sam_model import SAM_MODEL_TYPES, SamCheckpointError, build_sam, build_tiny_sam
from .sam_plg import (
    DOWNSAMPLE_MODES,
    INSTANCE_VOTES,
    SHARED_PIXEL_RULES,
    PseudoLabels,
    SamPseudoLabelGenerator,
    label_grid,
    majority_labels,
    mask_inputs,
    paint_masks,
    point_prompts,
    sparse_label_images,
)
from .writer import GenerationSummary, pseudo_label_paths, read_label_png, run_pseudo_label_generation, write_label_png

__all__ = ['DOWNSAMPLE_MODES', 'INSTANCE_VOTES', 'SAM_MODEL_TYPES', 'SHARED_PIXEL_RULES', 'GenerationSummary',
           'PseudoLabels', 'SamCheckpointError', 'SamPseudoLabelGenerator', 'build_sam', 'build_tiny_sam', 'label_grid',
           'majority_labels', 'mask_inputs', 'paint_masks', 'point_prompts', 'pseudo_label_paths', 'read_label_png',
           'run_pseudo_label_generation', 'sparse_label_images', 'write_label_png']
