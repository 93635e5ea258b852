"""Refuse a checkpoint that does not hold every weight the model runs at inference.

mmengine loads ``load_from`` (and ``tools/test.py``'s checkpoint) with ``strict=False``: a checkpoint of
another model, or a file without a ``state_dict``, only logs a "missing keys" warning, and the run goes on with
random weights (a test then scores them and exits 0). This hook looks at the checkpoint before it is loaded
(``after_load_checkpoint``, for ``load_from``, ``--resume`` and ``tools/test.py`` alike) and stops with a
:class:`CheckpointCoverageError` naming the file and the first missing keys. Extra keys stay allowed: an ELiTe
checkpoint (student + teacher + decoders) loads into the student-only config.
"""
import re
from typing import List

from mmdet3d.registry import HOOKS
from mmengine.hooks import Hook
from torch import nn

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


@HOOKS.register_module()
class CheckpointCoverageHook(Hook):
    """See the module docstring."""
    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else {}
        present = {re.sub(r'^module\.', '', k) for k in state}
        required = inference_state_keys(runner.model)
        missing = [k for k in required if k not in present]
        if missing:
            source = getattr(runner, '_load_from', None) or 'the checkpoint'
            raise CheckpointCoverageError(
                f'{source}: {len(missing)} of the {len(required)} weights this model runs at inference are not in '
                f'the checkpoint (first: {", ".join(missing[:5])}; it holds {len(present)} keys). It belongs to '
                'another model or is not a training checkpoint; pass the checkpoint of this config (tools/'
                'export_student.py writes a distiller\'s student, tools/convert_checkpoint.py converts 2DPASS).')
