"""Check the GPU paths on a machine with a CUDA GPU, in one command; one PASS / FAIL / SKIP line per check.

    .venv/bin/python tools/gpu_acceptance.py [--checks train ddp devices backends plg timing]
                                             [--kitti-frame DIR] [--out FILE.json]

Checks: fp32 and AMP training steps of the main configs on spconv and torchsparse (if installed); a 2-process
DDP run; the student's logits on the GPU vs the CPU on a full scan; spconv vs torchsparse on the GPU; SAM-PLG with
--device cuda on one frame; the student's and the training steps' timings. Takes about 10 minutes. Exits 1 if a
check fails. On a machine without CUDA it says so and exits 0, claiming nothing.
"""
import argparse
import json
import sys

import torch

import elite  # noqa: F401  (registers the plugin)
from elite.benchmark.gpu_acceptance import CHECKS, run_checks


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--checks', nargs='+', default=list(CHECKS), choices=CHECKS)
    parser.add_argument('--kitti-frame', help='a KITTI scan (.bin) or frame folder with velodyne/000000.bin for the '
                                              'full-scan comparisons (default: a 120,000-point synthetic scan)')
    parser.add_argument('--out', help='also write the results as JSON here')
    parser.add_argument('--device', default='cuda', choices=['cuda', 'cpu'],
                        help='cpu: run the device-independent checks on the CPU (tests this script; proves nothing '
                             'about GPUs)')
    parser.add_argument('--configs', nargs='+', help='training configs of the train check (default: the demos)')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        print('no CUDA device here (torch.cuda.is_available() is False): nothing was checked. Run this script on a '
              'machine with a CUDA GPU and the CUDA builds of torch and spconv (see docs/install.md, GPU installs).')
        return 0
    kwargs = dict(configs=args.configs) if args.configs else {}
    results = run_checks(args.checks, args.device, args.kitti_frame, **kwargs)
    failed = [r for r in results if r.status == 'FAIL']
    print(f'\n{len(results) - len(failed)} of {len(results)} lines without failure'
          + (f'; FAILED: {", ".join(r.name for r in failed)}' if failed else ''))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump([r.__dict__ for r in results], f, indent=1)
    return 1 if failed else 0


if __name__ == '__main__':
    sys.exit(main())
