"""The student: size, shapes, per-stage outputs, gradients and the 2DPASS feature construction."""
import os

import pytest
import torch
from backends import needs_torchsparse
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample, PointData
from mmengine.config import Config

from elite.benchmark.model_stats import parameter_report
from elite.models.backbones.spvcnn_lite import point_features

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(config='configs/spvcnnlite_semantickitti.py', **backbone):
    cfg = Config.fromfile(os.path.join(REPO, config))
    cfg.model.backbone.update(backbone)
    return MODELS.build(cfg.model)


def batch(model, sizes=(3000, 2000), seed=0, spread=(12., 12., 1.)):
    g = torch.Generator().manual_seed(seed)
    points = [torch.randn(n, 4, generator=g) * torch.tensor([*spread, 0.3]) for n in sizes]
    samples = []
    for n in sizes:
        s = Det3DDataSample()
        s.gt_pts_seg = PointData(pts_semantic_mask=torch.randint(0, 20, (n,), generator=g))
        samples.append(s)
    return model.data_preprocessor(dict(inputs=dict(points=points), data_samples=samples), training=True)


def test_parameter_count_matches_the_paper():
    report = parameter_report(build())
    assert abs(report['inference'] - 1.9e6) / 1.9e6 < 0.03  # Table IV: 1.9 M
    assert report['inference'] == report['trainable'] == 1933331 and report['frozen'] == 0


def test_stage_features_and_logits_cover_every_point():
    model = build()
    data = batch(model)
    stage_features = model.extract_feat(data['inputs'])
    assert [tuple(f.shape) for f in stage_features] == [(5000, 64)] * 4
    model.eval()
    with torch.no_grad():
        out = model(**batch(model), mode='predict')
    assert [tuple(s.pts_seg_logits.pts_seg_logits.shape) for s in out] == [(19, 3000), (19, 2000)]
    assert out[1].pred_pts_seg.pts_semantic_mask.shape == (2000,)


def test_every_parameter_gets_a_gradient():
    model = build()
    losses = model(**batch(model), mode='loss')
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz'}
    sum(losses.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_point_features_are_offsets_to_voxel_mean_and_centre():
    points = torch.tensor([[0.01, 0.02, 0.03, 0.5], [0.05, 0.06, 0.07, 0.1], [1.0, 1.0, 1.0, 0.0]])
    coors = torch.tensor([[0, 500, 500, 40], [0, 500, 500, 40], [0, 510, 510, 50]], dtype=torch.int32)
    point2voxel = torch.tensor([0, 0, 1])
    feats = point_features(points, coors, point2voxel, 2, torch.tensor([0.1] * 3), torch.tensor([-50., -50., -4.]))
    torch.testing.assert_close(feats[0, :4], points[0])
    torch.testing.assert_close(feats[0, 4:7], torch.tensor([-0.02, -0.02, -0.02]))  # mean (0.03, 0.04, 0.05)
    torch.testing.assert_close(feats[0, 7:], torch.tensor([-0.04, -0.03, -0.02]))  # centre (0.05, 0.05, 0.05)
    torch.testing.assert_close(feats[2, 4:7], torch.zeros(3))


@pytest.mark.parametrize('other', [pytest.param('torchsparse', marks=needs_torchsparse), 'kernel_map'])
def test_spconv_and_other_backend_students_agree_on_a_full_scan(other):
    """The same weights on spconv and on ``other``: logits and every parameter's gradient on a batch of a
    full-size (120,000-point) scan and a second scan."""
    import numpy as np

    from elite.datasets.synthetic import lidar_scan, make_scene
    torch.manual_seed(0)  # random weights: an unlucky draw gave a 1.2e-2 gradient difference once
    spconv_model = build(sparse_backend='spconv')
    ts_model = build(sparse_backend=other)
    ts_model.load_state_dict(spconv_model.state_dict())
    assert list(ts_model.state_dict()) == list(spconv_model.state_dict())  # the same keys, one checkpoint
    rng = np.random.default_rng(0)
    scene = make_scene(rng, 160.0)
    points = [torch.from_numpy(lidar_scan(scene, x, n, rng)[0]) for x, n in ((40.0, 120000), (60.0, 30000))]
    samples = []
    for p in points:
        sample = Det3DDataSample()
        sample.gt_pts_seg = PointData(pts_semantic_mask=torch.from_numpy(rng.integers(0, 19, len(p))))
        samples.append(sample)
    data = spconv_model.data_preprocessor(dict(inputs=dict(points=points), data_samples=samples), training=True)
    logits, grads = [], []
    for model in (spconv_model, ts_model):
        model.train()
        out = model.decode_head(model.extract_feat(data['inputs']))
        model.zero_grad()
        (out * torch.linspace(-1, 1, out.numel()).view_as(out)).sum().backward()
        logits.append(out.detach())
        grads.append({n: p.grad for n, p in model.named_parameters()})
    assert len(logits[0]) == 150000
    torch.testing.assert_close(logits[1], logits[0], rtol=1e-4, atol=1e-4)
    # gradients sum over 150,000 points in different orders: compared relative to each tensor's largest value
    worst = max((float((grads[1][n] - g).abs().max() / g.abs().max()), n) for n, g in grads[0].items())
    print(f'largest relative gradient difference {worst[0]:.1e} ({worst[1]})')
    assert worst[0] < 2e-3


def test_voxel_level_point_branch_equals_2dpass_per_point_computation():
    """The point branch runs per input voxel and averages (input, output) pairs with point-count weights;
    2DPASS runs it per point. Same values, here with an input voxel split between two output voxels."""
    from elite.models.backbones.spvcnn_lite import PointBranch
    from elite.models.backbones.stage_grids import StageTransfer
    from elite.models.utils import scatter_mean
    torch.manual_seed(0)
    branch = PointBranch(8).eval()
    point2in = torch.tensor([0, 0, 0, 1, 2, 2, 3, 4, 4, 4, 4])  # 11 points in 5 voxels
    point2out = torch.tensor([0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 1])  # voxel 0's points go to both output voxels
    context = torch.tensor([0, 0, 1, 1, 1])  # coors // 2 groups of the input voxels
    pairs = torch.tensor([[0, 0], [0, 1], [1, 1], [2, 1], [3, 1], [4, 1]])
    transfer = StageTransfer(torch.zeros(2, 4), pairs[:, 0], pairs[:, 1], torch.tensor([2., 1, 1, 2, 1, 4]),
                             context, 2, None)
    features = torch.randn(5, 8)
    with torch.no_grad():
        ours = branch(features, transfer)
        fused = torch.cat([branch.layer_in(features), branch.context(scatter_mean(features, context, 2))[context]],
                          dim=1)
        per_point = scatter_mean(branch.layer_out(fused[point2in]), point2out, 2)
    torch.testing.assert_close(ours, per_point)


def per_point_reference(backbone, voxels):
    """The student with nested grids computed in 2DPASS's order: per-point MLP then average, every scale
    quantised from the points, the point branch's last layers and every stage output per point, the classifier
    per point. (The reference grids are checked against a re-implementation of 2DPASS itself in
    test_checkpoint_conversion.py.)"""
    from elite.models.utils import scatter_mean, unique_rows
    points, point_coors = voxels['points'][:, :4], voxels['point_coors']
    point2voxel = [voxels['point2voxel_map']]
    for s in backbone.scales:
        point2voxel.append(unique_rows(torch.cat([point_coors[:, :1], point_coors[:, 1:] // s], 1))[1])
    coors = [voxels['coors']] + [unique_rows(torch.cat([point_coors[:, :1], point_coors[:, 1:] // s], 1))[0]
                                 for s in backbone.scales]
    feats = point_features(points, point_coors, point2voxel[0], len(coors[0]), voxels['voxel_size'],
                           voxels['point_cloud_range'][:3])
    voxel_features = scatter_mean(backbone.point_mlp(feats), point2voxel[0], len(coors[0]))
    outputs, scale = [], 1
    for i, stage in enumerate(backbone.stages):
        shape = [(d + scale - 1) // scale for d in voxels['spatial_shape']]
        x = backbone.backend.tensor(voxel_features, coors[i], shape, 2)
        v = x
        for block in stage.voxel_blocks:
            v = block(v)
        prev, nxt, num_next = point2voxel[i], point2voxel[i + 1], len(coors[i + 1])
        v_next = scatter_mean(v.features[prev], nxt, num_next)
        branch, f = stage.point_branch, x.features + v.features
        prev2next = torch.zeros(len(f), dtype=torch.long).index_put_((prev,), nxt)
        context = branch.context(scatter_mean(f, prev2next, num_next))[prev2next]  # over voxels, as 2DPASS
        fused = torch.cat([branch.layer_in(f), context], 1)[prev]
        p_next = scatter_mean(branch.layer_out(fused), nxt, num_next)
        voxel_features = p_next + v_next
        outputs.append(p_next[nxt])
        scale = backbone.scales[i]
    return outputs


def test_student_equals_the_per_point_2dpass_computation():
    """Averages taken before affine layers, coarse voxels from finer voxels, the classifier once per finest
    output voxel: the same features and logits as the per-point order, and every point's own."""
    model = build(grid='nested').eval()
    data = batch(model, sizes=(6000, 4000), spread=(0.6, 0.6, 0.2))  # several points per voxel
    with torch.no_grad():
        ours = model.extract_feat(data['inputs'])
        reference = per_point_reference(model.backbone, data['inputs']['voxels'])
        voxels = data['inputs']['voxels']
        assert len(voxels["coors"]) < 7000 and len(ours.point2row) == 10000 and len(ours) == 4
        for a, b in zip(ours, reference):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(model.decode_head(ours), model.decode_head.conv_seg(torch.cat(reference, 1)),
                                   rtol=1e-4, atol=1e-4)


def test_head_without_concatenation_equals_the_concatenated_classifier():
    from elite.models.decode_heads import SPVCNNLiteHead
    torch.manual_seed(0)
    head = SPVCNNLiteHead()
    from elite.models.stage_features import StageFeatures
    features = [torch.randn(20, 64, requires_grad=True) for _ in range(4)]
    point2row = torch.randint(0, 20, (50,))  # rows shared by several points
    ours = head(StageFeatures(features, point2row))
    reference = head.conv_seg(torch.cat([f[point2row] for f in features], 1))
    torch.testing.assert_close(ours, reference)
    params = features + list(head.parameters())
    for a, b in zip(torch.autograd.grad(ours.sum(), params), torch.autograd.grad(reference.sum(), params)):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def test_scatter_mean_sums_float16_rows_in_float32():
    """Under AMP a coarse voxel's features arrive in float16: their (weighted) sum passes 65,504 long before the
    mean does. The mean comes back in the rows' dtype."""
    from elite.models.utils import scatter_mean
    src = torch.full((200, 3), 1000.0, dtype=torch.float16)
    index = torch.zeros(200, dtype=torch.long)
    weight = torch.full((200,), 10.0)  # float32 point counts, as the stages pass them
    for mean in (scatter_mean(src, index, 2), scatter_mean(src, index, 2, weight)):
        assert mean.dtype == torch.float16
        torch.testing.assert_close(mean, torch.tensor([[1000.0] * 3, [0.0] * 3], dtype=torch.float16))


def test_student_inference_waits_for_the_device_only_for_the_unique_sets():
    """On a GPU every value read or data-dependent size stops the host: preprocessing + forward read one value
    (the grid range check) besides the sizes of the unique voxel sets (80 such operations before)."""
    from mmdet3d.structures import Det3DDataSample

    from elite.benchmark.host_syncs import count_host_syncs
    model = build().eval()
    points = [torch.randn(n, 4) * torch.tensor([12., 12., 1., 0.3]) for n in (3000, 2000)]

    def infer():
        data = model.data_preprocessor(dict(inputs=dict(points=points), data_samples=[Det3DDataSample()] * 2))
        with torch.no_grad():
            model.decode_head(model.extract_feat(data['inputs']))
    infer()
    total, per_op = count_host_syncs(infer)
    assert per_op.get('_local_scalar_dense', 0) <= 1 and 'bincount' not in per_op, per_op
    assert total <= 16, per_op
