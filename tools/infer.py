"""Label your own LiDAR scans with a trained student: no info files, labels, images or calibration.

    python tools/infer.py MODEL INPUT [INPUT ...] --out-dir DIR [--config CONFIG]
                          [--on-error skip] [--save-classes] [--save-probabilities] [--show] [--device cpu|cuda]

MODEL: an exported student (.onnx, from tools/export_student.py --format onnx; runs with onnxruntime and numpy
alone, the training stack is not imported), or a checkpoint with its --config: a student checkpoint, or an
ELiTe / M2SKD one (its student's weights load; the teacher's are left out).
INPUT: scan files, folders or glob patterns: KITTI .bin (float32 x, y, z, intensity), .pcd (ASCII or binary),
.ply, .npy / .npz (N x 3 or N x 4; a scan without intensity gets zeros, and is named). Writes DIR/<name>.label
(uint32 SemanticKITTI raw ids, as --submit writes them) per scan, and with the flags <name>.npy (class indices),
<name>_probs.npy (softmax, float16) and <name>.png (bird's-eye view). A bad file stops the run (exit 1) with its
name and the fix; with --on-error skip it is reported and left out (exit 0).
"""
import argparse
import sys
from typing import Callable, Tuple

from elite_deploy import ScanReadError, find_scans, run_inference


def exported_model(path: str) -> Tuple[Callable, Callable, list]:
    """(predict, train -> raw ids, palette) of an exported .onnx student."""
    from elite_deploy.onnx_student import OnnxStudent
    student = OnnxStudent(path)
    return student, student.to_raw, student.meta['palette']


def checkpoint_model(config: str, checkpoint: str, device: str) -> Tuple[Callable, Callable, list]:
    """(predict, train -> raw ids, palette) of a checkpoint run by the training stack."""
    import elite  # noqa: F401  (the training stack: registers the plugin)
    from elite.datasets.semantickitti_labels import PALETTE, train_to_raw
    from elite.engine.student_predictor import checkpoint_predictor
    return checkpoint_predictor(config, checkpoint, device), train_to_raw, PALETTE


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='exported student (.onnx), or a checkpoint of --config\'s model')
    parser.add_argument('inputs', nargs='+', help='scan files, folders or glob patterns')
    parser.add_argument('--config', help='the config the checkpoint was trained with (not for .onnx)')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--on-error', choices=['stop', 'skip'], default='stop')
    parser.add_argument('--save-classes', action='store_true', help='also <name>.npy: class indices (uint8)')
    parser.add_argument('--save-probabilities', action='store_true', help='also <name>_probs.npy: (N, 19) softmax')
    parser.add_argument('--show', action='store_true', help="also <name>.png: the labels in bird's-eye view")
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'], help='checkpoints only')
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    onnx = args.model.endswith('.onnx')
    if not onnx and not args.config:
        parser.error(f'{args.model} is a checkpoint: give its --config (or pass an exported .onnx student)')
    scans = find_scans(args.inputs)
    if not scans:
        print(f'error: no scan files in {args.inputs}', file=sys.stderr)
        return 1
    try:
        if onnx:
            predict, to_raw, palette = exported_model(args.model)
        else:
            predict, to_raw, palette = checkpoint_model(args.config, args.model, args.device)
    except (ValueError, KeyError, FileNotFoundError, ImportError) as err:  # a refused checkpoint or model, named
        print(f'error: {err}', file=sys.stderr)
        return 1
    draw = None
    if args.show:
        from elite_deploy.bev import draw_bev
        draw = lambda xyz, classes: draw_bev(xyz, classes, palette)  # noqa: E731
    try:
        summary = run_inference(predict, scans, args.out_dir, to_raw, args.on_error, args.save_classes,
                                args.save_probabilities, draw, progress=not args.no_progress)
    except ScanReadError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'{summary} -> {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
