"""One rank of the distributed test: tools/train.py's own config path, then this rank's weights saved."""
import os
import sys

import torch
import torch.distributed as dist

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from tools_loader import load_tool  # noqa: E402


def main() -> None:
    from mmengine.runner import Runner
    train = load_tool('train')
    cfg = train.build_config(train.parse_args(sys.argv[1:]))
    runner = Runner.from_cfg(cfg)
    runner.train()
    model = runner.model.module
    state = dict(weights={k: v.detach().cpu() for k, v in model.named_parameters()},
                 rank_pattern=model.teacher.peft_tuner.peft_config['default'].rank_pattern,
                 world_size=dist.get_world_size())
    torch.save(state, os.path.join(cfg.work_dir, f'rank{dist.get_rank()}.pt'))


if __name__ == '__main__':
    main()
