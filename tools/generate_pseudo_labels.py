"""Write SAM pseudo-labels for the labelled camera frames of a SemanticKITTI root.

    python tools/generate_pseudo_labels.py --root data/semantickitti --checkpoint sam_vit_h_4b8939.pth \
        [--model-type vit_h] [--sequences 00 01 ...] [--device cpu|cuda] [--points-per-batch 64] \
        [--downsample nearest|keep_labelled]

Writes sequences/XX/image_2_pseudo/{semantic,instance}/NNNNNN.png (16-bit PNGs; semantic: the reference's
learning_map ids, 0 = unlabelled and c + 1 = mmdet3d class c; instance: the .label files' ids; see
elite/pseudo_labels/writer.py). Frames already done are skipped, so an interrupted run resumes where it stopped.
"""
import argparse
import sys

import torch

from elite.datasets.kitti_files import KittiFormatError
from elite.pseudo_labels import (
    DOWNSAMPLE_MODES,
    INSTANCE_VOTES,
    SAM_MODEL_TYPES,
    SHARED_PIXEL_RULES,
    SamCheckpointError,
    run_pseudo_label_generation,
)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--root', required=True, help='dataset root holding sequences/')
    parser.add_argument('--checkpoint', required=True, help='SAM checkpoint, e.g. sam_vit_h_4b8939.pth')
    parser.add_argument('--model-type', default='vit_h', choices=SAM_MODEL_TYPES,
                        help='SAM type of the checkpoint (default: vit_h, the paper\'s)')
    parser.add_argument('--sequences', nargs='+', help='sequences to label (default: those of 00-10 present)')
    parser.add_argument('--device', choices=['cpu', 'cuda'], help='default: cuda when available')
    parser.add_argument('--points-per-batch', type=int, default=64,
                        help='prompts decoded together (default: 64; lower it if memory runs out)')
    parser.add_argument('--downsample', choices=DOWNSAMPLE_MODES, default='nearest',
                        help="labels to SAM's 256 x 256 prompt grid: 'nearest' (the paper's; about 700 prompts per "
                             "KITTI frame) or 'keep_labelled' (every cell with a labelled pixel; about 12x more)")
    parser.add_argument('--shared-pixel', choices=SHARED_PIXEL_RULES, default='last',
                        help="which of several points on one pixel labels it: 'last' in scan order (the reference's) "
                             "or 'nearest' the LiDAR")
    parser.add_argument('--instance-vote', choices=INSTANCE_VOTES, default='reference',
                        help="a mask's instance: 'reference' (most frequent id among its pixels with a point, not "
                             "painted if 0) or 'within_class' (most frequent of the winning class, always painted)")
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: torch sees no CUDA device; use --device cpu')
    if args.points_per_batch < 1:
        parser.error('--points-per-batch must be at least 1')
    try:
        summary = run_pseudo_label_generation(args.root, args.checkpoint, args.model_type, args.sequences,
                                              args.device, args.points_per_batch, args.downsample,
                                              progress=not args.no_progress, shared_pixel=args.shared_pixel,
                                              instance_vote=args.instance_vote)
    except (SamCheckpointError, KittiFormatError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(summary)
    return 0


if __name__ == '__main__':
    sys.exit(main())
