"""Loading with checks: scans, labels and camera images that cannot be used stop with an error naming the
file and the fix (files can change after tools/create_data.py checked them), instead of failing obscurely
later in a transform, or poisoning a model with NaN. The camera image is loaded as RGB (SAM and the colour
statistics expect RGB)."""
import cv2
import mmengine.fileio
import numpy as np
from mmcv.transforms import BaseTransform
from mmdet3d.datasets.transforms import LoadAnnotations3D, LoadPointsFromFile
from mmdet3d.registry import TRANSFORMS

from ..kitti_files import KittiFormatError, check_png_bytes, check_scan_values

DATA_FIX = 'Extract it again, or rebuild the infos with tools/create_data.py (--on-error skip leaves bad frames out).'


@TRANSFORMS.register_module()
class LoadCheckedPointsFromFile(LoadPointsFromFile):
    """mmdet3d's ``LoadPointsFromFile`` that refuses a scan whose size is not whole points, that holds no point
    or that holds a non-finite value (:class:`KittiFormatError` naming the file)."""

    def _load_points(self, pts_filename: str) -> np.ndarray:
        try:
            points = super()._load_points(pts_filename)
        except ValueError as err:  # a size that is not whole float32 values
            raise KittiFormatError(f'{pts_filename}: not a scan of whole float32 values ({err}). {DATA_FIX}') from None
        if points.size % self.load_dim:
            raise KittiFormatError(f'{pts_filename}: {points.size * 4} bytes are not whole points of {self.load_dim} '
                                   f'float32 values (truncated?). {DATA_FIX}')
        return check_scan_values(points.reshape(-1, self.load_dim), pts_filename).reshape(-1)


@TRANSFORMS.register_module()
class LoadCheckedAnnotations3D(LoadAnnotations3D):
    """mmdet3d's ``LoadAnnotations3D`` that refuses a semantic label file that does not hold one label per loaded
    point (:class:`KittiFormatError` naming the file); place it after the points' loader."""

    def _load_semantic_seg_3d(self, results: dict) -> dict:
        path = results['pts_semantic_mask_path']
        try:
            results = super()._load_semantic_seg_3d(results)
        except ValueError as err:  # a size that is not whole labels
            raise KittiFormatError(f'{path}: not a label file of whole uint32 labels ({err}). {DATA_FIX}') from None
        num_points = len(results['points']) if 'points' in results else None
        if num_points is not None and len(results['pts_semantic_mask']) != num_points:
            raise KittiFormatError(f'{path}: {len(results["pts_semantic_mask"])} labels for a scan of {num_points} '
                                   f'points ({results.get("lidar_path", "its scan")}). The label and scan files do '
                                   f'not belong together or one is truncated. {DATA_FIX}')
        return results


@TRANSFORMS.register_module()
class LoadCameraImage(BaseTransform):
    """Read ``results['img_path']`` into ``results['img']`` (H, W, 3) uint8 RGB.

    The PNG must be complete (every chunk's CRC up to IEND) and decode. Adds ``img_shape`` and ``ori_shape``
    as (H, W).
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
        if path.lower().endswith('.png'):
            check_png_bytes(img_bytes, path)
        bgr = cv2.imdecode(np.frombuffer(img_bytes, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise KittiFormatError(f'{path}: cannot decode the image; the file is damaged. {DATA_FIX}')
        img = np.ascontiguousarray(bgr[:, :, ::-1])
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results
