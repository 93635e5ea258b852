"""mmdet3d's MinkUNet as the PPMSKD student: per-point stage features and a distillation step."""
import os

import numpy as np
import torch
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmdet3d.registry import DATASETS, MODELS

from elite.models.backbones.minkunet_stages import lookup_rows

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_lookup_rows():
    table = torch.tensor([[0, 5, 1], [1, 0, 0], [0, 0, 7]], dtype=torch.int32)
    queries = torch.tensor([[0, 0, 7], [0, 5, 1], [0, 0, 7], [1, 0, 0]], dtype=torch.int32)
    assert lookup_rows(table, queries).tolist() == [2, 0, 2, 1]
    assert lookup_rows(table, torch.tensor([[0, 5, 2]], dtype=torch.int32)).tolist() == [3]  # absent


def test_minkunet_student_distils(synthetic_root):
    cfg = Config.fromfile(os.path.join(REPO, 'configs/elite_minkunet_semantickitti.py'))
    cfg.model.teacher.variant = 'vit_tiny'
    cfg.model.patch_decoder.update(in_channels=64, channels=32)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    assert [d.classifier[0].in_features for d in model.point_decoders] == [256, 128, 96, 96]
    demo = Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py'))
    dataset = DATASETS.build(dict(demo.train_dataloader.dataset, data_root=synthetic_root))
    np.random.seed(0)
    batch = model.data_preprocessor(pseudo_collate([dataset[0], dataset[1]]), training=True)
    voxels = batch['inputs']['voxels']
    stages = model.extract_feat(batch['inputs'])
    n = len(voxels['points'])
    assert [tuple(s.shape) for s in stages] == [(n, 256), (n, 128), (n, 96), (n, 96)]
    # the last stage is the backbone's own output, mapped from voxels to points
    from elite.models.utils import scatter_mean
    feats = scatter_mean(voxels['points'][:, :4], voxels['point2voxel_map'], len(voxels['coors']))
    own = model.backbone.minkunet(feats, voxels['coors'])
    torch.testing.assert_close(stages[3], own[voxels['point2voxel_map']])
    losses = model(**batch, mode='loss')
    assert {f'loss_kd_stage{i}' for i in range(4)} <= set(losses)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.backbone.parameters())
