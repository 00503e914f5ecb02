"""The training dataset: person records -> augmented crops, heatmap targets and joint weights."""
from __future__ import annotations

import dataclasses
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from ..datasets.coco import read_rgb
from ..estimator import normalize_crops
from ..keypoints import KeypointSet
from ..transforms import affine_transform, apply_affine
from .augment import (AugmentConfig, Augmentation, draw_augmentation, flip_joints,
                      shift_center_at_load, upper_body_mask)
from .records import PersonRecord
from .targets import gaussian_targets

# Second seed word of the load-time centre shift's generator (per-sample augmentation draws from
# ``[seed, epoch, index]``, which never has this epoch).
LOAD_SHIFT_STREAM = 2 ** 32 - 1


class TopDownTrainingSet(Dataset):
    """Official ``JointsDataset.__getitem__`` on :class:`PersonRecord` s.

    Item ``i`` is ``(input [3, H, W] float32 normalised as pose.estimator.normalize_crops,
    target [J, H/4, W/4] float32, target_weight [J, 1] float32)``. The augmentation of item ``i``
    in epoch ``e`` is drawn from ``numpy.random.default_rng([seed, e, i])``: it depends on neither
    the data-loader workers nor the process, so runs are reproducible and resumable. Call
    :meth:`set_epoch` before each epoch (the training engine does). With
    ``augment.center_shift_at="load"`` the persons' centres are shifted once, here, from
    ``numpy.random.default_rng([seed, LOAD_SHIFT_STREAM])`` in record order (the records need
    their ``box``); :attr:`records` then holds the shifted centres.

    Args:
        records: the persons.
        layout: joint layout (flip pairs, upper/lower body by name); its joint count must match
            the records'.
        input_size: network input ``(height, width)``; heatmaps are a quarter of it.
        augment: augmentation settings (``None``: no augmentation).
        sigma: target Gaussian sigma in heatmap pixels.
        color: channel order the network expects, ``"rgb"`` or ``"bgr"``.
        seed: base seed of the augmentation.
        cache_images: keep decoded images in memory (small datasets only).
    """

    def __init__(self, records: Sequence[PersonRecord], layout: KeypointSet,
                 input_size: Tuple[int, int], augment: Optional[AugmentConfig] = None,
                 sigma: float = 2.0, color: str = "rgb", seed: int = 0,
                 cache_images: bool = False) -> None:
        self.records: List[PersonRecord] = list(records)
        for record in self.records:
            if len(record.keypoints) != layout.num_joints:
                raise ValueError(f"a record of {record.image} has {len(record.keypoints)} joints "
                                 f"but the layout {layout.name!r} has {layout.num_joints}")
        self.layout = layout
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (self.input_size[0] // 4, self.input_size[1] // 4)
        self.augment = augment if augment is not None else AugmentConfig.none()
        self.sigma, self.color, self.seed = sigma, color, int(seed)
        self.epoch = 0
        self.upper = upper_body_mask(layout.names)
        if self.augment.shifts_at_load:
            self.records = self._shift_centers_at_load(self.records)
        self._cache: Optional[Dict[str, np.ndarray]] = {} if cache_images else None

    def _shift_centers_at_load(self, records: List[PersonRecord]) -> List[PersonRecord]:
        if any(record.box is None for record in records):
            raise ValueError("augment.center_shift_at='load' shifts the centre by a fraction of "
                             "the person's box, but some records have none (MPII records or "
                             "records built by hand); use center_shift_at='sample'")
        rng = np.random.default_rng([self.seed, LOAD_SHIFT_STREAM])
        factor, prob = self.augment.center_shift_factor, self.augment.center_shift_prob
        return [dataclasses.replace(r, center=shift_center_at_load(r.center, r.box, factor, prob,
                                                                   rng))
                for r in records]

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.records)

    def _image(self, record: PersonRecord) -> np.ndarray:
        if self._cache is None:
            return read_rgb(record.image)
        key = str(record.image)
        if key not in self._cache:
            self._cache[key] = read_rgb(record.image)
        return self._cache[key]

    def sample(self, index: int) -> Tuple[np.ndarray, np.ndarray, Augmentation]:
        """The augmented crop ``[H, W, 3]`` uint8 (RGB) of record ``index``, its joints ``[J, 3]``
        in input pixels (visibility 0/1; flipped samples have left and right swapped) and the
        augmentation drawn, before targets and normalisation."""
        record = self.records[index]
        image = self._image(record)
        joints = np.array(record.keypoints, dtype=np.float64)
        rng = np.random.default_rng([self.seed, self.epoch, index])
        aspect = self.input_size[1] / self.input_size[0]
        aug = draw_augmentation(self.augment, record.center, record.scale, joints, self.upper,
                                aspect, rng)
        center = aug.center
        if aug.flip:
            image = cv2.flip(image, 1)
            joints = flip_joints(joints, image.shape[1], self.layout.flip_pairs)
            center = center.copy()
            center[0] = image.shape[1] - center[0] - 1
        matrix = affine_transform(center, aug.scale, self.input_size, aug.rotation)
        crop = cv2.warpAffine(image, matrix, (self.input_size[1], self.input_size[0]),
                              flags=cv2.INTER_LINEAR)
        labelled = joints[:, 2] > 0
        joints[labelled, :2] = apply_affine(joints[labelled, :2], matrix)
        return crop, joints, aug

    def __getitem__(self, index: int):
        crop, joints, _ = self.sample(index)
        target, weight = gaussian_targets(joints, self.input_size, self.heatmap_size, self.sigma)
        inputs = normalize_crops(crop[None], self.color)[0]
        return inputs, torch.from_numpy(target), torch.from_numpy(weight)
