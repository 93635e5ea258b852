"""Export a trained student: as a student-only checkpoint (.pth), or as ONNX to run without the training stack.

    python tools/export_student.py work_dirs/elite_semantickitti/epoch_64.pth student.pth
    python tools/test.py configs/spvcnnlite_semantickitti.py student.pth

    python tools/export_student.py CHECKPOINT student.onnx --format onnx --config CONFIG
    python tools/infer.py student.onnx scans/ --out-dir labels/      # onnxruntime + numpy only

--format pth: CHECKPOINT is a distiller's (PPMSKD / M2SKD); its backbone.* / decode_head.* weights are kept.
--format onnx: CHECKPOINT is an ELiTe, M2SKD, student or exported-student checkpoint and CONFIG the config it
loads into (its student must be SPVCNNLite). The export is checked against the PyTorch student before it is
written.
"""
import argparse
import sys

import elite  # noqa: F401  (first: registers the plugin, quiets third-party import warnings)
from elite.models.student_export import export_student_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='checkpoint (see above)')
    parser.add_argument('dst', help='where to write the student (.pth or .onnx)')
    parser.add_argument('--format', choices=['pth', 'onnx'], default='pth')
    parser.add_argument('--config', help='--format onnx: the config the checkpoint loads into')
    args = parser.parse_args(argv)
    if args.format == 'onnx' and not args.config:
        parser.error('--format onnx needs --config (the config the checkpoint was trained with)')
    try:
        if args.format == 'onnx':
            from elite.engine.student_onnx_export import export_onnx
            meta = export_onnx(args.config, args.src, args.dst)
            print(f'exported the student to ONNX (opset {meta["opset"]}): {args.src} -> {args.dst}; '
                  f'onnxruntime vs PyTorch on a check scan: max |logit diff| {meta["max_abs_diff"]:.2g}')
        else:
            count = export_student_checkpoint(args.src, args.dst)
            print(f'exported {count} student tensors: {args.src} -> {args.dst}')
    except (FileNotFoundError, KeyError, ValueError, RuntimeError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
