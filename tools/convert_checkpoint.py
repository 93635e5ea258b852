"""Convert a 2DPASS baseline checkpoint (its 3D network) into an ELiTe student checkpoint for mmengine.

    python tools/convert_checkpoint.py SRC.ckpt DST.pth [--voxel-size 0.1]

The result loads with ``load_from = 'DST.pth'`` in a config (or ``mmengine.runner.load_checkpoint``).
"""
import argparse
import sys

from elite.models.checkpoint_conversion import CheckpointConversionError, convert_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='2DPASS checkpoint (PyTorch Lightning .ckpt or a bare state dict)')
    parser.add_argument('dst', help='output .pth for mmengine')
    parser.add_argument('--voxel-size', type=float, nargs='+', default=[0.1],
                        help='input voxel size in metres, one value or x y z (default 0.1)')
    args = parser.parse_args(argv)
    voxel_size = args.voxel_size[0] if len(args.voxel_size) == 1 else args.voxel_size
    try:
        count = convert_checkpoint(args.src, args.dst, voxel_size)
    except CheckpointConversionError as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'converted {count} tensors: {args.src} -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
