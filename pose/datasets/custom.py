"""Custom keypoint datasets in COCO format, with their own joint names, flip pairs and sigmas.

A custom dataset is a COCO ``person_keypoints``-style JSON (``images``, ``annotations`` with flat
``keypoints`` [x, y, v] * J and ``bbox`` [x, y, w, h], ``categories[0].keypoints`` = the joint names
and optional 1-based ``skeleton``); it trains and evaluates like COCO once its layout is known.
:func:`custom_layout` builds that layout as a :class:`pose.keypoints.KeypointSet`.
"""
from __future__ import annotations

import os
import re
from typing import Optional, Sequence, Tuple, Union

from ..errors import BadInputError
from ..keypoints import KeypointSet
from . import load_json

DEFAULT_SIGMA = 0.05  # OKS constant of joints without a given sigma (COCO's range: .025-.107)
_SIDES = (("left", "right"), ("l", "r"))


def _mirror_name(name: str) -> Optional[str]:
    """The joint name with its left/right marker swapped (``left_wrist`` <-> ``right_wrist``,
    ``l_foot``/``r_foot``, ``wrist_left``/``wrist_right``, ``LeftHand``/``RightHand``), or None."""
    for left, right in _SIDES:
        for a, b in ((left, right), (right, left)):
            for pattern, repl in ((rf"^{a}([_\-. ])", rf"{b}\1"), (rf"([_\-. ]){a}$", rf"\1{b}")):
                if re.search(pattern, name, flags=re.IGNORECASE):
                    return re.sub(pattern, repl, name, flags=re.IGNORECASE)
    for a, b in (("Left", "Right"), ("Right", "Left")):  # CamelCase
        if name.startswith(a) and len(name) > len(a) and name[len(a)].isupper():
            return b + name[len(a):]
    return None


def infer_flip_pairs(names: Sequence[str]) -> Tuple[Tuple[int, int], ...]:
    """Index pairs of joints whose names differ only by a left/right marker."""
    pairs = []
    lowered = [n.lower() for n in names]
    for i, name in enumerate(names):
        mirrored = _mirror_name(name)
        if mirrored is None or mirrored.lower() not in lowered:
            continue
        j = lowered.index(mirrored.lower())
        if i < j:
            pairs.append((i, j))
    return tuple(pairs)


def custom_layout(annotations: Union[str, os.PathLike, dict], *, name: str = "custom",
                  flip_pairs: Optional[Sequence[Sequence[int]]] = None,
                  sigmas: Optional[Sequence[float]] = None) -> KeypointSet:
    """The joint layout of a COCO-format keypoint file (path or loaded dict).

    Args:
        annotations: the JSON file or its content; ``categories[0].keypoints`` gives the names.
        name: the layout's name.
        flip_pairs: 0-based (left, right) index pairs; default: :func:`infer_flip_pairs`.
        sigmas: per-joint OKS constants; default :data:`DEFAULT_SIGMA` for every joint (set the
            dataset's own for meaningful AP).
    """
    data = annotations if isinstance(annotations, dict) else load_json(annotations,
                                                                       "annotation file")
    categories = data.get("categories") or []
    names = categories[0].get("keypoints") if categories else None
    if not names:
        raise BadInputError(f"{name}: the annotation file has no categories[0].keypoints (the "
                            "joint names)")
    count = len(names)
    pairs = infer_flip_pairs(names) if flip_pairs is None else tuple(
        (int(a), int(b)) for a, b in flip_pairs)
    skeleton = tuple((int(a) - 1, int(b) - 1) for a, b in categories[0].get("skeleton") or [])
    sigma_values = (DEFAULT_SIGMA,) * count if sigmas is None else tuple(map(float, sigmas))
    for what, indices in (("flip pair", pairs), ("skeleton edge", skeleton)):
        for pair in indices:
            if not all(0 <= i < count for i in pair):
                raise BadInputError(f"{name}: {what} {pair} is outside the {count} joints")
    if len(sigma_values) != count:
        raise BadInputError(f"{name}: {len(sigma_values)} sigmas for {count} joints")
    return KeypointSet(name, tuple(names), pairs, skeleton, sigma_values)
