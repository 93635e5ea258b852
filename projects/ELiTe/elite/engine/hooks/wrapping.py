"""What the plugin's hooks share: the model inside its wrappers."""
from torch import nn


def unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside DDP / TTA wrappers (anything holding it as ``.module``)."""
    while isinstance(getattr(model, 'module', None), nn.Module):
        model = model.module
    return model
