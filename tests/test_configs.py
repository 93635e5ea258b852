"""Every shipped config loads and builds its model (ViT teachers shrunk to vit_tiny to stay fast)."""
import glob
import os

import pytest
from mmdet3d.registry import MODELS
from mmengine.config import Config

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONFIGS = sorted(glob.glob(os.path.join(REPO, 'configs', '*.py'))
                 + glob.glob(os.path.join(REPO, 'configs', 'ablations', '*.py')))


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: os.path.relpath(p, os.path.join(REPO, 'configs')))
def test_config_builds(path):
    cfg = Config.fromfile(path)
    assert cfg.custom_imports.imports == ['elite']
    # the optimiser step with the non-finite check and AdaLoRA's allocation (NonFiniteGuardHook needs it)
    assert cfg.optim_wrapper.type == 'ELiTeOptimWrapper'
    model_cfg = cfg.model
    if 'teacher' in model_cfg:
        model_cfg.teacher.variant = 'vit_tiny'
        model_cfg.patch_decoder.in_channels = 64
        model_cfg.patch_decoder.channels = 32
    model = MODELS.build(model_cfg)
    assert model.decode_head.num_classes == 19
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        # the plugin's datasets pass sequence, frame_id and data_root on (mmdet3d's SemanticKittiDataset lacks the root)
        assert cfg[loader].dataset.type in ('SemanticKittiFrameDataset', 'SemanticKittiMMDataset')


@pytest.mark.parametrize('path', [p for p in CONFIGS if 'teacher' in Config.fromfile(p).model],
                         ids=lambda p: os.path.relpath(p, os.path.join(REPO, 'configs')))
def test_image_statistics_are_sams(path):
    """The configs repeat SAM's pixel statistics for mmdet3d's data preprocessor, which takes numbers."""
    from elite.sam_specs import SAM_PIXEL_MEAN, SAM_PIXEL_STD
    preprocessor = Config.fromfile(path).model.data_preprocessor
    assert tuple(preprocessor.mean) == SAM_PIXEL_MEAN and tuple(preprocessor.std) == SAM_PIXEL_STD
