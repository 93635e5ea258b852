"""Write a synthetic SemanticKITTI (real layout: velodyne, labels, image_2, calib.txt, poses.txt).

    python tools/make_synthetic_semantickitti.py --out data/synthetic_kitti            # full size
    python tools/make_synthetic_semantickitti.py --out /tmp/tiny --tiny                # for tests

Sequences 00-10 get labels; 11-21 are test sequences without labels, as in the real benchmark.
Deterministic for a given --seed.
"""
import argparse
import sys

from tqdm import tqdm

from elite.datasets.synthetic import FULL_IMAGE_SIZE, write_dataset


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out', required=True, help='dataset root to write (sequences/ goes under it)')
    parser.add_argument('--sequences', nargs='+', default=['00', '08', '11'],
                        help='sequence ids (train 00-07/09/10, val 08, test 11-21); default: 00 08 11')
    parser.add_argument('--frames', type=int, help='frames per sequence (default 4; 2 with --tiny)')
    parser.add_argument('--points', type=int, help='points per scan (default 120000, full size; 4000 with --tiny)')
    parser.add_argument('--image-size', type=int, nargs=2, default=list(FULL_IMAGE_SIZE), metavar=('W', 'H'))
    parser.add_argument('--tiny', action='store_true', help='small scans and few frames, for tests')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    if args.points is None:
        args.points = 4000 if args.tiny else 120000
    if args.frames is None:
        args.frames = 2 if args.tiny else 4
    write_dataset(args.out, args.sequences, args.frames, args.points, args.seed, tuple(args.image_size),
                  progress=lambda seqs: tqdm(seqs, desc='sequences', unit='seq'))
    print(f'wrote {len(args.sequences)} sequence(s) x {args.frames} frame(s) under {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
