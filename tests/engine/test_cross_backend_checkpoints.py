"""A student checkpoint moves between the sparse backends (GPU users train on torchsparse, deploy where spconv
runs), through mmengine's own save / load; the coverage hook refuses weights that would not load."""
import os

import pytest
import torch
from backends import needs_torchsparse
from mmdet3d.registry import MODELS
from mmdet3d.structures import Det3DDataSample
from mmengine.config import Config
from mmengine.runner.checkpoint import get_state_dict, load_checkpoint, save_checkpoint, weights_to_cpu

from elite.engine.hooks import CheckpointCoverageError, CheckpointCoverageHook

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def student(seed: int, **backbone):
    cfg = Config.fromfile(os.path.join(REPO, 'configs/spvcnnlite_semantickitti.py'))
    cfg.model.backbone.update(backbone)
    torch.manual_seed(seed)
    return MODELS.build(cfg.model).eval()


def logits(model):
    g = torch.Generator().manual_seed(0)
    points = [torch.randn(n, 4, generator=g) * torch.tensor([12., 12., 1., 0.3]) for n in (3000, 2000)]
    data = model.data_preprocessor(dict(inputs=dict(points=points), data_samples=[Det3DDataSample()] * 2))
    with torch.no_grad():
        return model.decode_head(model.extract_feat(data['inputs']))


def save_as_runner(model, path: str) -> str:
    """What mmengine's CheckpointHook writes (the state dict keeps each module's version in ``_metadata``)."""
    save_checkpoint(dict(state_dict=weights_to_cpu(get_state_dict(model)), meta={}), path)
    return path


class LoadingRunner:
    def __init__(self, model, path):
        self.model, self._load_from = model, path


@needs_torchsparse
@pytest.mark.parametrize('source, target', [('torchsparse', 'spconv'), ('spconv', 'torchsparse')])
def test_a_checkpoint_gives_the_same_logits_on_the_other_backend(source, target, tmp_path):
    trained, other = student(0, sparse_backend=source), student(1, sparse_backend=target)
    path = save_as_runner(trained, str(tmp_path / 'student.pth'))
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    CheckpointCoverageHook().after_load_checkpoint(LoadingRunner(other, path), checkpoint)  # accepted
    load_checkpoint(other, path, map_location='cpu', strict=True)  # as the runner's load_from, but strict
    torch.testing.assert_close(logits(other), logits(trained), rtol=1e-4, atol=1e-4)


def test_coverage_hook_refuses_convolutions_saved_in_another_layout_naming_the_key(tmp_path):
    """A sparse convolution saved without the version-2 mark (e.g. by an earlier torchsparse student): mmdet3d's
    spconv loader would permute its weight, mmengine's non-strict load would only warn and keep random weights."""
    trained, other = student(0, sparse_backend='spconv'), student(1, sparse_backend='spconv')
    state = weights_to_cpu(get_state_dict(trained))
    conv = 'backbone.stages.0.voxel_blocks.0.conv1'
    state._metadata[conv]['version'] = 1
    with pytest.raises(CheckpointCoverageError, match=rf'{conv}.weight: checkpoint \(64, 3, 3, 3, 64\) \(loaded as '
                                                      r'\(64, 64, 3, 3, 3\), module version 1\)') as err:
        CheckpointCoverageHook().after_load_checkpoint(LoadingRunner(other, 'old.pth'), dict(state_dict=state))
    assert 'old.pth' in str(err.value)
    # another model's head: the key is there, its shape is not
    state = weights_to_cpu(get_state_dict(trained))
    state['decode_head.conv_seg.2.weight'] = torch.zeros(20, 128)
    with pytest.raises(CheckpointCoverageError, match=r'decode_head.conv_seg.2.weight: checkpoint \(20, 128\) vs '
                                                      r'model \(19, 128\)'):
        CheckpointCoverageHook().after_load_checkpoint(LoadingRunner(other, 'x.pth'), dict(state_dict=state))
