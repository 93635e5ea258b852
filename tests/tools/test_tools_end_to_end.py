"""The README's main job and the data benchmark, run in-process on small synthetic data."""
import glob
import json
import os
import re

import cv2
from backends import needs_torchsparse
from tools_loader import load_tool

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_run_demo_writes_overlay(tmp_path, capsys):
    demo = load_tool('run_demo')
    root, work = str(tmp_path / 'synthetic'), str(tmp_path / 'work')
    assert demo.main(['--data-root', root, '--work-dir', work, '--frames', '1', '--points', '3000',
                      '--no-train']) == 0
    out = capsys.readouterr().out
    assert 'on the (320, 1024) crop' in out
    img = cv2.imread(os.path.join(work, 'points_on_image.png'))
    assert img.shape == (640, 1024, 3)
    assert (img[:320] != img[320:]).any(axis=2).sum() > 500  # the points were drawn
    # a second run reuses the generated data and infos, trains, tests and prints the mIoU
    mtime = os.path.getmtime(os.path.join(root, 'semantickitti_infos_train.pkl'))
    assert demo.main(['--data-root', root, '--work-dir', work, '--cfg-options', 'train_cfg.max_epochs=2',
                      'train_cfg.val_interval=2']) == 0
    assert os.path.getmtime(os.path.join(root, 'semantickitti_infos_train.pkl')) == mtime
    assert re.search(r'synthetic validation sequence 08: mIoU \d\.\d{4}', capsys.readouterr().out)


def test_benchmark_data_prints_json(synthetic_root, capsys):
    benchmark = load_tool('benchmark')
    config = os.path.join(os.path.dirname(benchmark.__file__), '..', 'configs/_base_/datasets/semantickitti_mm.py')
    assert benchmark.main(['data', config, '--data-root', synthetic_root, '--samples', '3']) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['samples'] == 3 and result['ms_per_sample'] > 0
    # the pipeline keeps the in-range points (PointsRangeFilter) and then 80-100 % of them (PointSample(0.8))
    from elite.datasets.kitti_files import read_scan
    scans = [read_scan(p) for p in sorted(glob.glob(os.path.join(synthetic_root, 'sequences/00/velodyne/*.bin')))]
    in_range = [int(((s[:, :3] > [-50, -50, -4]) & (s[:, :3] < [50, 50, 2])).all(1).sum()) for s in scans]
    assert 0.8 * min(in_range) <= result['points_per_sample'] <= max(in_range)


def test_benchmark_params_and_latency_print_json(synthetic_root, capsys):
    benchmark = load_tool('benchmark')
    config = os.path.join(os.path.dirname(benchmark.__file__), '..', 'configs/spvcnnlite_semantickitti.py')
    assert benchmark.main(['params', config]) == 0
    params = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert params['components'] == {'student': 1933331} and params['inference'] == 1933331
    assert benchmark.main(['latency', config, '--scans', '1', '--repeats', '1', '--data-root', synthetic_root]) == 0
    latency = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert latency['compare'] == 'minkunet_w32' and latency['student_ms'] > 0 and latency['compare_ms'] > 0
    assert latency['speedup'] == round(latency['compare_ms'] / latency['student_ms'], 2)
    assert latency['points_per_scan'] == 4000


def test_benchmark_teacher_prints_json(synthetic_root, capsys):
    benchmark = load_tool('benchmark')
    config = os.path.join(os.path.dirname(benchmark.__file__), '..', 'configs/elite_demo.py')
    assert benchmark.main(['teacher', config, '--repeats', '1', '--data-root', synthetic_root]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result['variant'] == 'vit_tiny' and result['cut_ms'] > 0 and result['full_ms'] > 0
    assert result['speedup'] == round(result['full_ms'] / result['cut_ms'], 2)
    split = result['train_step']
    assert split['points'] > 0 and all(split[k] >= 0 for k in ('student_fwd_ms', 'teacher_fwd_ms', 'backward_ms'))


@needs_torchsparse
def test_benchmark_latency_on_torchsparse_against_minkunet_on_both_backends(synthetic_root, capsys):
    benchmark = load_tool('benchmark')
    config = os.path.join(REPO, 'configs/spvcnnlite_semantickitti.py')
    assert benchmark.main(['latency', config, '--scans', '1', '--repeats', '1', '--data-root', synthetic_root,
                           '--backend', 'torchsparse', '--compare-backends', 'spconv,torchsparse']) == 0
    latency = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert latency['student_backend'] == 'torchsparse' and set(latency['grids']) == {'reference', 'nested'}
    by_backend = latency['compare_by_backend']
    assert set(by_backend) == {'spconv', 'torchsparse'} and by_backend['spconv']['ms'] == latency['compare_ms']
    assert all(v['ms'] > 0 and v['speedup'] == round(v['ms'] / latency['student_ms'], 2) for v in by_backend.values())
