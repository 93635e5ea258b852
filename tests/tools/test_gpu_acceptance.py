"""tools/gpu_acceptance.py: says it checked nothing without CUDA; its training check runs (on the CPU here)."""
import json

import pytest
import torch
from tools_loader import load_tool


def test_without_cuda_it_says_so_and_claims_nothing(capsys):
    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA: the script would run its checks')
    assert load_tool('gpu_acceptance').main([]) == 0
    out = capsys.readouterr().out
    assert 'no CUDA device here' in out and 'nothing was checked' in out and 'PASS' not in out


def test_training_check_reports_one_line_per_backend(tmp_path, capsys):
    out_file = str(tmp_path / 'results.json')
    code = load_tool('gpu_acceptance').main(['--device', 'cpu', '--checks', 'train', 'ddp', '--configs',
                                             'configs/spvcnnlite_demo.py', '--out', out_file])
    assert code == 0, capsys.readouterr().out
    results = json.load(open(out_file))
    train = [r for r in results if r['name'].startswith('train ')]
    assert train and all(r['status'] == 'PASS' for r in train), train
    assert {r['name'].split()[2] for r in train} >= {'spconv'}
    assert [r['status'] for r in results if r['name'] == 'ddp'] == ['SKIP']  # needs CUDA
    assert 'PASS  train spvcnnlite_demo.py spconv fp32' in capsys.readouterr().out
