"""Pixel-to-point sampling equals decoding to full resolution and gathering, for every variant."""
import pytest
import torch
import torch.nn.functional as F

from elite.models.decode_heads import PatchDecoder, PointDecoder
from elite.models.point_pixels import PixelSet, PointPixels


@pytest.mark.parametrize('variant', ['upscale_interpolate', 'maxpool_repeat', 'avgpool_repeat', 'neck_repeat'])
def test_sampling_matches_dense_decoding(variant):
    torch.manual_seed(0)
    decoder = PatchDecoder(in_channels=64, channels=16, num_classes=5, variant=variant)
    tokens = torch.randn(2, 64, 3, 5)  # a 48 x 80 crop
    g = torch.Generator().manual_seed(1)
    indices = [torch.stack([torch.randint(0, 48, (30,), generator=g), torch.randint(0, 80, (30,), generator=g)], 1)
               for _ in range(2)]
    indices[0][:4] = torch.tensor([[0, 0], [47, 79], [0, 79], [47, 0]])  # the borders too
    cells = decoder.decode(tokens)
    if variant == 'upscale_interpolate':  # the reference: interpolate the cells to the crop, then gather
        dense = F.interpolate(cells, (48, 80), mode='bilinear', align_corners=False)
    else:  # each token's features repeated over its 16 x 16 patch
        dense = cells.repeat_interleave(16, dim=2).repeat_interleave(16, dim=3)
    assert dense.shape == (2, 16, 48, 80)
    expected = torch.cat([dense[b, :, i[:, 0], i[:, 1]].t() for b, i in enumerate(indices)])
    pixels = PointPixels.from_samples([30, 30], [torch.arange(30)] * 2, indices, (48, 80)).pixels
    features, logits = decoder(tokens, pixels)
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
    assert logits.shape == (60, 5)
    if variant == 'upscale_interpolate':  # and the gradient reaching the cells is grid_sample's
        cells = decoder.decode(tokens).detach().requires_grad_(True)
        grad = torch.randn(60, 16)
        (decoder.sample(cells, pixels) * grad).sum().backward()
        ours = cells.grad.clone()
        cells.grad = None
        grids = [torch.stack([(i[:, 1] + 0.5) / 80 * 2 - 1, (i[:, 0] + 0.5) / 48 * 2 - 1], -1) for i in indices]
        sampled = torch.cat([F.grid_sample(cells[b:b + 1], g[None, None].float(), mode='bilinear',
                                           padding_mode='border', align_corners=False)[0, :, 0].t()
                             for b, g in enumerate(grids)])
        (sampled * grad).sum().backward()
        torch.testing.assert_close(ours, cells.grad, rtol=1e-5, atol=1e-5)


def test_taps_are_computed_once_per_cell_size():
    pixels = PixelSet(torch.tensor([[0, 5, 7], [1, 0, 0]]), (16, 16))
    first = pixels.bilinear_taps((4, 4))
    assert pixels.bilinear_taps((4, 4)) is first and pixels.bilinear_taps((8, 8)) is not first
    # pixel (5, 7) of a 16 x 16 image on 4 x 4 cells: its centre at (5.5 / 4 - 0.5, 7.5 / 4 - 0.5) = (0.875, 1.375)
    # cell units, between cells (0, 1), (0, 2), (1, 1), (1, 2)
    index, weight = first
    assert index[0].tolist() == [0 * 4 + 1, 0 * 4 + 2, 1 * 4 + 1, 1 * 4 + 2]
    torch.testing.assert_close(weight[0], torch.tensor([0.125 * 0.625, 0.125 * 0.375, 0.875 * 0.625, 0.875 * 0.375]))
    # pixel (0, 0) of sample 1: clamped at the border to cell (0, 0) of the second map, all weight there
    assert index[1, 0] == 16 and weight[1].tolist() == [1.0, 0.0, 0.0, 0.0]


def test_point_pixels_are_batch_global_and_select_points_renumbers():
    correspondence = PointPixels.from_samples([3, 4], [torch.tensor([0, 2]), torch.tensor([1, 3])],
                                              [torch.tensor([[1, 1], [2, 2]]), torch.tensor([[3, 3], [4, 4]])],
                                              (8, 8))
    assert correspondence.point_index.tolist() == [0, 2, 4, 6]
    assert correspondence.pixels.pixels.tolist() == [[0, 1, 1], [0, 2, 2], [1, 3, 3], [1, 4, 4]]
    keep = torch.tensor([True, False, True, True, False, True, True])
    single = correspondence.select_points(keep)
    # point 4 is dropped with its pixel; points 0, 2, 6 are the kept ones' 1st, 2nd and 5th
    assert single.point_index.tolist() == [0, 1, 4]
    assert single.pixels.pixels.tolist() == [[0, 1, 1], [0, 2, 2], [1, 4, 4]]
    keep[4] = True
    assert correspondence.select_points(keep).point_index.tolist() == [0, 1, 3, 5]


def test_upscale_cells_are_4x_the_tokens():
    decoder = PatchDecoder(in_channels=64, channels=16, variant='upscale_interpolate')
    assert decoder.decode(torch.randn(1, 64, 2, 3)).shape == (1, 16, 8, 12) and decoder.stride == 4


def test_pool_variants_reduce_channel_groups():
    tokens = torch.arange(2 * 8 * 1 * 1, dtype=torch.float32).reshape(1, 16, 1, 1)
    maxed = PatchDecoder(in_channels=16, channels=4, variant='maxpool_repeat').decode(tokens)
    averaged = PatchDecoder(in_channels=16, channels=4, variant='avgpool_repeat').decode(tokens)
    assert maxed.flatten().tolist() == [3, 7, 11, 15]
    assert averaged.flatten().tolist() == [1.5, 5.5, 9.5, 13.5]
    with pytest.raises(ValueError, match='unknown PatchDecoder variant'):
        PatchDecoder(variant='bicubic')


def test_point_decoder_owns_its_weighted_losses():
    torch.manual_seed(0)
    ce = dict(type='WeightedMeanCrossEntropyLoss', class_weight=[1.0, 2.0, 3.0], loss_weight=0.25)
    decoder = PointDecoder(channels=4, num_classes=3, mid_channels=8, ignore_index=3, loss_decode=ce,
                           loss_lovasz=dict(type='LovaszLoss', loss_type='multi_class', reduction='none',
                                            loss_weight=0.5))
    logits = decoder(torch.randn(6, 4))
    assert logits.shape == (6, 3)
    labels = torch.tensor([0, 1, 2, 3, 1, 0])
    losses = decoder.loss_by_labels(logits, labels)
    kept = labels != 3
    expected_ce = 0.25 * F.cross_entropy(logits[kept], labels[kept], weight=torch.tensor([1.0, 2.0, 3.0]))
    torch.testing.assert_close(losses['loss_sem_seg'], expected_ce)
    assert set(losses) == {'loss_sem_seg', 'loss_lovasz'} and losses['loss_lovasz'] > 0
    assert decoder.loss_by_labels(logits[:0], labels[:0])['loss_lovasz'] == 0
