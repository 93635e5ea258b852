"""Test a checkpoint, as mmdet3d's tools/test.py does, plus SemanticKITTI submissions.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--tta [SCHEME]] [--submit DIR] [--show-dir DIR]
                         [--cfg-options k=v ...] [--launcher none|pytorch|slurm|mpi]

--tta uses the config's tta_model / tta_pipeline (the reference scheme: 12 seeded rotation + translation
views, logits summed); --tta views16 uses views16_tta_model / views16_tta_pipeline (16 fixed flip / rotation /
scale views, softmax averaged), and any SCHEME names {SCHEME}_tta_model / {SCHEME}_tta_pipeline.

--submit DIR writes DIR/sequences/XX/predictions/NNNNNN.label (raw SemanticKITTI ids) for the tested
split; on a labelled split the per-class IoU and mIoU are printed as well. For the unlabelled test split use
e.g. --cfg-options test_dataloader.dataset.ann_file=semantickitti_infos_test.pkl: label loading is
dropped from the pipeline automatically when the infos have no labels.
"""
import argparse
import sys

from mmengine.config import Config

import elite  # noqa: F401  (first: registers the plugin, quiets third-party import warnings)
from elite.engine.hooks import CheckpointCoverageError
from elite.engine.runner_setup import (
    add_launcher_args,
    export_local_rank,
    load_tool_config,
    run_tool,
    setup_runner_config,
    setup_test_config,
)


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save the evaluation metrics')
    parser.add_argument('--tta', nargs='?', const='reference', default=None, metavar='SCHEME',
                        help='test time augmentation: reference (default: tta_model / tta_pipeline) or a scheme '
                             'named in the config, e.g. views16 (views16_tta_model / views16_tta_pipeline)')
    parser.add_argument('--submit', metavar='DIR', help='write SemanticKITTI submission files under DIR')
    parser.add_argument('--show-dir', help='write PNG pictures (bird\'s-eye view, prediction vs ground truth) here')
    parser.add_argument('--show-interval', type=int, default=1, help='picture every N-th sample')
    add_launcher_args(parser)
    args = parser.parse_args(argv)
    export_local_rank(args)
    return args


def build_config(args: argparse.Namespace) -> Config:
    cfg = load_tool_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    cfg.load_from = args.checkpoint
    cfg = setup_test_config(cfg, tta=args.tta, submit_dir=args.submit, show_dir=args.show_dir,
                            show_interval=args.show_interval)
    return setup_runner_config(cfg)


def main(argv=None) -> int:
    args = parse_args(argv)
    return run_tool(lambda: build_config(args), 'test', (CheckpointCoverageError,))


if __name__ == '__main__':
    sys.exit(main())
