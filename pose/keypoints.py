"""Keypoint layouts as data: joint names, left/right flip pairs, skeleton edges, OKS sigmas.

Indices are 0-based. Sources: COCO annotations / cocoapi (COCO), mmpose's dataset definitions
(PoseTrack18, MPII, CrowdPose, AIC), poseval's ``Joint`` / ``convert.py`` (PoseTrack-15).
Sigmas are the per-joint OKS constants as used (COCO's ``.26/10 ...``; AIC's are its own smaller
values, used as published).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, Optional, Tuple

import numpy as np

from .errors import UnknownNameError

Pairs = Tuple[Tuple[int, int], ...]


@dataclass(frozen=True)
class KeypointSet:
    """One joint layout.

    Attributes:
        name: registry name.
        names: joint names in channel order.
        flip_pairs: (left, right) index pairs swapped by a horizontal flip.
        skeleton: index pairs joined when drawing.
        sigmas: per-joint OKS constants, or None where the dataset defines none.
    """

    name: str
    names: Tuple[str, ...]
    flip_pairs: Pairs
    skeleton: Pairs
    sigmas: Optional[Tuple[float, ...]] = None

    @property
    def num_joints(self) -> int:
        return len(self.names)

    @property
    def flip_indices(self) -> np.ndarray:
        """``[J]``: channel ``i`` of a flipped image's heatmaps holds joint ``flip_indices[i]``."""
        order = np.arange(self.num_joints)
        for a, b in self.flip_pairs:
            order[a], order[b] = b, a
        return order

    def sigma_array(self) -> np.ndarray:
        if self.sigmas is None:
            raise ValueError(f"keypoint set {self.name!r} defines no OKS sigmas")
        return np.asarray(self.sigmas, dtype=np.float64)

    def index(self, joint: str) -> int:
        return self.names.index(joint)


_LIMBS = ("left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
          "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle",
          "right_ankle")
_COCO_SIGMAS = (.026, .025, .025, .035, .035, .079, .079, .072, .072, .062, .062, .107, .107,
                .087, .087, .089, .089)
# Limb edges shared by the COCO and PoseTrack18 slot layouts.
_COCO_LIMB_EDGES = ((15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
                    (5, 7), (6, 8), (7, 9), (8, 10))
_COCO_FLIP = ((1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

COCO = KeypointSet(
    "coco",
    ("nose", "left_eye", "right_eye", "left_ear", "right_ear") + _LIMBS,
    _COCO_FLIP,
    _COCO_LIMB_EDGES + ((1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6)),
    _COCO_SIGMAS,
)

# PoseTrack18 files: COCO's 17 slots with the eyes replaced by head_bottom/head_top and the ears
# never annotated. Head joints map to themselves under a flip; mmpose's drawing skeleton.
POSETRACK18 = KeypointSet(
    "posetrack18",
    ("nose", "head_bottom", "head_top", "left_ear", "right_ear") + _LIMBS,
    _COCO_FLIP[1:],
    _COCO_LIMB_EDGES + ((0, 1), (0, 2), (1, 5), (1, 6)),
    _COCO_SIGMAS,
)

# The 15 joints the official PoseTrack evaluation (poseval) scores, in its internal order;
# "neck" is PoseTrack18's head_bottom.
POSETRACK15 = KeypointSet(
    "posetrack15",
    ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
     "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
     "neck", "nose", "head_top"),
    ((0, 5), (1, 4), (2, 3), (6, 11), (7, 10), (8, 9)),
    ((0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 12), (9, 12), (9, 10),
     (10, 11), (12, 13), (13, 14), (2, 8), (3, 9)),
)
# POSETRACK15 joint i is POSETRACK18 slot POSETRACK18_TO_POSETRACK15[i] (ears are dropped).
POSETRACK18_TO_POSETRACK15 = (16, 14, 12, 11, 13, 15, 10, 8, 6, 5, 7, 9, 1, 0, 2)

MPII = KeypointSet(
    "mpii",
    ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis",
     "thorax", "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder",
     "left_shoulder", "left_elbow", "left_wrist"),
    ((0, 5), (1, 4), (2, 3), (10, 15), (11, 14), (12, 13)),
    ((0, 1), (1, 2), (2, 6), (6, 3), (3, 4), (4, 5), (6, 7), (7, 8), (8, 9), (8, 12), (12, 11),
     (11, 10), (8, 13), (13, 14), (14, 15)),
    (.089, .083, .107, .107, .083, .089, .026, .026, .026, .026, .062, .072, .179, .179, .072,
     .062),
)

CROWDPOSE = KeypointSet(
    "crowdpose",
    _LIMBS + ("top_head", "neck"),
    ((0, 1), (2, 3), (4, 5), (6, 7), (8, 9), (10, 11)),
    ((10, 8), (8, 6), (11, 9), (9, 7), (6, 7), (0, 6), (1, 7), (0, 1), (0, 2), (1, 3), (2, 4),
     (3, 5), (12, 13), (1, 13), (0, 13)),
    (.079, .079, .072, .072, .062, .062, .107, .107, .087, .087, .089, .089, .079, .079),
)

AIC = KeypointSet(
    "aic",
    ("right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow", "left_wrist",
     "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "head_top",
     "neck"),
    ((0, 3), (1, 4), (2, 5), (6, 9), (7, 10), (8, 11)),
    ((2, 1), (1, 0), (0, 13), (13, 3), (3, 4), (4, 5), (8, 7), (7, 6), (6, 9), (9, 10), (10, 11),
     (12, 13), (0, 6), (3, 9)),
    (0.01388152, 0.01515228, 0.01057665, 0.01417709, 0.01497891, 0.01402144, 0.03909642,
     0.03686941, 0.01981803, 0.03843971, 0.03412318, 0.02415081, 0.01291456, 0.01236173),
)

KEYPOINT_SETS: Dict[str, KeypointSet] = {
    s.name: s for s in (COCO, POSETRACK18, POSETRACK15, MPII, CROWDPOSE, AIC)}


def get_keypoint_set(name: str) -> KeypointSet:
    try:
        return KEYPOINT_SETS[name]
    except KeyError:
        raise UnknownNameError(f"unknown keypoint set {name!r}; known: "
                               f"{', '.join(KEYPOINT_SETS)}") from None


def coco_to_posetrack18(poses: np.ndarray) -> np.ndarray:
    """COCO-17 poses ``[..., 17, 3]`` (x, y, score) in PoseTrack18's 17 slots.

    PoseTrack18 shares COCO's nose, ears and 12 limb joints slot for slot; its slots 1 and 2
    hold head_bottom and head_top where COCO has the eyes. mmpose's PoseTrack18 checkpoints are
    COCO networks fine-tuned with those two channels re-purposed, so they already output this
    layout. A COCO network has no head_bottom/head_top channels; they are filled here as
    head_bottom = the midpoint of the shoulders (PoseTrack's head_bottom is the neck, poseval
    calls it so), scored by the weaker shoulder, and head_top = the nose moved away from that
    neck point by half the nose-neck distance, scored by the nose. Both are approximations: AP
    of a COCO network on those two PoseTrack joints says little.
    """
    poses = np.asarray(poses, dtype=np.float64)
    out = poses.copy()
    neck = 0.5 * (poses[..., 5, :2] + poses[..., 6, :2])
    out[..., 1, :2] = neck
    out[..., 1, 2] = np.minimum(poses[..., 5, 2], poses[..., 6, 2])
    out[..., 2, :2] = poses[..., 0, :2] + 0.5 * (poses[..., 0, :2] - neck)
    out[..., 2, 2] = poses[..., 0, 2]
    return out


def convert_poses(poses: np.ndarray, source: str, target: str) -> np.ndarray:
    """Poses ``[..., J, 3]`` from layout ``source`` to ``target`` (same layout: unchanged;
    ``coco`` -> ``posetrack18``: :func:`coco_to_posetrack18`)."""
    if source == target:
        return np.asarray(poses)
    if (source, target) == ("coco", "posetrack18"):
        return coco_to_posetrack18(poses)
    raise ValueError(f"no conversion from the {source!r} joint layout to {target!r}")
