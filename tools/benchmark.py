"""Benchmarks; every subcommand prints one JSON object as its last line.

    python tools/benchmark.py data CONFIG [--data-root DIR] [--samples N]
        time per sample of CONFIG's training data pipeline on full-size synthetic frames, one core
        (target: under 100 ms).
"""
import argparse
import json
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    data = sub.add_parser('data', help='time the training data pipeline')
    data.add_argument('config')
    data.add_argument('--data-root', help='dataset root with infos (default: full-size synthetic frames, '
                                          'generated once under data/benchmark_kitti)')
    data.add_argument('--samples', type=int, default=20)
    args = parser.parse_args(argv)

    if args.command == 'data':
        from elite.benchmark.data_pipeline import time_data_pipeline
        result = time_data_pipeline(args.config, args.data_root, args.samples)
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
