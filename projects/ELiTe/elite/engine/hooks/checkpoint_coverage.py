"""Refuse a checkpoint that does not hold every weight the model runs at inference.

mmengine loads ``load_from`` (and ``tools/test.py``'s checkpoint) with ``strict=False``: a checkpoint of
another model, or a file without a ``state_dict``, only logs a "missing keys" warning, and the run goes on with
random weights (a test then scores them and exits 0); a weight of another shape is skipped the same way. This
hook looks at the checkpoint before it is loaded (``after_load_checkpoint``, for ``load_from``, ``--resume`` and
``tools/test.py`` alike) and stops with a :class:`CheckpointCoverageError` naming the file and the first missing
or mis-shaped keys. Extra keys stay allowed: an ELiTe checkpoint (student + teacher + decoders) loads into the
student-only config.

Shapes are compared as the weights will be loaded: mmdet3d's loader for spconv modules permutes a sparse
convolution's weight from spconv 1's layout unless the checkpoint's metadata marks that module version 2
(:func:`shape_as_loaded`), so a weight saved without that mark is refused here rather than loaded wrongly.
"""
import re
from collections import OrderedDict
from typing import List, Mapping, Optional, Tuple

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from torch import Tensor, nn

from .wrapping import unwrap_model

INFERENCE_MODULES = ('backbone', 'neck', 'decode_head')  # what an mmdet3d segmentor runs at inference


class CheckpointCoverageError(KeyError):
    """The checkpoint lacks weights of the model's inference path."""

    def __str__(self) -> str:  # KeyError would quote the whole message
        return str(self.args[0])


def inference_state_keys(model: nn.Module) -> List[str]:
    """State-dict keys of the modules ``model`` runs at inference (the student of a distiller, every weight of
    a model without a ``backbone``); wrappers (DDP, TTA) are looked through."""
    model = unwrap_model(model)
    keys = list(model.state_dict())
    if not hasattr(model, 'backbone'):
        return keys
    return [k for k in keys if k.split('.', 1)[0] in INFERENCE_MODULES]


def shape_as_loaded(module: Optional[nn.Module], value: Tensor, version: Optional[int]) -> Tuple[int, ...]:
    """The shape ``value`` takes when loaded into ``module``: mmdet3d's spconv loader (``register_spconv2``)
    moves the last axis first on every spconv module saved with a version other than 2."""
    shape = tuple(value.shape)
    if version != 2 and type(module)._load_from_state_dict.__module__.startswith('mmdet3d.') and len(shape) > 1:
        return shape[-1:] + shape[:-1]
    return shape


def mismatched_shapes(model: nn.Module, state: Mapping[str, Tensor], keys: List[str]) -> List[str]:
    """``'key: checkpoint (shape) vs model (shape)'`` for each of ``keys`` whose checkpoint weight would not load."""
    model = unwrap_model(model)
    own = model.state_dict()
    metadata = getattr(state, '_metadata', None) or {}
    modules = dict(model.named_modules())
    problems = []
    for key in keys:
        if key not in state or not hasattr(state[key], 'shape'):
            continue
        owner = key.rsplit('.', 1)[0] if '.' in key else ''
        version = metadata.get(owner, {}).get('version')
        loaded = shape_as_loaded(modules.get(owner), state[key], version)
        if loaded != tuple(own[key].shape):
            problems.append(f'{key}: checkpoint {tuple(state[key].shape)}'
                            + (f' (loaded as {loaded}, module version {version})' if loaded != tuple(state[key].shape)
                               else '') + f' vs model {tuple(own[key].shape)}')
    return problems


@HOOKS.register_module()
class CheckpointCoverageHook(Hook):
    """See the module docstring."""
    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
        present = OrderedDict((re.sub(r'^module\.', '', k), v) for k, v in state.items())  # DDP's prefix off
        present._metadata = {re.sub(r'^module(\.|$)', '', k): v for k, v in getattr(state, '_metadata', {}).items()}
        required = inference_state_keys(runner.model)
        missing = [k for k in required if k not in present]
        source = getattr(runner, '_load_from', None) or 'the checkpoint'
        if missing:
            raise CheckpointCoverageError(
                f'{source}: {len(missing)} of the {len(required)} weights this model runs at inference are not in '
                f'the checkpoint (first: {", ".join(missing[:5])}; it holds {len(present)} keys). It belongs to '
                'another model or is not a training checkpoint; pass the checkpoint of this config (tools/'
                'export_student.py writes a distiller\'s student, tools/convert_checkpoint.py converts 2DPASS).')
        mismatched = mismatched_shapes(runner.model, present, required)
        if mismatched:
            raise CheckpointCoverageError(
                f'{source}: {len(mismatched)} of the {len(required)} weights this model runs at inference have '
                f'another shape in the checkpoint (first: {"; ".join(mismatched[:3])}). It belongs to another '
                'model (other widths or classes), or its sparse convolutions were saved without the spconv-2 '
                'layout mark (module version 2) that torchsparse and spconv students both write; pass the '
                'checkpoint of this config.')
