"""Named model presets: architecture, input size and joint layout, timm-style.

``build_model("hrnet_w32")`` gives the published HRNet-W32 COCO network (256x192 input, 17 joints).
Besides the listed presets, any ``hrnet_w<N>`` (N channels in the highest-resolution branch) and
``pose_resnet_<depth>`` (18/34/50/101/152) name builds, with COCO defaults.
"""
from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from torch import nn

from . import zoo
from .checkpoints import load_checkpoint
from .errors import UnknownNameError
from .models import HRNet, PoseResNet
from .models.pose_resnet import RESNET_LAYERS

FAMILIES = ("hrnet", "pose_resnet")


@dataclass(frozen=True)
class ModelPreset:
    """An architecture at one input size and joint layout.

    Attributes:
        name: registry name.
        family: ``"hrnet"`` or ``"pose_resnet"``.
        arch: HRNet width (32, 48, ...) or ResNet depth (50, 101, 152).
        input_size: network input ``(height, width)`` in pixels; heatmaps are a quarter of it.
        num_joints: heatmap channels.
        keypoints: name of the joint layout (``"coco"``: COCO-17, ``"mpii"``: MPII-16).
        default_weights: name of the checkpoint in :mod:`pose.zoo` used by default, if any.
    """

    name: str
    family: str
    arch: int
    input_size: Tuple[int, int]
    num_joints: int = 17
    keypoints: str = "coco"
    default_weights: Optional[str] = None

    @property
    def heatmap_size(self) -> Tuple[int, int]:
        """``(height, width)`` of the output heatmaps."""
        return self.input_size[0] // 4, self.input_size[1] // 4

    def build(self, **arch_kwargs) -> nn.Module:
        """Builds the network (random weights) and attaches this preset as ``model.preset``."""
        if self.family == "hrnet":
            model = HRNet(width=self.arch, num_joints=self.num_joints, **arch_kwargs)
        elif self.family == "pose_resnet":
            model = PoseResNet(depth=self.arch, num_joints=self.num_joints, **arch_kwargs)
        else:
            raise ValueError(f"unknown model family {self.family!r}; expected one of {FAMILIES}")
        model.preset = self
        return model


_PRESETS: Dict[str, ModelPreset] = {}


def register_preset(preset: ModelPreset) -> ModelPreset:
    if preset.name in _PRESETS:
        raise ValueError(f"preset {preset.name!r} is already registered")
    if preset.family not in FAMILIES:
        raise ValueError(f"unknown model family {preset.family!r}; expected one of {FAMILIES}")
    _PRESETS[preset.name] = preset
    return preset


def _register_defaults() -> None:
    coco, coco_large, mpii = (256, 192), (384, 288), (256, 256)
    for width in (32, 48):
        register_preset(ModelPreset(f"hrnet_w{width}", "hrnet", width, coco,
                                    default_weights=f"hrnet_w{width}_coco_256x192"))
        register_preset(ModelPreset(f"hrnet_w{width}_384x288", "hrnet", width, coco_large,
                                    default_weights=f"hrnet_w{width}_coco_384x288"))
        register_preset(ModelPreset(f"hrnet_w{width}_mpii", "hrnet", width, mpii, 16, "mpii",
                                    default_weights=f"hrnet_w{width}_mpii_256x256"))
    for depth in (50, 101, 152):
        register_preset(ModelPreset(f"pose_resnet_{depth}", "pose_resnet", depth, coco,
                                    default_weights=f"pose_resnet_{depth}_coco_256x192"))
        register_preset(ModelPreset(f"pose_resnet_{depth}_384x288", "pose_resnet", depth,
                                    coco_large,
                                    default_weights=f"pose_resnet_{depth}_coco_384x288"))
        register_preset(ModelPreset(f"pose_resnet_{depth}_mpii", "pose_resnet", depth, mpii, 16,
                                    "mpii", default_weights=f"pose_resnet_{depth}_mpii_256x256"))


_register_defaults()

_GENERIC = (
    (re.compile(r"hrnet_w(\d+)"), "hrnet", lambda n: n >= 1),
    (re.compile(r"pose_resnet_(\d+)"), "pose_resnet", lambda n: n in RESNET_LAYERS),
)


def list_presets() -> List[str]:
    """Names of the registered presets, sorted."""
    return sorted(_PRESETS)


def get_preset(name: str) -> ModelPreset:
    """The preset called ``name``; generic ``hrnet_w<N>`` / ``pose_resnet_<depth>`` names give a
    COCO 256x192 preset without default weights."""
    if name in _PRESETS:
        return _PRESETS[name]
    for pattern, family, valid in _GENERIC:
        match = pattern.fullmatch(name)
        if match and valid(int(match.group(1))):
            return ModelPreset(name, family, int(match.group(1)), (256, 192))
    raise UnknownNameError(f"unknown pose model {name!r}. Known presets: "
                           f"{', '.join(list_presets())}; also any hrnet_w<N> or "
                           "pose_resnet_<18|34|50|101|152>.")


def build_model(name: str, *, weights: Optional[str] = None, **overrides) -> nn.Module:
    """Builds the network of preset ``name``.

    Args:
        name: preset name, e.g. ``"hrnet_w32"``, ``"pose_resnet_50_mpii"``, ``"hrnet_w8"``.
        weights: optional checkpoint to load: a name from :func:`pose.list_published`, a local
            path or a URL (see :func:`pose.load_checkpoint`); what was loaded
            (:class:`pose.LoadedWeights`) is then kept as ``model.loaded_weights``. ``None``
            leaves random weights.
        **overrides: preset fields to change (``num_joints``, ``input_size``, ``keypoints``) and
            architecture arguments (``final_conv_kernel``, ``num_modules``, ``deconv_kernel``...).

    Returns:
        ``nn.Module`` mapping ``[N, 3, H, W]`` to heatmaps ``[N, num_joints, H/4, W/4]``, with the
        (possibly overridden) preset as ``model.preset``.
    """
    preset = get_preset(name)
    fields = {f.name for f in dataclasses.fields(ModelPreset)} - {"name", "family", "arch"}
    preset_changes = {k: overrides.pop(k) for k in list(overrides) if k in fields}
    if "input_size" in preset_changes:
        preset_changes["input_size"] = tuple(int(v) for v in preset_changes["input_size"])
    preset = dataclasses.replace(preset, **preset_changes)
    model = preset.build(**overrides)
    if weights is not None:
        model.loaded_weights = load_checkpoint(model, weights)
    return model


def pretrained(name: str) -> nn.Module:
    """The network of the published weights ``name`` (see :func:`pose.list_published`) with
    those weights loaded; downloads on first use. ``model.loaded_weights.published`` tells its
    input size, joint layout and channel order."""
    entry = zoo.get_published(name)
    return build_model(entry.arch, input_size=entry.input_size, num_joints=entry.num_joints,
                       keypoints=entry.keypoints, weights=entry.name)
