"""mmdet3d's ``LidarSeg3DInferencer`` for the plugin's configs.

mmdet3d's inferencer finds the test pipeline's loaders by their type names (``LoadPointsFromFile``, which it swaps
for its own loader, and ``LoadAnnotations3D``, which it drops) and refuses a pipeline without them ("LoadPointsFromFile
is not found in the test pipeline"). The plugin's pipelines load through the checked subclasses
(``LoadCheckedPointsFromFile``, ``LoadCheckedAnnotations3D``); this subclass finds those too and is otherwise
mmdet3d's, so ``inferencer(dict(points='scan.bin'))`` works on every config here.
"""
from mmdet3d.apis import LidarSeg3DInferencer
from mmdet3d.registry import INFERENCERS

CHECKED_LOADERS = {'LoadPointsFromFile': 'LoadCheckedPointsFromFile', 'LoadAnnotations3D': 'LoadCheckedAnnotations3D'}


@INFERENCERS.register_module(name='elite-seg3d-lidar')
@INFERENCERS.register_module()
class ELiTeLidarSeg3DInferencer(LidarSeg3DInferencer):
    """``LidarSeg3DInferencer(model=CONFIG, weights=CHECKPOINT)`` that accepts the plugin's checked loaders."""

    def _get_transform_idx(self, pipeline_cfg, name: str) -> int:
        index = super()._get_transform_idx(pipeline_cfg, name)
        if index == -1 and name in CHECKED_LOADERS:
            index = super()._get_transform_idx(pipeline_cfg, CHECKED_LOADERS[name])
        return index
