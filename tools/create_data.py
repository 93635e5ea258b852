"""Build dataset info files, as mmdet3d's tools/create_data.py does.

    python tools/create_data.py semantickitti --root-path data/semantickitti \
        --out-dir data/semantickitti --extra-tag semantickitti [--on-error stop|skip]
"""
import argparse
import sys

from elite.datasets.kitti_files import KittiFormatError
from elite.datasets.semantickitti_infos import create_semantickitti_infos


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('dataset', choices=['semantickitti'])
    parser.add_argument('--root-path', required=True, help='dataset root holding sequences/')
    parser.add_argument('--out-dir', help='where the .pkl files go (default: the root path)')
    parser.add_argument('--extra-tag', default='semantickitti', help='file name prefix')
    parser.add_argument('--on-error', choices=['stop', 'skip'], default='stop',
                        help='on a bad file: stop with its error (default) or skip the frame and count it')
    args = parser.parse_args(argv)
    try:
        create_semantickitti_infos(args.root_path, args.out_dir, args.extra_tag, args.on_error)
    except KittiFormatError as err:
        print(f'error: {err}\n(rerun with --on-error skip to leave bad frames out)', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
