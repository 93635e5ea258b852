"""One rank of the two-rank non-finite test: a toy model under DDP (gloo) and CPU float16 AMP, the guard hook on;
sample 5 (rank 1's third) is NaN. Writes what stopped this rank to ``WORK/rank{r}.txt``."""
import os
import sys
import traceback
from datetime import timedelta

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
import cpu_amp  # noqa: E402,F401  (registers CPUFloat16AmpOptimWrapper)
from toy_runner import LinearModel, unique_experiment_name  # noqa: E402


def main(work_dir: str) -> int:
    from mmengine.runner import Runner

    import elite  # noqa: F401
    from elite.engine.hooks import NonFiniteTrainingError
    dist.init_process_group('gloo', timeout=timedelta(seconds=60))
    samples = [dict(inputs=torch.ones(1)) for _ in range(12)]
    samples[5] = dict(inputs=torch.full((1,), float('nan')))
    runner = Runner(
        model=LinearModel(), work_dir=work_dir, experiment_name=unique_experiment_name(), launcher='pytorch',
        train_dataloader=dict(dataset=samples, batch_size=1, sampler=dict(type='DefaultSampler', shuffle=False),
                              collate_fn=dict(type='pseudo_collate')),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(type='CPUFloat16AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.01)),
        custom_hooks=[dict(type='NonFiniteGuardHook')], default_hooks=dict(checkpoint=None),
        env_cfg=dict(dist_cfg=dict(backend='gloo')), default_scope='mmdet3d',
        cfg=dict(model_wrapper_cfg=dict(type='MMDistributedDataParallel', device_ids=None)))
    outcome = 'finished'
    try:
        runner.train()
    except NonFiniteTrainingError as err:
        outcome = f'NonFiniteTrainingError: {err}'
    except Exception:  # what a rank left alone meets (a closed connection, a timeout)
        outcome = 'other: ' + traceback.format_exc()
    with open(os.path.join(work_dir, f'rank{dist.get_rank()}.txt'), 'w') as f:
        f.write(outcome)
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
