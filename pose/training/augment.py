"""The official HRNet training augmentation: half body, random scale and rotation, flip; and
mmpose's random shift of the box centre.

All randomness comes from a ``numpy.random.Generator`` passed in, so a sample's augmentation is a
function of its seed (see :class:`pose.training.dataset.TopDownTrainingSet`). Joints are ``[J, 3]``
x, y image pixels and visibility 0/1; ``center``/``scale`` as in :mod:`pose.transforms`.

The centre shift comes in mmpose's two forms:

* ``center_shift_at="sample"`` (mmpose 0.26 and later, ``TopDownRandomShiftBboxCenter``): every
  sample, with probability ``center_shift_prob``, moves the centre by
  ``uniform(-1, 1, 2) * center_shift_factor * scale * 200`` (a fraction of the padded crop region),
  before flip and half body (which replaces the centre when it applies). mmpose's PoseTrack18
  recipe: factor 0.16, probability 0.3.
* ``center_shift_at="load"`` (mmpose 0.8 to 0.25, in the data set's ``_xywh2cs``): each person's
  centre is moved once, when the training set is built, with probability ``center_shift_prob``
  by ``2 * center_shift_factor * (uniform(0, 1, 2) - 0.5) * (w, h)`` (a fraction of the clean box,
  before aspect-ratio widening and padding) and keeps that centre for the whole run. mmpose:
  factor 0.2 (the box's +-20 %), probability 0.3.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence, Tuple

import numpy as np

from ..transforms import SCALE_UNIT

# Joints whose names contain one of these are "lower body" for the half-body augmentation; this
# reproduces the official upper/lower split of COCO (hips and below) and MPII (pelvis, hips, legs).
LOWER_BODY_WORDS = ("hip", "pelvis", "knee", "ankle", "foot", "heel", "toe")
HALF_BODY_PADDING = 1.5
# When the centre shift is drawn: every sample (mmpose >= 0.26) or once per person at load time
# (mmpose 0.8-0.25).
CENTER_SHIFT_AT = ("sample", "load")


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation; defaults are the official HRNet COCO values.

    Attributes:
        flip: mirror half of the samples (joints swapped by the layout's flip pairs).
        scale_factor: the region scale is multiplied by ``clip(1 + N(0, 1) * f, 1 - f, 1 + f)``.
        rotation_factor: rotation ``clip(N(0, 1) * r, -2r, 2r)`` degrees ...
        rotation_prob: ... applied with this probability (else 0).
        half_body_prob: probability of cropping to the upper or lower body ...
        half_body_min_joints: ... when more than this many joints are labelled.
        center_shift_factor: largest centre shift, as a fraction of the padded crop region
            (``center_shift_at="sample"``) or of the box (``"load"``); see the module docstring.
        center_shift_prob: probability of a centre shift (0: none, the official HRNet recipes).
        center_shift_at: ``"sample"`` (every sample, mmpose >= 0.26) or ``"load"`` (once per
            person when the training set is built, mmpose 0.8-0.25).
    """

    flip: bool = True
    scale_factor: float = 0.35
    rotation_factor: float = 45.0
    rotation_prob: float = 0.6
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8
    center_shift_factor: float = 0.0
    center_shift_prob: float = 0.0
    center_shift_at: str = "sample"

    def __post_init__(self) -> None:
        if self.center_shift_at not in CENTER_SHIFT_AT:
            raise ValueError(f"center_shift_at must be one of {', '.join(CENTER_SHIFT_AT)}, got "
                             f"{self.center_shift_at!r}")
        for name in ("rotation_prob", "half_body_prob", "center_shift_prob"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must lie in [0, 1], got {getattr(self, name)}")
        if self.center_shift_factor < 0:
            raise ValueError(f"center_shift_factor must be 0 or positive, got "
                             f"{self.center_shift_factor}")

    @property
    def shifts_per_sample(self) -> bool:
        return self.center_shift_at == "sample" and self.center_shift_prob > 0

    @property
    def shifts_at_load(self) -> bool:
        return self.center_shift_at == "load" and self.center_shift_prob > 0

    @classmethod
    def none(cls) -> "AugmentConfig":
        """No augmentation (validation-style crops)."""
        return cls(flip=False, scale_factor=0.0, rotation_factor=0.0, rotation_prob=0.0,
                   half_body_prob=0.0, center_shift_prob=0.0)


def upper_body_mask(names: Sequence[str]) -> np.ndarray:
    """``[J]`` bool: joints that are not lower body (by name, see ``LOWER_BODY_WORDS``)."""
    return np.array([not any(w in n.lower() for w in LOWER_BODY_WORDS) for n in names])


def half_body_region(joints: np.ndarray, upper: np.ndarray, aspect_ratio: float,
                     rng: np.random.Generator) -> Optional[Tuple[np.ndarray, np.ndarray]]:
    """Official ``half_body_transform``: the region around the labelled upper-body joints (or
    the lower-body ones), widened to ``aspect_ratio`` (width / height) and padded by 1.5.

    The official choice ``randn() < 0.5`` (upper body with probability ~0.69 when it has more
    than two joints, else the lower body if it has more than two) is kept. Returns ``(center
    [2], scale [2])`` float32, or None when fewer than two joints are selected."""
    labelled = joints[:, 2] > 0
    upper_joints = joints[labelled & upper, :2]
    lower_joints = joints[labelled & ~upper, :2]
    if rng.standard_normal() < 0.5 and len(upper_joints) > 2:
        selected = upper_joints
    else:
        selected = lower_joints if len(lower_joints) > 2 else upper_joints
    if len(selected) < 2:
        return None
    selected = selected.astype(np.float32)
    center = selected.mean(axis=0)
    w, h = selected.max(axis=0) - selected.min(axis=0)
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    elif w < aspect_ratio * h:
        w = h * aspect_ratio
    scale = np.array([w / SCALE_UNIT, h / SCALE_UNIT], dtype=np.float32) * HALF_BODY_PADDING
    return center, scale


def flip_joints(joints: np.ndarray, image_width: int,
                flip_pairs: Sequence[Tuple[int, int]]) -> np.ndarray:
    """Official ``fliplr_joints``: joints of the mirrored image (``x -> W - 1 - x``), left/right
    joints swapped, unlabelled joints zeroed. Returns a new ``[J, 3]`` array."""
    flipped = np.array(joints, dtype=np.float64)
    flipped[:, 0] = image_width - flipped[:, 0] - 1
    for a, b in flip_pairs:
        flipped[[a, b]] = flipped[[b, a]]
    flipped[:, :2] *= flipped[:, 2:3]
    return flipped


def shift_center(center: np.ndarray, scale: np.ndarray, factor: float, prob: float,
                 rng: np.random.Generator) -> np.ndarray:
    """mmpose's ``TopDownRandomShiftBboxCenter``: with probability ``prob`` the centre moves by
    ``uniform(-1, 1, 2) * factor * scale * 200`` pixels. Returns ``[2]`` float32."""
    center = np.array(center, dtype=np.float32)
    if rng.random() < prob:
        center += rng.uniform(-1, 1, 2) * factor * np.asarray(scale) * SCALE_UNIT
    return center


def shift_center_at_load(center: np.ndarray, box: np.ndarray, factor: float, prob: float,
                         rng: np.random.Generator) -> np.ndarray:
    """The load-time shift of mmpose 0.8-0.25 (``_xywh2cs``): with probability ``prob`` the
    centre moves by ``2 * factor * (uniform(0, 1, 2) - 0.5) * (w, h)`` pixels, ``w, h`` the clean
    box's ``x2 - x1, y2 - y1`` (mmpose: ``0.4 * (rand(2) - 0.5) * [w, h]``). Returns ``[2]``
    float32."""
    center = np.array(center, dtype=np.float32)
    if rng.random() < prob:
        size = np.array([box[2] - box[0], box[3] - box[1]], dtype=np.float64)
        center += 2 * factor * (rng.random(2) - 0.5) * size
    return center


@dataclass
class Augmentation:
    """What was drawn for one sample: the crop region, rotation (degrees) and flip."""

    center: np.ndarray
    scale: np.ndarray
    rotation: float
    flip: bool


def draw_augmentation(config: AugmentConfig, center: np.ndarray, scale: np.ndarray,
                      joints: np.ndarray, upper: np.ndarray, aspect_ratio: float,
                      rng: np.random.Generator) -> Augmentation:
    """Draws one sample's augmentation: the per-sample centre shift (if configured; first, as in
    mmpose's pipeline), then in the official order half body, scale, rotation, flip.
    ``center``/``scale`` are those of the record (before any flip; the flip mirrors the shifted
    centre, half body replaces it)."""
    center, scale = np.array(center, dtype=np.float32), np.array(scale, dtype=np.float32)
    if config.shifts_per_sample:
        center = shift_center(center, scale, config.center_shift_factor,
                              config.center_shift_prob, rng)
    if ((joints[:, 2] > 0).sum() > config.half_body_min_joints
            and rng.random() < config.half_body_prob):
        region = half_body_region(joints, upper, aspect_ratio, rng)
        if region is not None:
            center, scale = region
    f = config.scale_factor
    scale = scale * np.float32(np.clip(rng.standard_normal() * f + 1, 1 - f, 1 + f))
    r = config.rotation_factor
    rotation = 0.0
    if rng.random() < config.rotation_prob:
        rotation = float(np.clip(rng.standard_normal() * r, -2 * r, 2 * r))
    flip = bool(config.flip and rng.random() < 0.5)
    return Augmentation(center, scale, rotation, flip)
