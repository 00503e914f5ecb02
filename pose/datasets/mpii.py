"""MPII Human Pose annotations in the official HRNet / SimpleBaseline JSON form.

``annot/train.json`` / ``valid.json`` hold a list of ``{"image": "015601864.jpg", "center": [x, y],
"scale": s, "joints": [[x, y] * 16], "joints_vis": [0/1 * 16]}`` in MATLAB (1-based) pixels, the
joints in :data:`pose.keypoints.MPII` order. As the official reader does: the centre moves down by
``15 * s`` pixels and the scale grows by 1.25 (to keep the limbs in the crop), then centre and
joints become 0-based pixels; the region is square, ``scale = [s, s] * 1.25`` (height / 200).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Union

import numpy as np

from ..errors import BadInputError
from ..keypoints import MPII
from . import load_json


@dataclass
class MpiiPerson:
    """One annotated person.

    Attributes:
        image: file name inside the MPII ``images`` folder.
        center: ``[2]`` float64 x, y (0-based pixels) of the person region.
        scale: ``[2]`` float64 region width, height / 200 (padding included).
        keypoints: ``[16, 3]`` float64 x, y (0-based pixels), visibility 0/1.
    """

    image: str
    center: np.ndarray
    scale: np.ndarray
    keypoints: np.ndarray


def read_mpii(path: Union[str, os.PathLike]) -> List[MpiiPerson]:
    """Reads an official MPII annotation JSON (see the module docstring)."""
    entries = load_json(path, "MPII annotation file")
    if not isinstance(entries, list):
        raise BadInputError(f"{path}: expected a list of MPII annotations "
                            "({image, center, scale, joints, joints_vis})")
    people = []
    for k, entry in enumerate(entries):
        try:
            people.append(_person(entry))
        except (KeyError, ValueError, TypeError) as exc:
            raise BadInputError(f"{path}: entry {k} needs 'image', 'center', 'scale', 16x2 "
                                f"'joints' and 16 'joints_vis' ({exc})") from None
    return people


def _person(entry: dict) -> MpiiPerson:
    center = np.asarray(entry["center"], dtype=np.float64).reshape(2)
    s = float(entry["scale"])
    scale = np.array([s, s])
    if center[0] != -1:
        center[1] += 15 * s
        scale *= 1.25
    keypoints = np.zeros((MPII.num_joints, 3))
    if "joints" in entry:
        keypoints[:, :2] = np.asarray(entry["joints"], dtype=np.float64).reshape(
            MPII.num_joints, 2) - 1
        keypoints[:, 2] = np.asarray(entry["joints_vis"], dtype=np.float64).reshape(
            MPII.num_joints)
    return MpiiPerson(str(entry["image"]), center - 1, scale, keypoints)
