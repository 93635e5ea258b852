"""Write the student of a distillation checkpoint alone, loadable by the baseline (student-only) config."""
import os
from collections import OrderedDict

import torch

STUDENT_PREFIXES = ('backbone.', 'decode_head.')


def export_student_checkpoint(src: str, dst: str) -> int:
    """Copy the ``backbone.*`` / ``decode_head.*`` weights of ``src`` (a PPMSKD / M2SKD checkpoint) to ``dst``.

    Returns the number of tensors written. The teacher, decoders and optimiser state are dropped; the
    result loads with ``load_from`` into a :class:`PointVoxelSegmentor` config with the same student.
    """
    if not os.path.isfile(src):
        raise FileNotFoundError(f'{src}: checkpoint not found')
    checkpoint = torch.load(src, map_location='cpu', weights_only=False)
    state = checkpoint.get('state_dict', checkpoint)
    student = OrderedDict((k, v) for k, v in state.items() if k.startswith(STUDENT_PREFIXES))
    if not student:
        raise KeyError(f'{src}: no backbone.* / decode_head.* weights; is it a checkpoint of an ELiTe model?')
    metadata = getattr(state, '_metadata', None)
    if metadata is not None:  # keeps spconv's layout version, which mmdet3d's spconv loader checks
        student._metadata = OrderedDict((k, v) for k, v in metadata.items() if k.startswith(
            tuple(p.rstrip('.') for p in STUDENT_PREFIXES)) or k == '')
    meta = dict(checkpoint.get('meta', {}), exported_from=os.path.abspath(src))
    os.makedirs(os.path.dirname(os.path.abspath(dst)), exist_ok=True)
    torch.save(dict(state_dict=student, meta=meta), dst)
    return len(student)
