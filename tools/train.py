"""Train a model from a config, as mmdet3d's tools/train.py does (plus the elite plugin).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--auto-scale-lr]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]
"""
import argparse
import sys

from mmengine.config import Config

import elite  # noqa: F401  (first: registers the plugin, quiets third-party import warnings)
from elite.engine.hooks import CheckpointCoverageError, NonFiniteTrainingError
from elite.engine.runner_setup import (
    add_launcher_args,
    export_local_rank,
    load_tool_config,
    newest_complete_checkpoint,
    run_tool,
    setup_runner_config,
    use_amp,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (needs a GPU)')
    parser.add_argument('--auto-scale-lr', action='store_true', help='scale the lr with the total batch size')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_tool_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    if args.amp:
        use_amp(cfg)
    if args.auto_scale_lr:
        if 'auto_scale_lr' not in cfg or 'base_batch_size' not in cfg.auto_scale_lr:
            raise KeyError('--auto-scale-lr needs auto_scale_lr.base_batch_size in the config')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':  # the newest checkpoint written completely (mmengine would take a truncated one)
        cfg.resume, cfg.load_from = True, newest_complete_checkpoint(cfg.work_dir)
    elif args.resume is not None:
        cfg.resume, cfg.load_from = True, args.resume
    return setup_runner_config(cfg, amp=args.amp)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(lambda: build_config(args), 'train', (NonFiniteTrainingError, CheckpointCoverageError))


if __name__ == '__main__':
    sys.exit(main())
