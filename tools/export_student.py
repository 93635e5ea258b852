"""Export the student of an ELiTe (PPMSKD) checkpoint for deployment with the student-only config.

    python tools/export_student.py work_dirs/elite_semantickitti/epoch_64.pth student.pth
    python tools/test.py configs/spvcnnlite_semantickitti.py student.pth
"""
import argparse
import sys

import elite  # noqa: F401  (first: registers the plugin, quiets third-party import warnings)
from elite.models.student_export import export_student_checkpoint


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('src', help='checkpoint of the distiller (PPMSKD)')
    parser.add_argument('dst', help='where to write the student-only checkpoint')
    args = parser.parse_args(argv)
    try:
        count = export_student_checkpoint(args.src, args.dst)
    except (FileNotFoundError, KeyError) as err:
        print(f'error: {err}', file=sys.stderr)
        return 1
    print(f'exported {count} student tensors: {args.src} -> {args.dst}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
