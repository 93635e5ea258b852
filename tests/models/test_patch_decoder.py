"""Pixel-to-point sampling equals decoding to full resolution and gathering, for every variant."""
import pytest
import torch
import torch.nn.functional as F

from elite.models.decode_heads import PatchDecoder, PointDecoder


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
    dense = decoder.dense(cells, (48, 80))
    assert dense.shape == (2, 16, 48, 80)
    expected = torch.cat([dense[b, :, i[:, 0], i[:, 1]].t() for b, i in enumerate(indices)])
    features, logits = decoder(tokens, indices, (48, 80))
    torch.testing.assert_close(features, expected, rtol=1e-5, atol=1e-5)
    assert logits.shape == (60, 5)


def test_upscale_dense_is_bilinear_interpolation_of_4x_cells():
    decoder = PatchDecoder(in_channels=64, channels=16, variant='upscale_interpolate')
    cells = decoder.decode(torch.randn(1, 64, 2, 3))
    assert cells.shape == (1, 16, 8, 12)
    torch.testing.assert_close(decoder.dense(cells, (32, 48)),
                               F.interpolate(cells, (32, 48), mode='bilinear', align_corners=False))


def test_pool_variants_reduce_channel_groups():
    tokens = torch.arange(2 * 8 * 1 * 1, dtype=torch.float32).reshape(1, 16, 1, 1)
    maxed = PatchDecoder(in_channels=16, channels=4, variant='maxpool_repeat').decode(tokens)
    averaged = PatchDecoder(in_channels=16, channels=4, variant='avgpool_repeat').decode(tokens)
    assert maxed.flatten().tolist() == [3, 7, 11, 15]
    assert averaged.flatten().tolist() == [1.5, 5.5, 9.5, 13.5]
    with pytest.raises(ValueError, match='unknown PatchDecoder variant'):
        PatchDecoder(variant='bicubic')


def test_point_decoder_shapes():
    assert PointDecoder(64, 128, 19)(torch.randn(7, 64)).shape == (7, 19)
