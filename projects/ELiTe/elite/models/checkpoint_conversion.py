"""Convert a 2DPASS baseline checkpoint (its 3D network, ``model_3d.*``) into an ELiTe student checkpoint.

2DPASS's baseline 3D network (yanx27/2DPASS ``network/baseline.py`` with ``network/voxel_fea_generator.py`` and
``network/basic_block.py``; not ``network/spvcnn.py``, a different torchsparse U-Net) is the same point-voxel
network as our :class:`~elite.models.SPVCNNLite` (with its default ``grid='reference'``) +
:class:`~elite.models.SPVCNNLiteHead`, under other names and with three layout differences, each handled
below: spconv's 1 x 1 convolution quirk, the reversed axis order of its sparse indices, and voxel offsets
measured from the voxel's corner instead of its centre. The result is an mmengine checkpoint,
``{'state_dict': ..., 'meta': ...}``, keyed as in
:class:`~elite.models.PointVoxelSegmentor` (``backbone.*``, ``decode_head.*``).
"""
import _compat_pickle
import os
import pickle
import re
from collections import OrderedDict
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import torch
from torch import Tensor, nn

PREFIX_3D = 'model_3d.'
# The loss module of 2DPASS holds a buffer (the class weights of its cross-entropy,
# ``criterion.ce_loss.weight``); losses have no weights in our model, so the whole branch is dropped.
DROPPED_PREFIXES = ('criterion.',)
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_LINEAR = r'(weight|bias)'


class CheckpointConversionError(ValueError):
    """The source checkpoint does not match the 2DPASS network or our student."""


def _shortcut(weight: Tensor) -> Tensor:
    # spconv 2.x runs a 1 x 1 x 1 SubMConv3d as ``features @ weight.view(in, out)``: its (out, 1, 1, 1, in)
    # tensor is reinterpreted as (in, out) without a transpose (a known spconv quirk). nn.Linear computes
    # ``x @ W.T``, so W (out, in) = weight.reshape(in, out).T.
    out_channels, in_channels = weight.shape[0], weight.shape[-1]
    return weight.reshape(in_channels, out_channels).t().contiguous()


def _conv3x3(weight: Tensor) -> Tensor:
    # 2DPASS's sparse indices are [b, z, y, x] (spatial axes reversed), so its kernel is
    # (out, kz, ky, kx, in); ours uses [b, x, y, z] indices and a (out, kx, ky, kz, in) kernel.
    return weight.permute(0, 3, 2, 1, 4).contiguous()


def _drop_unlabeled(tensor: Tensor) -> Tensor:
    # 2DPASS has one more class, 0 = 'unlabeled' (ignored in training); its classes 1..K are mmdet3d's
    # 0..K-1 in the same order, so the first output row goes.
    return tensor[1:].contiguous()


# (2DPASS key without the ``model_3d.`` prefix, our key, transform); the first matching rule applies.
_RULES: List[Tuple[str, str, Optional[Callable[[Tensor], Tensor]]]] = [
    # voxel_3d_generator.PPmodel (10 -> 64, ReLU, 64 -> 64) -> backbone.point_mlp, same indices (the
    # first bias is also corrected for the voxel-centre offsets, see ``_fold_centre_offset``).
    (rf'voxel_3d_generator\.PPmodel\.(\d+)\.{_LINEAR}', r'backbone.point_mlp.\1.\2', None),
    # spv_enc.i -> backbone.stages.i; v_enc.j -> voxel_blocks.j (the residual blocks);
    # layers_in.0 (1 x 1 SubMConv3d) -> shortcut (nn.Linear), layers_in.1 (BN) -> shortcut_norm.
    (r'spv_enc\.(\d+)\.v_enc\.(\d+)\.layers_in\.0\.weight',
     r'backbone.stages.\1.voxel_blocks.\2.shortcut.weight', _shortcut),
    (rf'spv_enc\.(\d+)\.v_enc\.(\d+)\.layers_in\.1\.{_BN}', r'backbone.stages.\1.voxel_blocks.\2.shortcut_norm.\3',
     None),
    # layers.0 / layers.3 (3 x 3 x 3 SubMConv3d) -> conv1 / conv2; layers.1 / layers.4 (BN) -> norm1 / norm2
    # (layers.2 is a LeakyReLU, without weights). BN buffers map one to one.
    (r'spv_enc\.(\d+)\.v_enc\.(\d+)\.layers\.0\.weight', r'backbone.stages.\1.voxel_blocks.\2.conv1.weight',
     _conv3x3),
    (rf'spv_enc\.(\d+)\.v_enc\.(\d+)\.layers\.1\.{_BN}', r'backbone.stages.\1.voxel_blocks.\2.norm1.\3', None),
    (r'spv_enc\.(\d+)\.v_enc\.(\d+)\.layers\.3\.weight', r'backbone.stages.\1.voxel_blocks.\2.conv2.weight',
     _conv3x3),
    (rf'spv_enc\.(\d+)\.v_enc\.(\d+)\.layers\.4\.{_BN}', r'backbone.stages.\1.voxel_blocks.\2.norm2.\3', None),
    # The point encoder p_enc -> point_branch: layer_in -> layer_in, PPmodel -> context, layer_out ->
    # layer_out, all with the same sub-indices (the same nn.Sequential layouts).
    (rf'spv_enc\.(\d+)\.p_enc\.layer_in\.(\d+)\.{_LINEAR}', r'backbone.stages.\1.point_branch.layer_in.\2.\3', None),
    (rf'spv_enc\.(\d+)\.p_enc\.PPmodel\.(\d+)\.{_BN}', r'backbone.stages.\1.point_branch.context.\2.\3', None),
    (rf'spv_enc\.(\d+)\.p_enc\.layer_out\.(\d+)\.{_LINEAR}', r'backbone.stages.\1.point_branch.layer_out.\2.\3',
     None),
    # classifier.0 / .2 (256 -> 128, ReLU, 128 -> K + 1) -> decode_head.conv_seg.0 / .2.
    (rf'classifier\.0\.{_LINEAR}', r'decode_head.conv_seg.0.\1', None),
    (rf'classifier\.2\.{_LINEAR}', r'decode_head.conv_seg.2.\1', _drop_unlabeled),
]
_COMPILED = [(re.compile(pattern), target, transform) for pattern, target, transform in _RULES]


def _match(key: str) -> Optional[Tuple[str, Optional[Callable[[Tensor], Tensor]]]]:
    for pattern, target, transform in _COMPILED:
        if pattern.fullmatch(key):
            return pattern.sub(target, key), transform
    return None


def _fold_centre_offset(weight: Tensor, bias: Tensor, voxel_size: Sequence[float]) -> Tensor:
    # The last 3 of the 10 point features (columns 7:10 of W) are offsets to the point's voxel: to its
    # CENTRE in ours, to its MIN CORNER in 2DPASS (``grid_ind * intervals + min``), so ours = theirs -
    # voxel_size / 2 per axis. Adding W[:, 7:10] @ (voxel_size / 2) to the first bias keeps the layer's
    # output identical (0.05 * W[:, 7:10].sum(1) for 0.1 m voxels).
    half = torch.as_tensor(voxel_size, dtype=torch.float64) / 2
    correction = weight[:, -3:].double() @ half
    return (bias.double() + correction).to(bias.dtype)


def _voxel_size_xyz(voxel_size: Union[float, Sequence[float]]) -> List[float]:
    size = [float(voxel_size)] * 3 if isinstance(voxel_size, (int, float)) else [float(v) for v in voxel_size]
    if len(size) != 3 or min(size) <= 0:
        raise CheckpointConversionError(f'voxel size must be one positive number or three, got {voxel_size!r}')
    return size


def student_state_template(num_classes: int = 19) -> 'OrderedDict[str, Tensor]':
    """The state dict of our segmentor's backbone and decode head (default settings), for keys and shapes."""
    from .backbones import SPVCNNLite
    from .decode_heads import SPVCNNLiteHead
    holder = nn.Module()
    holder.backbone = SPVCNNLite()
    holder.decode_head = SPVCNNLiteHead(num_classes=num_classes, loss_lovasz=None)
    return holder.state_dict()


def extract_3d_state_dict(checkpoint: Mapping) -> 'OrderedDict[str, Tensor]':
    """The 3D network's tensors, keys without ``model_3d.``, from a Lightning checkpoint or a state dict.

    With any ``model_3d.`` key present, only those keys are used (``model_2d.*``, ``fusion.*`` and other
    parts of 2DPASS are ignored); otherwise every key is taken as a 3D-network key.
    """
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, Mapping) else None
    if not isinstance(state, Mapping):
        raise CheckpointConversionError(f'expected a checkpoint dict or a state dict, got {type(checkpoint)}')
    if any(k.startswith(PREFIX_3D) for k in state):
        state = {k[len(PREFIX_3D):]: v for k, v in state.items() if k.startswith(PREFIX_3D)}
    return OrderedDict((k, v) for k, v in state.items() if not k.startswith(DROPPED_PREFIXES))


def convert_2dpass_state_dict(checkpoint: Mapping, voxel_size: Union[float, Sequence[float]] = 0.1,
                              template: Optional[Mapping[str, Tensor]] = None) -> 'OrderedDict[str, Tensor]':
    """Our segmentor's state dict from a 2DPASS checkpoint (see the module docstring).

    Args:
        checkpoint: a Lightning checkpoint (``{'state_dict': ...}``) or a bare state dict, keys with or
            without ``model_3d.``.
        voxel_size: the input voxel size in metres (one number or x, y, z), for the offset correction.
        template: our model's state dict to fill (keys and shapes); default: a freshly built student with
            as many classes as the 2DPASS classifier minus 'unlabeled'.

    Returns:
        An OrderedDict whose ``_metadata`` marks the sparse convolutions as spconv-2 layout (version 2), so
        mmdet3d's spconv load hook does not permute them.

    Raises:
        CheckpointConversionError: a key without a mapping, a key of ours left without a value, or a shape
            mismatch; the message names the key.
    """
    size = _voxel_size_xyz(voxel_size)
    source = extract_3d_state_dict(checkpoint)
    if template is None:
        classifier = source.get('classifier.2.weight')
        if classifier is None:
            raise CheckpointConversionError(f'missing 2DPASS key {PREFIX_3D}classifier.2.weight')
        template = student_state_template(num_classes=classifier.shape[0] - 1)

    converted: 'OrderedDict[str, Tensor]' = OrderedDict()
    for key, value in source.items():
        match = _match(key)
        if match is None:
            raise CheckpointConversionError(f'unexpected 2DPASS key {PREFIX_3D}{key}: no mapping to the student')
        target, transform = match
        if target not in template:
            raise CheckpointConversionError(
                f'2DPASS key {PREFIX_3D}{key} maps to {target}, which the student does not have')
        if not isinstance(value, Tensor):
            raise CheckpointConversionError(f'2DPASS key {PREFIX_3D}{key} holds a {type(value).__name__}, '
                                            'not a tensor')
        expected = tuple(template[target].shape)
        try:
            converted[target] = transform(value) if transform else value
        except RuntimeError:  # a reshape or permute that the source shape does not allow
            converted[target] = value
        if tuple(converted[target].shape) != expected:
            raise CheckpointConversionError(
                f'shape mismatch: 2DPASS {PREFIX_3D}{key} {tuple(value.shape)} does not give {target} '
                f'{expected}')

    missing = [k for k in template if k not in converted]
    if missing:
        shown = ', '.join(missing[:5]) + (f' ... ({len(missing)} in all)' if len(missing) > 5 else '')
        raise CheckpointConversionError(f'no 2DPASS value for student key(s): {shown}')
    converted['backbone.point_mlp.0.bias'] = _fold_centre_offset(
        converted['backbone.point_mlp.0.weight'], converted['backbone.point_mlp.0.bias'], size)

    result = OrderedDict((k, converted[k].detach().clone()) for k in template)
    # mmdet3d replaces spconv's ``SparseModule._load_from_state_dict`` (overwrite_spconv/write_spconv2.py):
    # unless a sparse conv's metadata says ``version: 2``, its weight is taken as the old mmcv/spconv-1
    # layout and permuted on load. Our kernels are already spconv-2 layout (out, kx, ky, kz, in), so mark
    # them, as ``model.state_dict()`` does once that hook is registered.
    result._metadata = OrderedDict(
        (k.rsplit('.', 1)[0], {'version': 2}) for k, v in result.items() if v.dim() == 5)
    return result


class InertObject(dict):
    """Stands in, when reading a checkpoint, for a class or function outside torch's ``weights_only``
    allowlist (2DPASS's EasyDict config, Lightning's AttributeDict, ...): it accepts any arguments, items and
    state, and runs nothing. Only the tensors are needed."""

    def __new__(cls, *args, **kwargs):
        return super().__new__(cls)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__()

    def __setstate__(self, state) -> None:
        self.__dict__['_state'] = state

    def append(self, item) -> None:
        self.setdefault('_items', []).append(item)

    def extend(self, items) -> None:
        self.setdefault('_items', []).extend(items)


class _InertUnpickler(pickle.Unpickler):
    """Resolves only the globals torch's ``weights_only`` loader allows; any other becomes a subclass of
    :class:`InertObject` named after it, so nothing from the checkpoint is imported or called."""

    def find_class(self, module: str, name: str):
        from torch._weights_only_unpickler import _get_allowed_globals
        allowed = _get_allowed_globals()
        # protocol-2 pickles (torch.save's default) name Python 2 modules, e.g. __builtin__.set
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        full_name = f'{module}.{name}'
        if full_name in allowed:
            return allowed[full_name]
        return type(name, (InertObject,), {'__module__': __name__, 'stands_for': full_name})


class _InertPickleModule:
    """The ``pickle_module`` interface ``torch.load`` uses."""
    Unpickler = _InertUnpickler

    @staticmethod
    def load(file, **kwargs):
        return _InertUnpickler(file, **kwargs).load()


def load_source_checkpoint(path: str) -> Dict:
    """Read a checkpoint's tensors without running code from it.

    ``torch.load(weights_only=True)`` first; a Lightning checkpoint it refuses (its hyper-parameters hold
    classes such as 2DPASS's EasyDict config) is read again with every non-allowlisted class or function
    replaced by an :class:`InertObject`, which also needs neither easydict nor Lightning installed.
    """
    if not os.path.isfile(path):
        raise CheckpointConversionError(f'checkpoint not found: {path}')
    try:
        try:
            return torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError:
            return torch.load(path, map_location='cpu', weights_only=False, pickle_module=_InertPickleModule)
    except Exception as err:  # a corrupt or foreign file: report it, whatever the loader raised
        raise CheckpointConversionError(f'cannot read checkpoint {path}: {err}') from err


def convert_checkpoint(src: str, dst: str, voxel_size: Union[float, Sequence[float]] = 0.1) -> int:
    """Convert the 2DPASS checkpoint ``src`` and save it for mmengine at ``dst``; returns the tensor count."""
    state_dict = convert_2dpass_state_dict(load_source_checkpoint(src), voxel_size)
    meta = dict(converted_from='2DPASS', source=os.path.basename(src), voxel_size=_voxel_size_xyz(voxel_size),
                num_classes=int(state_dict['decode_head.conv_seg.2.weight'].shape[0]))
    out_dir = os.path.dirname(os.path.abspath(dst))
    os.makedirs(out_dir, exist_ok=True)
    torch.save({'state_dict': state_dict, 'meta': meta}, dst)
    return len(state_dict)
