"""Initial weights for training: the official initialisation and ImageNet backbones.

Official ``init_weights``: HRNet draws every convolution from N(0, 0.001) with zero biases and sets
BatchNorm to (1, 0); SimpleBaseline does so for its deconvolution head and final layer only (the
ResNet backbone keeps PyTorch's default, then ImageNet weights). The official runs then load an
ImageNet checkpoint into the backbone (``hrnet_w32-36af842e.pth``, torchvision's
``resnet50-19c8e357.pth``); :func:`load_backbone` does that from a local file.
"""
from __future__ import annotations

import os
from typing import List, Union

import torch
from torch import nn

from ..checkpoints import normalize_state_dict, read_checkpoint, resolve_checkpoint
from ..errors import BadInputError

HEAD_PREFIXES = ("deconv_layers", "final_layer")


def _init_module(module: nn.Module) -> None:
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, std=0.001)
        if module.bias is not None:
            nn.init.constant_(module.bias, 0)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.constant_(module.weight, 1)
        nn.init.constant_(module.bias, 0)


def init_official(model: nn.Module) -> nn.Module:
    """Applies the official initialisation in place (HRNet: everything; SimpleBaseline: the head)
    and returns the model. Draws from torch's global generator (seed it first)."""
    family = getattr(getattr(model, "preset", None), "family", "hrnet")
    if family == "pose_resnet":
        for name, child in model.named_children():
            if name in HEAD_PREFIXES:
                child.apply(_init_module)
    else:
        model.apply(_init_module)
    return model


def load_backbone(model: nn.Module, path: Union[str, os.PathLike]) -> List[str]:
    """Copies the tensors of an ImageNet checkpoint (local path or URL) into the model where name and shape agree
    (the classification head and anything of the pose head are skipped). Returns the names
    loaded; raises if none fits."""
    local, _ = resolve_checkpoint(path)
    state, _, _ = normalize_state_dict(read_checkpoint(local))
    own = model.state_dict()
    fitting = {k: v for k, v in state.items()
               if k in own and v.shape == own[k].shape and not k.startswith(HEAD_PREFIXES)}
    if not fitting:
        raise BadInputError(f"no tensor of {path} fits the model's backbone (names or shapes "
                            "differ)")
    with torch.no_grad():
        for key, value in fitting.items():
            own[key].copy_(value)
    return sorted(fitting)
