"""Two processes on the CPU (gloo) train the ELiTe demo config with torchrun, as tools/dist_train.sh does."""
import os
import socket
import subprocess
import sys
import time

import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def free_port() -> int:
    """A TCP port nobody listens on now (two test runs on one machine must not share 29500)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_cpu_ranks_train_in_sync(synthetic_root, tmp_path):
    work = str(tmp_path / 'work')
    epochs = 6  # one optimiser step per epoch: 2 scans, one per rank
    options = [f'{loader}.dataset.data_root={synthetic_root}' for loader in
               ('train_dataloader', 'val_dataloader', 'test_dataloader')] + [
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs + 1}', 'train_dataloader.batch_size=1',
        f'default_hooks.checkpoint.interval={epochs}', 'param_scheduler=[]']
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', f'--master_port={free_port()}',
           os.path.join(REPO, 'tests/engine/dist_worker.py'), os.path.join(REPO, 'configs/elite_demo.py'),
           '--launcher', 'pytorch', '--work-dir', work, '--cfg-options', *options]
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    ranks = [torch.load(os.path.join(work, f'rank{r}.pt'), weights_only=False) for r in (0, 1)]
    assert ranks[0]['world_size'] == ranks[1]['world_size'] == 2
    # gradients were averaged: identical parameters (BatchNorm running statistics stay per rank, as in DDP)
    for name, value in ranks[0]['weights'].items():
        assert torch.equal(value, ranks[1]['weights'][name]), name
    assert ranks[0]['rank_pattern'] == ranks[1]['rank_pattern'] and ranks[0]['rank_pattern']
    assert sorted(f for f in os.listdir(work) if f.endswith('.pth')) == [f'epoch_{epochs}.pth']


def test_a_non_finite_loss_on_one_rank_stops_every_rank_with_the_message(tmp_path):
    """Under DDP + AMP only rank 1 sees the NaN loss; rank 0's loss is finite and its grad scaler would skip the
    step and wait in the next all-reduce (with NCCL until its timeout). Both must stop at that step with the
    guard's message."""
    work = str(tmp_path)
    env = dict(os.environ, OMP_NUM_THREADS='1')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2', f'--master_port={free_port()}',
           os.path.join(REPO, 'tests/engine/dist_non_finite_worker.py'), work]
    started = time.monotonic()
    result = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    outcomes = [open(os.path.join(work, f'rank{r}.txt')).read() for r in (0, 1)]
    for rank, outcome in enumerate(outcomes):
        assert outcome.startswith('NonFiniteTrainingError'), (rank, outcome)
        # rank 1's finding, iteration 3 (its third sample, index 5), reaches rank 0 too
        assert 'non-finite loss at iteration 3' in outcome and 'on rank 1' in outcome, (rank, outcome)
    assert elapsed < 60, f'{elapsed:.0f} s: a rank waited for the other'
