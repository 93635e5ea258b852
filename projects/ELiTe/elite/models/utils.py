"""Small tensor helpers shared by the models."""
import torch
from torch import Tensor


def scatter_mean(src: Tensor, index: Tensor, num: int) -> Tensor:
    """Mean of the rows of ``src`` (N, C) grouped by ``index`` (N,) into ``num`` rows; empty groups are 0."""
    out = src.new_zeros((num, src.shape[1])).index_add_(0, index, src)
    count = torch.bincount(index, minlength=num).clamp_(min=1).to(src.dtype)
    return out / count[:, None]
