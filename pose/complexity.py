"""Parameter and multiply-add counts of pose networks.

``official=True`` counts as the official HRNet repository's model summary does, so the numbers
can be compared with the published tables: every convolution, transposed convolution and linear
layer contributes ``weight.numel() * output_height * output_width`` multiply-adds per image (a
stride-2 transposed convolution is thus charged at its *output* size, 4x its true cost), biases,
BN, ReLU, pooling and upsampling are free. ``official=False`` charges transposed convolutions at
their input size, which is the true number of multiply-adds. "GFLOPs" in the published tables
are multiply-adds / 1024**3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import torch
from torch import nn

_COUNTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
            nn.ConvTranspose3d)


@dataclass(frozen=True)
class Complexity:
    params: int
    multiply_adds: int  # per image

    @property
    def gflops(self) -> float:
        """Multiply-adds / 1024**3, the unit of the published tables."""
        return self.multiply_adds / 1024 ** 3


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_complexity(model: nn.Module, input_size: Tuple[int, int],
                     official: bool = True) -> Complexity:
    """Counts parameters and per-image multiply-adds of ``model`` for an input of
    ``input_size = (height, width)`` pixels, from one batch-1 forward pass in eval mode (the
    model's training flag is restored afterwards)."""
    total = 0

    def hook(module: nn.Module, inputs, output) -> None:
        nonlocal total
        if isinstance(module, nn.Linear):
            total += output.numel() * inputs[0].shape[-1]
            return
        transposed = isinstance(module, (nn.ConvTranspose1d, nn.ConvTranspose2d,
                                         nn.ConvTranspose3d))
        spatial = (inputs[0] if transposed and not official else output).shape[2:]
        total += module.weight.numel() * int(torch.Size(spatial).numel())

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if isinstance(m, _COUNTED + (nn.Linear,))]
    was_training = model.training
    param = next(model.parameters())
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, *input_size, device=param.device, dtype=param.dtype))
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return Complexity(params=count_parameters(model), multiply_adds=total)
