"""Pose tracker: flow on real frames, similarities, matching, life cycle, smoothing, retrack."""
import json

import numpy as np
import pytest

from benchmarks.posetrack18 import synthetic
from benchmarks.posetrack18.poseval import evaluate_folders
from helpers import shared_path
from tracker import PoseTracker, TrackerConfig, TrackState
from tracker.flow import OpticalFlow
from tracker.matching import greedy_match, hungarian_match, match_indices
from tracker.retrack import main as retrack_main
from tracker.retrack import retrack_file
from tracker.similarity import box_area, box_iou, pose_box, pose_oks
from tracker.smoothing import KeypointKalman, OneEuroFilter


@pytest.fixture(scope="module")
def video_frame():
    import av

    with av.open(str(shared_path("data/videos/mmpose_demo.mp4"))) as container:
        return next(container.decode(video=0)).to_ndarray(format="rgb24")


@pytest.mark.parametrize("method", ["dis", "farneback"])
def test_flow_moves_keypoints_with_a_shifted_real_frame(video_frame, method):
    import cv2

    h, w = video_frame.shape[:2]
    shift = np.array([6.0, -4.0])
    moved = cv2.warpAffine(video_frame, np.float32([[1, 0, shift[0]], [0, 1, shift[1]]]), (w, h),
                           borderMode=cv2.BORDER_REFLECT)
    flow = OpticalFlow(method, max_side=960)(video_frame, moved)
    rng = np.random.default_rng(0)
    points = rng.uniform([100, 100], [w - 100, h - 100], (5, 17, 2))
    displacement = flow.move(points) - points
    error = np.abs(np.median(displacement.reshape(-1, 2), axis=0) - shift)
    assert error.max() < 0.5, (method, np.median(displacement.reshape(-1, 2), axis=0))
    still = OpticalFlow(method, max_side=960)(video_frame, video_frame)
    assert np.abs(still.move(points) - points).max() < 0.5


def test_flow_at_reduced_resolution_reports_full_resolution_pixels(video_frame):
    import cv2

    h, w = video_frame.shape[:2]
    moved = cv2.warpAffine(video_frame, np.float32([[1, 0, 10], [0, 1, 0]]), (w, h),
                           borderMode=cv2.BORDER_REFLECT)
    flow = OpticalFlow("dis", max_side=480)(video_frame, moved)
    assert flow.scale == 0.5
    d = flow.displacement(np.array([[[w / 2, h / 2], [w / 3, h / 3]]]))
    assert abs(np.median(d[..., 0]) - 10) < 1.0


def test_box_iou_and_pose_box_by_hand():
    iou = box_iou(np.array([[0, 0, 10, 10]]), np.array([[5, 0, 15, 10], [20, 20, 30, 30]]))
    np.testing.assert_allclose(iou, [[1 / 3, 0.0]])
    pose = np.zeros((1, 3, 3))
    pose[0] = [[10, 20, 0.9], [30, 60, 0.9], [500, 500, 0.05]]  # last joint not confident
    np.testing.assert_allclose(pose_box(pose, 0.2), [[10, 20, 30, 60]])
    np.testing.assert_allclose(pose_box(pose, 0.2, enlarge=0.15), [[8.5, 17, 31.5, 63]])


def test_pose_oks_by_hand():
    sigmas = np.full(2, 0.1)
    a = np.array([[[0, 0, 1], [10, 0, 1]]], float)
    b = a.copy()
    b[0, 1, 0] += 4  # second joint 4 px away
    area = np.array([[0, 0, 10, 10]], float)  # area 100
    e = 16 / (2 * 0.1) ** 2 / (100 + np.spacing(1)) / 2
    got = pose_oks(a, area, b, area, sigmas, 0.2)[0, 0]
    assert got == pytest.approx((1 + np.exp(-e)) / 2)


def test_oks_matrix_is_bit_identical_to_the_plain_formula():
    from pose.oks import oks_matrix

    rng = np.random.default_rng(0)
    sigmas = rng.uniform(0.02, 0.11, 17)
    a = rng.uniform(0, 2000, (9, 17, 3))  # far pairs: exp underflows
    b = np.concatenate([a[:5] + rng.normal(0, 8, (5, 17, 3)), rng.uniform(0, 2000, (3, 17, 3))])
    a[..., 2], b[..., 2] = rng.uniform(0, 1, (9, 17)), rng.uniform(0, 1, (8, 17))
    a[0, 3, :] = [np.nan, 5.0, 0.9]  # NaN joints, confident and not: OKS NaN (as exp(NaN) * 0)
    a[1, 4, :] = [np.nan, 5.0, 0.0]
    area_a, area_b = rng.uniform(0, 3e4, 9), rng.uniform(0, 3e4, 8)
    area_a[2] = 0
    d2 = ((a[:, None, :, :2] - b[None, :, :, :2]) ** 2).sum(-1)
    e = d2 / (2 * sigmas) ** 2 / ((area_a[:, None] + area_b[None])[..., None] / 2
                                  + np.spacing(1)) / 2
    both = (a[:, None, :, 2] > 0.2) & (b[None, :, :, 2] > 0.2)
    with np.errstate(invalid="ignore"):
        plain = np.where(both.sum(-1) > 0,
                         (np.exp(-e) * both).sum(-1) / np.maximum(both.sum(-1), 1), 0.0)
    got = oks_matrix(a, b, area_a, area_b, sigmas, 0.2)
    assert np.isnan(got[:2]).all() and not np.isnan(got[2:]).any()
    np.testing.assert_array_equal(got, plain)
    np.testing.assert_array_equal(oks_matrix(a, b, area_a, area_b, sigmas),
                                  np.exp(-e).mean(-1))


def test_box_iou_with_known_areas_and_matching_indices():
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0, 100, (6, 4)), rng.uniform(0, 100, (5, 4))
    a[:, 2:] += a[:, :2]
    b[:, 2:] += b[:, :2]
    np.testing.assert_array_equal(box_iou(a, b, box_area(a), box_area(b)), box_iou(a, b))
    sim = np.array([[0.5, 0.5, 0.1], [0.5, 0.5, 0.9]])
    assert greedy_match(sim, 0.2) == [(1, 2), (0, 0)]  # equal similarities: row-major order
    for method in ("greedy", "hungarian"):
        rows, cols = match_indices(sim, 0.2, method)
        assert rows.dtype == cols.dtype == np.int64
        assert set(zip(rows.tolist(), cols.tolist())) == {(1, 2), (0, 0)}


def test_greedy_takes_the_best_pair_first_unlike_hungarian():
    sim = np.array([[0.9, 0.8], [0.85, 0.1]])
    assert greedy_match(sim, 0.3) == [(0, 0)]  # 0.9 first, then row 1's only option is 0.1
    assert sorted(hungarian_match(sim, 0.3)) == [(0, 1), (1, 0)]  # 1.65 > 0.9 + 0.1
    assert greedy_match(sim, 0.95) == [] and hungarian_match(sim, 0.95) == []


def people(n, frame, speed=5.0, spacing=300.0):
    """n people of 17 joints moving right."""
    rng = np.random.default_rng(1)
    shape = rng.uniform(0, 80, (n, 17, 2))
    out = np.zeros((n, 17, 3))
    out[..., :2] = shape + np.arange(n)[:, None, None] * np.array([spacing, 0]) + [speed * frame, 0]
    out[..., 2] = 0.9
    return out


@pytest.mark.parametrize("similarity", ["oks", "iou", "both"])
def test_a_track_survives_a_gap_of_max_lost_seconds(similarity):
    k, fps = 4, 10.0  # max_lost 0.4 s = 4 frames
    tracker = PoseTracker(TrackerConfig(similarity=similarity, max_lost=k / fps, fps=fps))
    for f in range(4):  # seen walking: the motion model knows the velocity
        first = tracker.update(people(2, f))
    np.testing.assert_array_equal(first, [0, 1])
    for f in range(4, k + 4):  # person 1 occluded for k frames
        assert tracker.update(people(2, f)[:1])[0] == first[0]
    back = tracker.update(people(2, k + 4))
    np.testing.assert_array_equal(back, first)
    tracker = PoseTracker(TrackerConfig(similarity=similarity, max_lost=(k - 1) / fps, fps=fps))
    for f in range(4):
        first = tracker.update(people(2, f))
    for f in range(4, k + 4):
        tracker.update(people(2, f)[:1])
    back = tracker.update(people(2, k + 4))
    assert back[0] == first[0] and back[1] == -1  # ended: a new, tentative track
    assert tracker.update(people(2, k + 5))[1] == 2  # confirmed: a new identity, never reused


def test_tracks_report_copies_of_the_stacked_state():
    tracker = PoseTracker(TrackerConfig())
    tracker.update(people(3, 0))
    tracker.update(people(3, 1)[:2])
    tracks = tracker.tracks
    assert [(t.track_id, t.state, t.hits, t.lost) for t in tracks] == [
        (0, TrackState.TRACKED, 2, 0), (1, TrackState.TRACKED, 2, 0),
        (2, TrackState.LOST, 1, 1)]
    assert 0 < tracks[0].velocity[0] < 5.0 and abs(tracks[0].velocity[1]) < 1e-9
    np.testing.assert_array_equal(tracks[1].pose, people(3, 1)[1])
    np.testing.assert_allclose(tracks[1].box, pose_box(people(3, 1)[1:2], 0.2)[0])
    tracks[0].pose[:] = 0  # a copy
    assert tracker.state.pose[0].any()


def test_weak_poses_do_not_start_tracks():
    tracker = PoseTracker(TrackerConfig(min_joints=5))
    pose = people(1, 0)
    pose[0, 4:, 2] = 0.05  # 4 confident joints
    assert tracker.update(pose)[0] == -1 and not tracker.tracks


def test_frames_without_people_before_and_between_people_with_flow(video_frame):
    flow = OpticalFlow("dis", max_side=480)(video_frame, video_frame)
    assert flow.move(np.zeros((0, 17, 2))).shape == (0, 17, 2)
    tracker = PoseTracker(TrackerConfig(flow="dis"))
    nobody = np.zeros((0, 17, 3))
    for _ in range(2):  # a video that starts with nobody in it
        assert tracker.update(nobody, frame=video_frame).tolist() == []
        assert len(tracker.propagated_boxes(video_frame)) == 0
    pose = people(1, 0) + [200, 200, 0]
    assert tracker.update(pose, frame=video_frame).tolist() == [-1]  # tentative
    assert tracker.update(pose, frame=video_frame).tolist() == [0]  # confirmed
    assert tracker.update(nobody, frame=video_frame).tolist() == []
    assert tracker.update(pose, frame=video_frame).tolist() == [0]


def test_propagated_boxes_are_the_motion_models_prediction(video_frame):
    tracker = PoseTracker(TrackerConfig())
    for f in range(12):
        tracker.update(people(1, f))
    boxes, ids = tracker.propagated_boxes(None, return_ids=True)
    expected = pose_box(people(1, 12), 0.2)
    np.testing.assert_allclose(boxes[:, :4], expected, atol=1.0)  # 5 px per frame, learnt
    assert boxes[0, 4] == pytest.approx(1.0) and ids.tolist() == [0]
    flow_tracker = PoseTracker(TrackerConfig(flow="dis"))
    pose = people(1, 0) + [200, 200, 0]
    flow_tracker.update(pose, frame=video_frame)
    same = flow_tracker.propagated_boxes(video_frame)  # nothing moved in the frame
    np.testing.assert_allclose(same[:, :4], pose_box(pose, 0.2), atol=1.0)
    assert flow_tracker.update(pose, frame=video_frame).tolist() == [0]


def test_smoothing_reduces_jitter():
    rng = np.random.default_rng(0)
    noisy = [np.array([[100.0, 50.0]]) + rng.normal(0, 3, (1, 2)) for _ in range(100)]
    for smoother in (OneEuroFilter(30.0, min_cutoff=0.5, beta=0.0),
                     KeypointKalman(1, process_noise=0.1)):
        out = np.array([smoother(x) for x in noisy])[20:]
        assert out.std(axis=0).max() < 0.5 * np.array(noisy)[20:].std(axis=0).min()
    tracker = PoseTracker(TrackerConfig(flow=None, smoothing="one_euro"))
    ids = tracker.update(people(1, 0))
    assert tracker.smoothed_poses(ids, people(1, 0)).shape == (1, 17, 3)


def derived(tmp_path, name, noise, frames=12):
    gt = synthetic.derive_sequence(json.loads(shared_path(
        f"data/posetrack18_sample/annotations/val/{name}").read_text()), frames, seed=3, speed=6)
    pred = synthetic.predictions_from_gt(gt, np.random.default_rng(0), **noise)
    erased = json.loads(json.dumps(pred))
    for k, ann in enumerate(erased["annotations"]):
        ann["track_id"] = 5000 + k
    for folder, data in (("gt", gt), ("true", pred), ("erased", erased)):
        synthetic.write(data, tmp_path / folder / name)


def test_retrack_restores_erased_identities(tmp_path):
    for name in ("012834_mpii_test.json", "009473_mpii_test.json"):
        derived(tmp_path / "clean", name, dict(scores="random"))
        derived(tmp_path / "noisy", name, dict(jitter=0.1, drop_joint=0.1, false_person=0.2))
    for case, tolerance in (("clean", None), ("noisy", 1.0)):
        root = tmp_path / case
        assert retrack_main(["--input", str(root / "erased"), "--output",
                             str(root / "retracked")]) == 0
        erased = evaluate_folders(root / "gt", root / "erased").tables()["MOTA"]["Total"]
        mota = evaluate_folders(root / "gt", root / "retracked").tables()["MOTA"]["Total"]
        true = evaluate_folders(root / "gt", root / "true").tables()["MOTA"]["Total"]
        assert erased < 50  # erased identities: every frame switches
        if tolerance is None:
            assert mota >= 99.5
        else:
            assert mota >= true - tolerance


def test_frames_without_poses_do_not_end_identities():
    data = {"images": [{"id": i} for i in range(6)], "annotations": []}
    for i in (0, 5):  # 4 unlabelled frames in between, max_lost 1
        for k, p in enumerate(people(2, i)):
            data["annotations"].append({"image_id": i, "track_id": 77 + k,
                                        "keypoints": p.ravel().tolist()})
    out = retrack_file(data, TrackerConfig(max_lost=1 / 30, threshold=0.05))
    ids = [(a["image_id"], a["track_id"]) for a in out["annotations"]]
    assert ids == [(0, 0), (0, 1), (5, 0), (5, 1)]


def test_retrack_cli_refuses_an_empty_folder(tmp_path, capsys):
    assert retrack_main(["--input", str(tmp_path), "--output", str(tmp_path / "o")]) == 2
    assert "no *.json" in capsys.readouterr().err


def test_propagated_boxes_recover_a_missed_detection():
    from tracker.propagation import missed_boxes

    detected = np.array([[0, 0, 10, 20, 0.9]], np.float32)
    propagated = np.array([[1, 0, 11, 20, 0.95], [50, 50, 60, 70, 0.7]], np.float32)
    missed, rows = missed_boxes(detected, propagated, (100, 100))
    np.testing.assert_array_equal(missed, propagated[1:])  # the duplicate is dropped
    np.testing.assert_array_equal(rows, [1])
    missed, rows = missed_boxes(np.zeros((0, 5)), np.zeros((0, 5)), (9, 9))
    assert missed.shape == (0, 5) and rows.shape == (0,)


def test_raft_offline_says_which_file(torch_home, monkeypatch, video_frame):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", offline)
    with pytest.raises(Exception, match="raft_small"):
        OpticalFlow("raft", max_side=128)(video_frame, video_frame)


def test_predicted_poses_move_with_the_box(video_frame):
    pose = np.zeros((1, 17, 3))
    pose[0, :, 0] = np.linspace(310, 350, 17)
    pose[0, :, 1] = np.linspace(220, 380, 17)
    pose[0, :, 2] = 0.9
    box = np.array([[300.0, 200.0, 360.0, 400.0, 0.9]])
    tracker = PoseTracker(TrackerConfig())
    for f in range(8):  # walking right, 4 px per frame
        tracker.update(pose + [4 * f, 0, 0], box + [4 * f, 0, 4 * f, 0, 0])
    tracker.update(np.zeros((0, 17, 3)), np.zeros((0, 5)))  # lost
    (track,) = tracker.tracks
    shift = track.predicted_box[:2] - track.box[:2]
    assert track.state == TrackState.LOST and 3 < shift[0] < 4.5  # one frame on
    # the pose is carried with the box: no joint moves on its own
    np.testing.assert_allclose(track.predicted[:, :2] - track.pose[:, :2],
                               np.broadcast_to(track.predicted_box[:2] - track.box[:2], (17, 2)),
                               atol=1e-6)
    with pytest.raises(ValueError, match="similarity"):
        PoseTracker(TrackerConfig(similarity="magic"))


def test_tracks_move_with_the_camera_but_never_with_the_flow_in_a_box(video_frame):
    import cv2

    h, w = video_frame.shape[:2]
    seen = np.array([[100.0, 100.0, 160.0, 300.0, 0.9]])
    hidden = np.array([[400.0, 120.0, 460.0, 320.0, 0.9]])

    def tracker_with_one_lost():
        tracker = PoseTracker(TrackerConfig(flow="dis"))
        for _ in range(3):
            tracker.update(boxes=np.concatenate([seen, hidden]), frame=video_frame)
        tracker.update(boxes=seen, frame=video_frame)  # the second person is lost
        return tracker

    panned = cv2.warpAffine(video_frame, np.float32([[1, 0, -12], [0, 1, 0]]), (w, h),
                            borderMode=cv2.BORDER_REFLECT)  # the camera turns: all 12 px left
    tracker = tracker_with_one_lost()
    boxes = tracker.propagated_boxes(panned, max_frames=5)
    assert len(boxes) == 1 and boxes[0, 0] == pytest.approx(100 - 12, abs=1.5)
    tracker.update(boxes=seen - [12, 0, 12, 0, 0], frame=panned)
    lost = [t for t in tracker.tracks if t.state == TrackState.LOST][0]
    assert lost.predicted_box[0] == pytest.approx(400 - 12, abs=1.5)  # moved with the camera
    passing = video_frame.copy()  # someone passes in front of the lost person only
    x1, y1, x2, y2 = hidden[0, :4].astype(int)
    passing[y1:y2, x1:x2] = np.roll(video_frame[y1:y2, x1:x2], -12, axis=1)
    tracker = tracker_with_one_lost()
    tracker.update(boxes=seen, frame=passing)
    lost = [t for t in tracker.tracks if t.state == TrackState.LOST][0]
    assert lost.predicted_box[0] == pytest.approx(400, abs=0.5)  # not dragged
