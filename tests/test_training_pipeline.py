"""Training data pipeline: targets, flip, half body, loss, schedule."""
import cv2
import numpy as np
import pytest
import torch

from pose.keypoints import COCO, MPII
from pose.training.augment import (AugmentConfig, flip_joints, half_body_region,
                                   upper_body_mask)
from pose.training.dataset import TopDownTrainingSet
from pose.training.loss import JointsMSELoss, JointsOHKMMSELoss
from pose.training.records import PersonRecord
from pose.training.schedule import WarmupMultiStepLR
from pose.training.targets import gaussian_targets
from pose.transforms import PIXEL_STD, box_to_center_scale

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
        half_height = aug.scale[1] * PIXEL_STD / 2
        assert half_height < record.scale[1] * PIXEL_STD / 2  # a smaller region than the body
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
