"""Load a frame's SAM pseudo-labels (tools/generate_pseudo_labels.py) as a dense image label."""
import os

from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS

from ..pseudo_label_files import pseudo_label_paths, read_label_png
from ..semantickitti_infos import frame_identity, sample_data_root
from ..semantickitti_labels import learning_to_train
from .image_label import IMAGE_LABEL


@TRANSFORMS.register_module()
class SAMPseudoLabel(BaseTransform):
    """``results['img_seg_label']`` (H, W) int64: the 16-bit pseudo-label PNG mapped to training ids.

    Place it right after ``LoadCameraImage``: ``BottomCropImage`` and ``FlipImageHorizontal`` then crop and
    flip it exactly like the image. The PNG
    holds the reference's ``learning_map`` ids (0 = unlabelled, ``c + 1`` = class ``c``), mapped here to
    mmdet3d's train ids (0 -> 19, the ignore index). The frame is the sample's ``data_root``, ``sequence`` and
    ``frame_id`` (from the infos, via ``SemanticKittiMMDataset``), not its image path.
    """

    def transform(self, results: dict) -> dict:
        path = pseudo_label_paths(sample_data_root(results), *frame_identity(results))[0]
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
