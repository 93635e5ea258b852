"""A one-weight model and its loader: enough for mmengine's Runner to train, schedule and checkpoint."""
import uuid

import torch
from mmengine.model import BaseModel
from torch import nn


class LinearModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(1, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        return dict(loss=self.linear(torch.stack(inputs)).pow(2).mean())


def toy_dataloader(samples: int, batch_size: int) -> dict:
    return dict(dataset=[dict(inputs=torch.ones(1))] * samples, batch_size=batch_size,
                sampler=dict(type='DefaultSampler', shuffle=False), collate_fn=dict(type='pseudo_collate'))


def unique_experiment_name() -> str:
    """Runners built in the same second share mmengine's default name, and with it the first one's DefaultScope
    instance (its registry scope): give each its own."""
    return f'toy_{uuid.uuid4().hex}'
