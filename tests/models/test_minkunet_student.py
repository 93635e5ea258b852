"""mmdet3d's MinkUNet (spconv, torchsparse) and SPVCNN (torchsparse) as the PPMSKD student: per-point stage
features and a distillation step; mmdet3d's own torchsparse MinkUNet trained through our CPU preprocessor."""
import os

import numpy as np
import pytest
import torch
from backends import needs_torchsparse
from mmdet3d.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate

from elite.models.backbones.minkunet_stages import lookup_rows

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_lookup_rows():
    table = torch.tensor([[0, 5, 1], [1, 0, 0], [0, 0, 7]], dtype=torch.int32)
    queries = torch.tensor([[0, 0, 7], [0, 5, 1], [0, 0, 7], [1, 0, 0]], dtype=torch.int32)
    assert lookup_rows(table, queries).tolist() == [2, 0, 2, 1]
    assert lookup_rows(table, torch.tensor([[0, 5, 2]], dtype=torch.int32)).tolist() == [3]  # absent


def synthetic_batch(model, root, indices=(0, 1)):
    demo = Config.fromfile(os.path.join(REPO, 'configs/elite_demo.py'))
    dataset = DATASETS.build(dict(demo.train_dataloader.dataset, data_root=root))
    np.random.seed(0)
    return model.data_preprocessor(pseudo_collate([dataset[i] for i in indices]), training=True)


@pytest.mark.parametrize('config', ['configs/elite_minkunet_semantickitti.py',
                                    pytest.param('configs/elite_spvcnn_semantickitti.py', marks=needs_torchsparse)])
def test_minkunet_family_student_distils(synthetic_root, config):
    cfg = Config.fromfile(os.path.join(REPO, config))
    cfg.model.teacher.variant = 'vit_tiny'
    cfg.model.patch_decoder.update(in_channels=64, channels=32)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    assert [d.conv_seg[0].in_features for d in model.auxiliary_head] == [256, 128, 96, 96]
    batch = synthetic_batch(model, synthetic_root)
    voxels = batch['inputs']['voxels']
    stages = model.extract_feat(batch['inputs'])
    n = len(voxels['points'])
    assert [tuple(s.shape) for s in stages] == [(n, 256), (n, 128), (n, 96), (n, 96)]
    # stage 2 (stride 2): every point gets the decoder's features of its own stride-2 voxel (looked up here by
    # hand: spconv indexes it [b, x // 2, ...], torchsparse [x // 2 * 2, ..., b])
    torchsparse = model.backbone.torchsparse
    stage2 = model.backbone._stage_outputs[2]
    features, coors = (stage2.F, stage2.C) if torchsparse else (stage2.features, stage2.indices)
    row_of = {tuple(c): i for i, c in enumerate(coors.tolist())}
    rows = []
    for b, x, y, z in voxels['point_coors'].tolist():
        key = (x // 2 * 2, y // 2 * 2, z // 2 * 2, b) if torchsparse else (b, x // 2, y // 2, z // 2)
        rows.append(row_of.get(key, -1))
    rows = torch.tensor(rows)
    assert (rows >= 0).float().mean() > 0.99  # (spconv's unpadded grid drops a few boundary voxels)
    torch.testing.assert_close(stages[2][rows >= 0], features[rows[rows >= 0]])
    # the last stage is the backbone's own output (MinkUNet's stride-1 stage, SPVCNN's point branch) per point
    from elite.models.utils import scatter_mean
    feats = scatter_mean(voxels['points'][:, :4], voxels['point2voxel_map'], len(voxels['coors']))
    model.eval()
    with torch.no_grad():
        own = model.backbone.minkunet(feats, voxels['coors'][:, [1, 2, 3, 0]].contiguous() if torchsparse
                                      else voxels['coors'])
        torch.testing.assert_close(model.extract_feat(batch['inputs'])[3], own[voxels['point2voxel_map']])
    model.train()
    losses = model(**batch, mode='loss')
    assert {f'kd_{i}.loss_kd' for i in range(4)} <= set(losses)
    sum(losses.values()).backward()
    assert all(p.grad is not None for p in model.backbone.parameters())


@needs_torchsparse
def test_mmdet3d_torchsparse_minkunet_trains_a_step_on_the_cpu(synthetic_root):
    """mmdet3d's own MinkUNet segmentor with sparseconv_backend='torchsparse', fed by our device-agnostic
    'minkunet' voxelisation (mmdet3d's calls .cuda()): one SGD step changes its weights, all finite."""
    import mmdet3d
    from mmengine.optim import OptimWrapper
    cfg = Config.fromfile(os.path.join(os.path.dirname(mmdet3d.__file__), '.mim/configs/_base_/models/minkunet.py'))
    cfg.model.backbone.sparseconv_backend = 'torchsparse'
    cfg.model.data_preprocessor = dict(type='PointImageDataPreprocessor', voxel=True, voxel_type='minkunet',
                                       batch_first=False, max_voxels=None,
                                       voxel_layer=dict(max_num_points=-1,
                                                        point_cloud_range=[-100, -100, -20, 100, 100, 20],
                                                        voxel_size=[0.05, 0.05, 0.05], max_voxels=(-1, -1)))
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).train()
    lidar = Config.fromfile(os.path.join(REPO, 'configs/spvcnnlite_demo.py'))
    dataset = DATASETS.build(dict(lidar.train_dataloader.dataset, data_root=synthetic_root))
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    log_vars = model.train_step(pseudo_collate([dataset[0], dataset[1]]), wrapper)
    assert torch.isfinite(log_vars['loss']) and log_vars['loss'] > 0
    changed = [n for n, p in model.named_parameters() if not torch.equal(p, before[n])]
    assert len(changed) == len(before) and all(torch.isfinite(p).all() for p in model.parameters())
