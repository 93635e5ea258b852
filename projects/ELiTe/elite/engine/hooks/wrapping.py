"""What the plugin's hooks share: the model inside its wrappers, and wrapping a runner object's method once."""
from typing import Any, Callable

from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DDP / TTA wrappers (anything holding it as ``.module``)."""
    while isinstance(getattr(model, 'module', None), nn.Module):
        model = model.module
    return model


def wrap_method_once(owner: Any, name: str, tag: str, make_wrapper: Callable[[Callable], Callable]) -> None:
    """Replace ``owner.name`` by ``make_wrapper(original)``, unless a wrapper marked ``tag`` is already in place
    (a hook's ``before_train`` may run again on the same runner)."""
    method = getattr(owner, name)
    if getattr(method, tag, False):
        return
    wrapper = make_wrapper(method)
    setattr(wrapper, tag, True)
    setattr(owner, name, wrapper)
