"""Benchmarks; every subcommand prints one JSON object as its last line.

    python tools/benchmark.py data CONFIG [--data-root DIR] [--samples N]
        time per sample of CONFIG's training data pipeline on full-size synthetic frames, one core
        (target: under 100 ms).
    python tools/benchmark.py params CONFIG
        {"inference": N, "trainable": N, "frozen": N, "components": {"student": N, ...}} (random weights).
    python tools/benchmark.py latency CONFIG [--compare minkunet_w32|none] [--backend spconv|torchsparse]
                                      [--compare-backends spconv,torchsparse] [--scans N] [--repeats N]
        student inference latency (preprocessing + forward, batch 1) on full-size synthetic scans, median
        after warm-up (and range), both grid modes of an SPVCNNLite student, beside mmdet3d's MinkUNet W32 on the
        same spconv backend and scans
        (target: speedup of at least 4 on the CPU).
    python tools/benchmark.py latency CONFIG --deployed [--compare minkunet_w32|none] [--scans N] [--repeats N]
        the deployed student (exported ONNX: numpy plan + onnxruntime, as tools/infer.py runs it) beside the
        training stack's student (spconv) and the comparison model, in turns on the same scans: "deployed_ms" beside
        "student_ms", the plan alone, peak memory, and the student's multiply-adds on the scan with the rate the
        deployed path achieves (target: 100 ms per 120,000-point scan; at least 200 ms).
    python tools/benchmark.py teacher CONFIG [--repeats N] [--no-step-split]
        {"cut_ms", "full_ms", "speedup", "cut_peak_mb", "full_peak_mb", ...}: the teacher's forward + backward
        with token cut vs without on a 1024 x 320 crop (target speedup: at least 6), and "train_step": one
        distillation training step split into student / teacher / decoders forward and the backward.
    python tools/benchmark.py pseudo-labels [--images N] [--model-type vit_b]
        SAM-PLG on full-size synthetic frames with random SAM weights: prompts per second, seconds per image,
        prompts per image and image-encoder runs (one per image).
    python tools/benchmark.py host-syncs CONFIG
        operations that make the host wait for a GPU (value reads, data-dependent sizes) in the student's inference
        and training forward + backward, counted on any device.
"""
import argparse
import json
import sys

import elite  # noqa: F401  (first: registers the plugin, quiets third-party import warnings)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest='command', required=True)
    data = sub.add_parser('data', help='time the training data pipeline')
    data.add_argument('config')
    data.add_argument('--data-root', help='dataset root with infos (default: full-size synthetic frames, '
                                          'generated once under data/benchmark_kitti)')
    data.add_argument('--samples', type=int, default=20)
    params = sub.add_parser('params', help='count parameters')
    params.add_argument('config')
    latency = sub.add_parser('latency', help='time student inference')
    latency.add_argument('config')
    latency.add_argument('--compare', default='minkunet_w32', help="comparison model, or 'none'")
    latency.add_argument('--backend', choices=['spconv', 'torchsparse', 'kernel_map'],
                         help="the student's sparse backend (default: the config's)")
    latency.add_argument('--compare-backends', default='spconv',
                         help='comma-separated sparse backends to run the comparison model on (speedup vs the first)')
    latency.add_argument('--deployed', action='store_true', help='time the exported student (see above)')
    latency.add_argument('--scans', type=int, default=4)
    latency.add_argument('--repeats', type=int, default=10)
    latency.add_argument('--data-root', default='data/benchmark_kitti',
                         help='dataset root with infos (default: full-size synthetic frames, generated once)')
    teacher = sub.add_parser('teacher', help='time the teacher with and without token cut')
    teacher.add_argument('config')
    teacher.add_argument('--repeats', type=int, default=3)
    teacher.add_argument('--no-step-split', action='store_true', help='skip the training-step split')
    teacher.add_argument('--data-root', default='data/benchmark_kitti')
    plg = sub.add_parser('pseudo-labels', help='time SAM pseudo-label generation')
    plg.add_argument('--images', type=int, default=1)
    plg.add_argument('--model-type', default='vit_b')
    syncs = sub.add_parser('host-syncs', help='count host-syncing operations of the student')
    syncs.add_argument('config')
    args = parser.parse_args(argv)

    if args.command == 'data':
        from elite.benchmark.data_pipeline import time_data_pipeline
        result = time_data_pipeline(args.config, args.data_root, args.samples)
    elif args.command == 'params':
        from elite.benchmark.model_stats import build_model, parameter_report
        result = parameter_report(build_model(args.config))
    elif args.command == 'teacher':
        from elite.benchmark.teacher import teacher_report, training_step_split
        result = teacher_report(args.config, repeats=args.repeats)
        if not args.no_step_split:
            result['train_step'] = training_step_split(args.config, args.data_root, repeats=args.repeats)
    elif args.command == 'host-syncs':
        from elite.benchmark.host_syncs import student_host_syncs
        result = student_host_syncs(args.config)
    elif args.command == 'pseudo-labels':
        from elite.benchmark.pseudo_labels import pseudo_label_speed
        result = pseudo_label_speed(images=args.images, model_type=args.model_type)
    elif args.deployed:
        from elite.benchmark.deployed import deployed_latency_report
        result = deployed_latency_report(args.config, None if args.compare == 'none' else args.compare, args.scans,
                                         args.repeats, data_root=args.data_root)
    else:
        from elite.benchmark.model_stats import latency_report
        compare = None if args.compare == 'none' else args.compare
        result = latency_report(args.config, compare, args.scans, args.repeats, data_root=args.data_root,
                                backend=args.backend, compare_backends=args.compare_backends.split(','))
    print(json.dumps(result))
    return 0


if __name__ == '__main__':
    sys.exit(main())
