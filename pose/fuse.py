"""Folding BatchNorm into the convolution before it, for inference.

In eval mode ``BN(conv(x)) = s * (W * x + b - mean) + beta`` with ``s = gamma / sqrt(var + eps)``
per output channel, which is one convolution with weight ``s * W`` and bias
``s * (b - mean) + beta``. This holds for transposed convolutions too (their output channels are
the weight's second axis), so SimpleBaseline's deconv + BN layers fold exactly like the others.

Which BN follows which convolution is read from the traced graph (``torch.fx``), not from layer
names: a BN is folded only when its input is the output of a convolution module that nothing else
uses and that is called only once. The folded BN modules become ``nn.Identity`` so the module tree
(and every remaining parameter name) stays as it was.
"""
from __future__ import annotations

import copy
from typing import Dict, List, Tuple

import torch
from torch import fx, nn

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose1d, nn.ConvTranspose2d,
          nn.ConvTranspose3d)
_BNS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)


def conv_bn_pairs(model: nn.Module) -> List[Tuple[str, str]]:
    """``(conv name, bn name)`` of every BN that directly and solely follows a convolution in
    ``model``'s forward (names as in ``model.named_modules()``)."""
    graph = fx.symbolic_trace(model).graph
    modules = dict(model.named_modules())
    calls: Dict[str, int] = {}
    for node in graph.nodes:
        if node.op == "call_module":
            calls[node.target] = calls.get(node.target, 0) + 1
    pairs = []
    for node in graph.nodes:
        if node.op != "call_module" or not isinstance(modules[node.target], _BNS):
            continue
        source = node.args[0] if node.args else None
        if (isinstance(source, fx.Node) and source.op == "call_module"
                and isinstance(modules[source.target], _CONVS)
                and len(source.users) == 1 and calls[source.target] == 1
                and calls[node.target] == 1):
            pairs.append((source.target, node.target))
    return pairs


@torch.no_grad()
def fold_conv_bn(conv: nn.Module, bn: nn.Module) -> None:
    """Folds the eval-mode ``bn`` into ``conv`` in place (``conv`` gains a bias). The arithmetic
    is done in float64 and stored in the convolution's dtype."""
    if bn.running_mean is None or bn.running_var is None:
        raise ValueError("BatchNorm without running statistics cannot be folded")
    dtype = conv.weight.dtype
    scale = bn.running_var.double().add(bn.eps).rsqrt()
    if bn.weight is not None:
        scale = scale * bn.weight.double()
    shift = -bn.running_mean.double() * scale
    if bn.bias is not None:
        shift = shift + bn.bias.double()
    weight = conv.weight.double()
    if isinstance(conv, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        # weight [in, out / groups, *k]; output channel g * (out / groups) + j
        groups, spatial = conv.groups, weight.shape[2:]
        grouped = weight.reshape(groups, -1, weight.shape[1], *spatial)
        view = (groups, 1, weight.shape[1]) + (1,) * len(spatial)
        weight = (grouped * scale.reshape(view)).reshape(conv.weight.shape)
    else:  # weight [out, in / groups, *k]
        weight = weight * scale.reshape((-1,) + (1,) * (weight.dim() - 1))
    bias = shift if conv.bias is None else conv.bias.double() * scale + shift
    conv.weight.copy_(weight.to(dtype))
    conv.bias = nn.Parameter(bias.to(dtype=dtype, device=conv.weight.device),
                             requires_grad=False)


def _set_submodule(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, child = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, child, module)


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """An eval-mode copy of ``model`` with every BN that follows a convolution folded into it
    (``model`` itself is left untouched). Custom attributes (``preset``, ``checkpoint``) are
    kept. Outputs equal the unfolded eval model's up to float32 rounding."""
    folded = copy.deepcopy(model).eval()
    modules = dict(folded.named_modules())
    for conv_name, bn_name in conv_bn_pairs(folded):
        fold_conv_bn(modules[conv_name], modules[bn_name])
        _set_submodule(folded, bn_name, nn.Identity())
    return folded
