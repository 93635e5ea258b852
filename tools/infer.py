"""Label your own LiDAR scans with a trained student: no info files, labels, images or calibration.

    python tools/infer.py CHECKPOINT INPUT [INPUT ...] --config CONFIG --out-dir DIR
                          [--on-error skip] [--save-classes] [--save-probabilities] [--show] [--device cpu|cuda]

CHECKPOINT: a student checkpoint, or an ELiTe / M2SKD one (its student's weights load; the teacher's are left
out); CONFIG: the student's config (e.g. configs/spvcnnlite_semantickitti.py).
INPUT: scan files, folders or glob patterns: KITTI .bin (float32 x, y, z, intensity), .pcd (ASCII or binary),
.ply, .npy / .npz (N x 3 or N x 4; a scan without intensity gets zeros, and is named). Writes DIR/<name>.label
(uint32 SemanticKITTI raw ids, as --submit writes them) per scan, and with the flags <name>.npy (class indices),
<name>_probs.npy (softmax, float16) and <name>.png (bird's-eye view). A bad file stops the run (exit 1) with its
name and the fix; with --on-error skip it is reported and left out (exit 0).
"""
import argparse
import sys

from elite_deploy import ScanReadError, find_scans, run_inference


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('model', help='checkpoint of --config\'s model')
    parser.add_argument('inputs', nargs='+', help='scan files, folders or glob patterns')
    parser.add_argument('--config', required=True, help='the config the checkpoint was trained with')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--on-error', choices=['stop', 'skip'], default='stop')
    parser.add_argument('--save-classes', action='store_true', help='also <name>.npy: class indices (uint8)')
    parser.add_argument('--save-probabilities', action='store_true', help='also <name>_probs.npy: (N, 19) softmax')
    parser.add_argument('--show', action='store_true', help="also <name>.png: the labels in bird's-eye view")
    parser.add_argument('--device', default='cpu', choices=['cpu', 'cuda'])
    parser.add_argument('--no-progress', action='store_true')
    args = parser.parse_args(argv)
    scans = find_scans(args.inputs)
    if not scans:
        print(f'error: no scan files in {args.inputs}', file=sys.stderr)
        return 1

    import elite  # noqa: F401  (the training stack: registers the plugin)
    from elite.datasets.semantickitti_labels import PALETTE, train_to_raw
    from elite.engine.hooks import CheckpointCoverageError
    from elite.engine.student_predictor import checkpoint_predictor
    from elite.visualization.bev import draw_bev
    try:
        predict = checkpoint_predictor(args.config, args.model, args.device)
    except (CheckpointCoverageError, FileNotFoundError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    draw = (lambda xyz, classes: draw_bev(xyz, classes, PALETTE)) if args.show else None
    try:
        summary = run_inference(predict, scans, args.out_dir, train_to_raw, args.on_error, args.save_classes,
                                args.save_probabilities, draw, progress=not args.no_progress)
    except ScanReadError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'{summary} -> {args.out_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
