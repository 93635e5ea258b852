"""Load a frame's SAM pseudo-labels (tools/generate_pseudo_labels.py) as a dense image label."""
import os

from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from ..pseudo_label_files import pseudo_label_paths, read_label_png
from ..semantickitti_labels import learning_to_train
from .image_label import IMAGE_LABEL


def pseudo_label_path(img_path: str) -> str:
    """The semantic pseudo-label of ``ROOT/sequences/XX/image_2/NNNNNN.png`` (layout: datasets.pseudo_label_files)."""
    image_dir, name = os.path.split(img_path)
    seq_dir = os.path.dirname(image_dir)
    root = os.path.dirname(os.path.dirname(seq_dir))
    return pseudo_label_paths(root, os.path.basename(seq_dir), os.path.splitext(name)[0])[0]


@TRANSFORMS.register_module()
class SAMPseudoLabel(BaseTransform):
    """``results['img_seg_label']`` (H, W) int64: the 16-bit pseudo-label PNG mapped to training ids.

    Place it right after ``LoadCameraImage``: ``BottomCropImage``, ``FlipImageHorizontal`` and
    ``NormalizePadImage`` then crop, flip and pad it exactly like the image (padding = ignore index). The PNG
    holds the reference's ``learning_map`` ids (0 = unlabelled, ``c + 1`` = class ``c``), mapped here to
    mmdet3d's train ids (0 -> 19, the ignore index).
    """

    def transform(self, results: dict) -> dict:
        path = pseudo_label_path(results['img_path'])
        if not os.path.isfile(path):
            raise FileNotFoundError(f'{path}: SAM pseudo-label not found; generate them with '
                                    'tools/generate_pseudo_labels.py, or drop SAMPseudoLabel from the pipeline')
        raw = read_label_png(path)
        if raw.shape != tuple(results['img'].shape[:2]):
            raise ValueError(f'{path}: label size {raw.shape} differs from the image {results["img"].shape[:2]}; '
                             'the pseudo-labels belong to another image, generate them again')
        try:
            results[IMAGE_LABEL] = learning_to_train(raw, path)
        except ValueError as err:
            raise ValueError(f'{err}; it was written by an older version in raw SemanticKITTI ids: generate the '
                             'pseudo-labels again with tools/generate_pseudo_labels.py') from None
        return results
