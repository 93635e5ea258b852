"""Load the camera image of a sample as RGB (SAM and the colour statistics expect RGB)."""
import mmcv
import mmengine.fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadCameraImage(BaseTransform):
    """Read ``results['img_path']`` into ``results['img']`` (H, W, 3) uint8 RGB.

    Adds ``img_shape`` and ``ori_shape`` as (H, W).
    """

    def __init__(self, backend_args: dict = None) -> None:
        self.backend_args = backend_args

    def transform(self, results: dict) -> dict:
        path = results.get('img_path')
        if path is None:
            raise KeyError('LoadCameraImage needs results["img_path"]; use SemanticKittiMMDataset with '
                           'infos built by tools/create_data.py semantickitti')
        try:
            img_bytes = mmengine.fileio.get(path, backend_args=self.backend_args)
        except FileNotFoundError:
            raise FileNotFoundError(f'{path}: camera image not found. Extract the KITTI odometry colour archive '
                                    '(image_2) over the dataset root, or rebuild the infos.') from None
        img = mmcv.imfrombytes(img_bytes, flag='color', channel_order='rgb')
        if img is None:
            raise ValueError(f'{path}: cannot decode the image; the file is damaged, extract it again.')
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
