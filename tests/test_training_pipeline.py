"""Training data pipeline: targets, flip, half body, centre shift, loss, schedule."""
import dataclasses

import cv2
import numpy as np
import pytest
import torch

from pose.keypoints import COCO, MPII
from pose.training.augment import (AugmentConfig, draw_augmentation, flip_joints,
                                   half_body_region, upper_body_mask)
from pose.training.dataset import TopDownTrainingSet
from pose.training.loss import JointsMSELoss, JointsOHKMMSELoss
from pose.training.records import PersonRecord
from pose.training.schedule import WarmupMultiStepLR
from pose.training.targets import gaussian_targets
from pose.transforms import SCALE_UNIT, box_to_center_scale

INPUT = (64, 48)  # (h, w): heatmaps 16 x 12, stride 4
# 17 well-separated colours, one per joint
PALETTE = np.array([[r, g, b] for r in (0, 128, 255) for g in (0, 128, 255) for b in (0, 128, 255)
                    if (r, g, b) not in ((0, 0, 0), (128, 128, 128))][:17], dtype=np.uint8)


def _person_image(tmp_path, name="person.png"):
    """A grey image with joint j drawn as a disc of colour PALETTE[j]; joints on a 4 x 5 grid
    (rows 0-2: head and arms, rows 3-4: legs, as COCO's order); joint 3 unlabelled."""
    image = np.full((240, 200, 3), 60, np.uint8)
    joints = np.zeros((17, 3))
    for j in range(17):
        x, y = 55 + 30 * (j % 4), 30 + 38 * (j // 4)
        joints[j] = [x, y, 1]
        cv2.circle(image, (x, y), 7, PALETTE[j].tolist(), -1)
    joints[3] = 0
    path = tmp_path / name
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    center, scale = box_to_center_scale(np.array([[40, 15, 160, 200]]), INPUT)
    return PersonRecord(path, center[0], scale[0], joints, 1)


def _colour_index(crop, xy):
    x, y = int(round(xy[0])), int(round(xy[1]))
    pixel = crop[y, x].astype(int)
    return int(np.argmin(np.abs(PALETTE.astype(int) - pixel).sum(axis=1)))


def test_gaussian_targets_peak_at_joints_and_drop_outside_ones():
    joints = np.array([[20.0, 30.0, 1], [1.0, 60.0, 1], [200.0, 10.0, 1], [24.0, 24.0, 0]])
    target, weight = gaussian_targets(joints, INPUT, (16, 12), sigma=2)
    assert target.shape == (4, 16, 12) and target.dtype == np.float32
    assert np.unravel_index(target[0].argmax(), target[0].shape) == (8, 5)  # int(30/4+.5), 20/4
    assert target[0, 8, 5] == 1.0 and target[1, 15, 0] == 1.0  # clipped window at the corner
    np.testing.assert_array_equal(weight[:, 0], [1, 1, 0, 0])  # far outside; unlabelled
    assert target[2].max() == 0 and target[3].max() == 0
    # the Gaussian's shape: exp(-d^2 / 8) one pixel away
    assert target[0, 8, 6] == pytest.approx(np.exp(-1 / 8), rel=1e-6)


def test_targets_peak_at_the_transformed_keypoints(tmp_path):
    record = _person_image(tmp_path)
    data = TopDownTrainingSet([record] * 12, COCO, INPUT, AugmentConfig(), seed=3)
    flipped = rotated = 0
    for epoch in range(2):
        data.set_epoch(epoch)
        for index in range(len(data)):
            crop, joints, aug = data.sample(index)
            inputs, target, weight = data[index]
            assert inputs.shape == (3, 64, 48) and target.shape == (17, 16, 12)
            flipped += aug.flip
            rotated += aug.rotation != 0
            for j in np.flatnonzero(weight[:, 0].numpy() > 0):
                mu = (int(joints[j, 1] / 4 + 0.5), int(joints[j, 0] / 4 + 0.5))
                if 0 <= mu[0] < 16 and 0 <= mu[1] < 12:
                    assert np.unravel_index(int(target[j].argmax()), (16, 12)) == mu
                    assert target[j].max() == 1
                else:  # official: a window reaching into the heatmap keeps the joint
                    assert target[j].max() < 1
                inside = 2 <= joints[j, 0] < 46 and 2 <= joints[j, 1] < 62
                if inside:  # the crop shows joint j's disc (its mirror partner's when flipped)
                    expected = COCO.flip_indices[j] if aug.flip else j
                    assert _colour_index(crop, joints[j]) == expected
    assert 0 < flipped < 24 and rotated > 0


def test_flip_swaps_left_and_right_and_is_an_involution():
    joints = np.random.default_rng(0).uniform(0, 100, (17, 3))
    joints[:, 2] = 1
    joints[4, 2] = 0
    once = flip_joints(joints, 120, COCO.flip_pairs)
    assert once[1, 0] == 120 - joints[2, 0] - 1 and once[1, 1] == joints[2, 1]
    np.testing.assert_array_equal(once[3], [0, 0, 0])  # unlabelled right ear -> zeroed left ear
    twice = flip_joints(once, 120, COCO.flip_pairs)
    labelled = (joints[:, 2] > 0)
    np.testing.assert_allclose(twice[labelled], joints[labelled])


def test_upper_body_split_matches_the_official_ids():
    assert np.flatnonzero(upper_body_mask(COCO.names)).tolist() == list(range(11))
    assert np.flatnonzero(upper_body_mask(MPII.names)).tolist() == list(range(7, 16))


def test_half_body_crops_one_half_and_keeps_joints_consistent(tmp_path):
    record = _person_image(tmp_path)
    upper = upper_body_mask(COCO.names)
    config = AugmentConfig(flip=True, scale_factor=0.0, rotation_factor=0.0, half_body_prob=1.0)
    data = TopDownTrainingSet([record] * 16, COCO, INPUT, config, seed=1)
    halves = set()
    for index in range(len(data)):
        crop, joints, aug = data.sample(index)
        half_height = aug.scale[1] * SCALE_UNIT / 2
        assert half_height < record.scale[1] * SCALE_UNIT / 2  # a smaller region than the body
        inside = ((joints[:, 0] >= 0) & (joints[:, 0] < 48) & (joints[:, 1] >= 0)
                  & (joints[:, 1] < 64) & (joints[:, 2] > 0))
        side = upper if not aug.flip else upper[COCO.flip_indices]
        labelled = joints[:, 2] > 0
        if inside[labelled & side].all():
            halves.add("upper")
        if inside[labelled & ~side].all():
            halves.add("lower")
        for j in np.flatnonzero(inside):
            expected = COCO.flip_indices[j] if aug.flip else j
            assert _colour_index(crop, joints[j]) == expected
    assert halves == {"upper", "lower"}


def test_half_body_region_follows_the_official_formula():
    joints = np.array([[10, 10, 1], [30, 10, 1], [20, 50, 1], [0, 0, 0]], dtype=float)
    upper = np.array([True, True, True, False])
    rng = np.random.default_rng(0)
    center, scale = half_body_region(joints, upper, 0.75, rng)
    np.testing.assert_allclose(center, [20, 70 / 3], rtol=1e-6)
    # w = 20, h = 40 -> w = 30 (aspect 0.75); x 1.5
    np.testing.assert_allclose(scale, [30 / 200 * 1.5, 40 / 200 * 1.5], rtol=1e-6)
    assert half_body_region(joints[:1], upper[:1], 0.75, rng) is None  # one joint: no region


def test_loss_ignores_zero_weight_joints():
    torch.manual_seed(0)
    output = torch.rand(2, 5, 8, 6, requires_grad=True)
    target = torch.rand(2, 5, 8, 6)
    weight = torch.ones(2, 5, 1)
    weight[0, 1] = 0
    weight[1, 3] = 0
    loss = JointsMSELoss()(output, target, weight)
    changed = output.detach().clone()
    changed[0, 1] += 10
    changed[1, 3] -= 7
    assert JointsMSELoss()(changed, target, weight) == loss
    loss.backward()
    assert output.grad[0, 1].abs().max() == 0 and output.grad[1, 3].abs().max() == 0
    assert output.grad[0, 0].abs().max() > 0
    # with all weights 1 it is half the plain mean squared error
    plain = JointsMSELoss()(output, target, torch.ones(2, 5, 1))
    assert plain.item() == pytest.approx(0.5 * torch.mean((output - target) ** 2).item(),
                                         rel=1e-6)
    assert JointsMSELoss()(changed, target, torch.ones(2, 5, 1)) != plain


def test_ohkm_averages_the_hardest_joints_and_ignores_zero_weights():
    output = torch.zeros(1, 4, 2, 2)
    target = torch.zeros(1, 4, 2, 2)
    target[0, :, 0, 0] = torch.tensor([1.0, 2.0, 3.0, 4.0])
    weight = torch.ones(1, 4, 1)
    errors = 0.5 * target[0, :, 0, 0] ** 2 / 4  # per joint: half the mean over 4 pixels
    assert JointsOHKMMSELoss(topk=2)(output, target, weight).item() == pytest.approx(
        float(errors[2:].mean()))
    weight[0, 3] = 0
    assert JointsOHKMMSELoss(topk=2)(output, target, weight).item() == pytest.approx(
        float(errors[1:3].mean()))


def test_warmup_and_steps_follow_mmpose_and_official_schedules():
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=5e-4)
    schedule = WarmupMultiStepLR(optimizer, (10, 15), iters_per_epoch=20, warmup_iters=100,
                                 warmup_ratio=0.001)
    rates = []
    for _ in range(400):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert rates[0] == pytest.approx(5e-7)
    assert rates[50] == pytest.approx(5e-4 * (1 - 0.5 * 0.999))
    assert rates[100] == rates[199] == pytest.approx(5e-4)
    assert rates[200] == pytest.approx(5e-5) and rates[299] == pytest.approx(5e-5)
    assert rates[300] == pytest.approx(5e-6)


SHIFT_ONLY = dict(flip=False, scale_factor=0.0, rotation_factor=0.0, rotation_prob=0.0,
                  half_body_prob=0.0)


def test_per_sample_centre_shift_follows_mmpose_probability_and_range():
    """TopDownRandomShiftBboxCenter(shift_factor=0.16, prob=0.3): with probability 0.3 the centre
    moves by uniform(-1, 1) * 0.16 * scale * 200 on each axis; the scale is untouched."""
    config = AugmentConfig(**SHIFT_ONLY, center_shift_factor=0.16, center_shift_prob=0.3)
    center, scale = np.array([300.0, 200.0]), np.array([1.2, 1.6])
    joints = np.zeros((17, 3))
    rng = np.random.default_rng(0)
    draws = 20000
    shifts = np.array([draw_augmentation(config, center, scale, joints, np.ones(17, bool), 0.75,
                                         rng).center - center for _ in range(draws)])
    moved = np.any(shifts != 0, axis=1)
    assert abs(moved.mean() - 0.3) < 0.015  # 4.7 standard deviations
    relative = shifts[moved] / (0.16 * scale * SCALE_UNIT)
    assert np.abs(relative).max() <= 1 + 1e-5 and np.abs(relative).max() > 0.99
    for axis in range(2):  # uniform: a quarter of the shifts in each quarter of [-1, 1]
        counts = np.histogram(relative[:, axis], bins=4, range=(-1, 1))[0] / moved.sum()
        np.testing.assert_allclose(counts, 0.25, atol=0.025)
    assert abs(np.corrcoef(relative.T)[0, 1]) < 0.05  # x and y drawn independently
    unshifted = draw_augmentation(AugmentConfig(**SHIFT_ONLY), center, scale, joints,
                                  np.ones(17, bool), 0.75, np.random.default_rng(0))
    np.testing.assert_array_equal(unshifted.center, center.astype(np.float32))


def test_half_body_replaces_and_flip_mirrors_the_shifted_centre(tmp_path):
    record = _person_image(tmp_path)
    shift = dict(center_shift_factor=0.16, center_shift_prob=1.0)
    half = AugmentConfig(flip=False, scale_factor=0.0, rotation_factor=0.0, half_body_prob=1.0,
                         **shift)
    data = TopDownTrainingSet([record] * 4, COCO, INPUT, half, seed=2)
    upper = upper_body_mask(COCO.names)
    for index in range(4):
        _, _, aug = data.sample(index)
        region = [half_body_region(record.keypoints, upper, 0.75, np.random.default_rng(s))
                  for s in range(40)]
        assert any(np.allclose(aug.center, c) for c, _ in region)  # the half body's centre
    flip = AugmentConfig(**dict(SHIFT_ONLY, flip=True), **shift)
    data = TopDownTrainingSet([record] * 12, COCO, INPUT, flip, seed=2)
    image_width = 200
    flipped = 0
    for index in range(12):
        _, joints, aug = data.sample(index)
        assert not np.allclose(aug.center, record.center)  # shifted
        flipped += aug.flip
        # the crop is centred on the shifted centre, mirrored with the image when flipped
        source, center = record.keypoints.copy(), aug.center.astype(float)
        if aug.flip:
            source = flip_joints(source, image_width, COCO.flip_pairs)
            center[0] = image_width - 1 - center[0]
        zoom = INPUT[1] / (aug.scale[0] * SCALE_UNIT)
        labelled = source[:, 2] > 0
        expected = (source[labelled, :2] - center) * zoom + [INPUT[1] / 2, INPUT[0] / 2]
        np.testing.assert_allclose(joints[labelled, :2], expected, atol=1e-3)
    assert 0 < flipped < 12


def test_load_time_centre_shift_follows_mmpose_0_8_to_0_25(tmp_path):
    """mmpose 0.8-0.25 ``_xywh2cs``: once per person, with probability 0.3, the centre moves by
    0.4 * (rand(2) - 0.5) * [w, h] of the clean box; the shift stays for every epoch."""
    box = np.array([40.0, 15.0, 160.0, 200.0])  # w 120, h 185
    center, scale = box_to_center_scale(box[None], INPUT)
    joints = np.zeros((17, 3))
    records = [PersonRecord(tmp_path / "none.png", center[0], scale[0], joints, k, box)
               for k in range(20000)]
    config = AugmentConfig(**SHIFT_ONLY, center_shift_factor=0.2, center_shift_prob=0.3,
                           center_shift_at="load")
    data = TopDownTrainingSet(records, COCO, INPUT, config, seed=4)
    shifts = np.array([r.center for r in data.records]) - center[0]
    moved = np.any(shifts != 0, axis=1)
    assert abs(moved.mean() - 0.3) < 0.015
    relative = shifts[moved] / [120.0, 185.0]
    assert np.abs(relative).max() <= 0.2 + 1e-5 and np.abs(relative).max() > 0.199
    for axis in range(2):
        counts = np.histogram(relative[:, axis], bins=4, range=(-0.2, 0.2))[0] / moved.sum()
        np.testing.assert_allclose(counts, 0.25, atol=0.025)
    np.testing.assert_array_equal(data.records[0].scale, scale[0])  # only the centre moves
    assert all(np.array_equal(r.center, center[0]) for r in records)  # inputs unchanged
    again = TopDownTrainingSet(records[:50], COCO, INPUT, config, seed=4)
    other = TopDownTrainingSet(records[:50], COCO, INPUT, config, seed=5)
    np.testing.assert_array_equal([r.center for r in again.records],
                                  [r.center for r in data.records[:50]])
    assert not np.array_equal([r.center for r in other.records],
                              [r.center for r in again.records])
    # the per-sample draws do not move it again: every epoch crops around the same centre
    for epoch in range(2):
        again.set_epoch(epoch)
        assert np.array_equal(draw_augmentation(config, again.records[0].center, scale[0],
                                                joints, np.ones(17, bool), 0.75,
                                                np.random.default_rng(epoch)).center,
                              again.records[0].center)
    with pytest.raises(ValueError, match="box"):
        TopDownTrainingSet([dataclasses.replace(records[0], box=None)], COCO, INPUT, config)


def test_augment_settings_are_checked_at_construction():
    with pytest.raises(ValueError, match="center_shift_at"):
        AugmentConfig(center_shift_at="epoch")
    with pytest.raises(ValueError, match="center_shift_prob"):
        AugmentConfig(center_shift_prob=1.5)
    with pytest.raises(ValueError, match="center_shift_factor"):
        AugmentConfig(center_shift_factor=-0.1)
