"""Video I/O, PoseTrack18 JSON output and rendering of the apps (no networks)."""
import json
import time
from fractions import Fraction

import numpy as np
import pytest

from apps.posetrack_json import PoseTrackJsonWriter, finalize, partial_path
from apps.render import draw_poses, identity_color
from apps.video_io import VideoError, VideoReader, VideoWriter, count_frames, parse_position
from benchmarks.posetrack18.files import load_frames
from pose.keypoints import COCO, POSETRACK18
from tracker.propagation import clip_boxes, missed_boxes


def _frames(n, height=49, width=65):
    """Smooth frames (a gradient) with a bright square moving 3 px a frame."""
    ys, xs = np.mgrid[0:height, 0:width]
    base = np.stack([xs * 255 // width, ys * 255 // height, np.full_like(xs, 60)], -1)
    frames = []
    for k in range(n):
        f = base.astype(np.uint8).copy()
        x = (3 * k) % max(width - 12, 1)
        f[10:22, x:x + 12] = 255
        frames.append(f)
    return frames


def test_video_round_trip_keeps_count_rate_and_content(tmp_path):
    path = tmp_path / "out.mp4"
    frames = _frames(23)
    with VideoWriter(path, Fraction(30000, 1001), 65, 49) as writer:
        for f in frames:
            writer.write(f)
    assert writer.frames_written == 23 and writer.error is None
    reader = VideoReader(path)
    assert reader.frame_rate == Fraction(30000, 1001)
    assert (reader.width, reader.height) == (66, 50)  # odd sizes padded to even
    got = list(reader)
    assert [i for i, _ in got] == list(range(23)) and reader.error is None
    # lossy codec, but each frame still resembles its source (and not its neighbours)
    diff = np.abs(got[5][1][:49, :65].astype(int) - frames[5]).mean()
    other = np.abs(got[5][1][:49, :65].astype(int) - frames[9]).mean()
    assert diff < 4 and diff < 0.5 * other


def test_frames_written_with_their_index_keep_their_time(tmp_path):
    """A live source's frames, some dropped, are shown at their own times (the video plays at
    the real speed, not faster)."""
    import av

    path = tmp_path / "live.mp4"
    indices = [7, 10, 11, 15, 21]  # camera frame numbers at 10 fps; the first is time 0
    with VideoWriter(path, 10, 64, 48) as writer:
        for k, index in enumerate(indices):
            writer.write(np.full((48, 64, 3), 40 * k, np.uint8), index)
    with av.open(str(path)) as container:
        times = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    assert len(times) == len(indices)
    np.testing.assert_allclose(np.diff(times), np.diff(indices) / 10, atol=1e-3)


def test_reader_range_and_positions(tmp_path):
    path = tmp_path / "v.mp4"
    with VideoWriter(path, 10, 32, 32) as writer:
        for f in _frames(12, 32, 32):
            writer.write(f)
    reader = VideoReader(path, start=3, end=7)
    assert [i for i, _ in reader] == [3, 4, 5, 6]
    assert parse_position("12", 25) == 12
    assert parse_position("2.5s", 10) == 25
    assert parse_position("01:02", 10) == 620
    assert parse_position(None, 10) is None
    with pytest.raises(ValueError, match="frame index"):
        parse_position("soon", 10)


def test_fragmented_output_survives_a_kill(tmp_path):
    """A writer that is never closed (process killed) leaves a playable file."""
    path = tmp_path / "killed.mp4"
    writer = VideoWriter(path, 10, 32, 32)  # keyframe + fragment every 20 frames
    for f in _frames(50, 32, 32):
        writer.write(f)
    deadline = time.time() + 10
    while writer.frames_written < 50 and time.time() < deadline:
        time.sleep(0.05)
    writer._container.close()  # no encoder flush, no trailer: what a kill leaves
    assert not path.exists() and writer.partial.name == "killed.partial.mp4"
    assert count_frames(writer.partial) >= 20


def test_bad_videos_are_reported(tmp_path):
    with pytest.raises(VideoError, match="not found"):
        VideoReader(tmp_path / "missing.mp4")
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video")
    with pytest.raises(VideoError, match="cannot open"):
        VideoReader(text)
    with pytest.raises(VideoError, match="does not exist"):
        VideoWriter(tmp_path / "no" / "dir.mp4", 25, 32, 32)


def test_truncated_video_keeps_frames_before_the_break(tmp_path):
    full = tmp_path / "full.avi"
    with VideoWriter(full, 10, 64, 64) as writer:
        for f in _frames(30, 64, 64):
            writer.write(f)
    cut = tmp_path / "cut.avi"
    data = full.read_bytes()
    cut.write_bytes(data[:len(data) // 2])
    reader = VideoReader(cut)
    indices = [i for i, _ in reader]
    assert 0 < len(indices) < 30 and indices == list(range(len(indices)))


def test_json_writer_output_is_read_by_the_evaluator(tmp_path):
    out = tmp_path / "video.json"
    writer = PoseTrackJsonWriter(out, "video", "posetrack18", 640, 480, 25.0, nframes=3)
    rng = np.random.default_rng(1)
    for k in range(3):
        poses = np.concatenate([rng.uniform(0, 400, (2, 17, 2)), rng.uniform(0, 1, (2, 17, 1))],
                               axis=2)
        boxes = np.array([[10, 20, 110, 220, 0.9], [200, 20, 300, 220, 0.8]])
        writer.add_frame(k, poses, boxes, np.array([7, -1]))
    assert partial_path(out).exists()
    writer.close()
    assert not partial_path(out).exists()
    data = json.loads(out.read_text())
    assert [im["frame_index"] for im in data["images"]] == [0, 1, 2]
    assert len(data["annotations"]) == 3  # the untracked pose (-1) is left out
    ann = data["annotations"][0]
    assert ann["track_id"] == 7 and len(ann["keypoints"]) == 51 and len(ann["scores"]) == 17
    assert ann["bbox"] == [10.0, 20.0, 100.0, 200.0]
    assert data["categories"][0]["keypoints"] == list(POSETRACK18.names)
    frames = load_frames(out, ground_truth=False)
    assert len(frames) == 3 and frames[1].num_people == 1
    # joints are mapped to poseval's 15 by name (the two ear slots are not evaluated)
    first = frames[0]
    assert first.present[0].sum() == 15
    assert set(first.scores[0][first.present[0]].round(4)) <= set(ann["scores"])


def test_partial_results_of_a_killed_run_can_be_finalized(tmp_path):
    out = tmp_path / "run.json"
    writer = PoseTrackJsonWriter(out, "run", "posetrack18", 64, 64, 10.0)
    for k in range(4):
        writer.add_frame(k, np.ones((1, 17, 3)), np.array([[1, 1, 9, 9, 1.0]]), np.array([0]))
    writer._file.write('{"frame": 4, "peo')  # the kill cut the last line
    writer._file.flush()
    writer._claim.release()  # as the kill does
    finalize(partial_path(out))
    data = json.loads(out.read_text())
    assert len(data["images"]) == 4 and len(data["annotations"]) == 4
    # the same from the command line
    second = tmp_path / "second.json"
    writer = PoseTrackJsonWriter(second, "run", "posetrack18", 64, 64, 10.0)
    writer.add_frame(0, np.ones((1, 17, 3)), np.array([[1, 1, 9, 9, 1.0]]), np.array([0]))
    writer._claim.release()
    from apps import posetrack_json

    assert posetrack_json.main([str(partial_path(second))]) == 0
    assert len(json.loads(second.read_text())["images"]) == 1
    assert not partial_path(second).exists()
    assert posetrack_json.main([str(tmp_path / "nope.partial.jsonl")]) == 2


def test_propagated_boxes_never_duplicate_detections():
    detected = np.array([[100, 100, 200, 300, 0.9]], np.float32)
    propagated = np.array([[105, 98, 203, 305, 1.7],    # the same person: dropped
                           [60, 50, 260, 380, 0.8],     # contains the detection: dropped
                           [400, 100, 480, 300, 0.7],   # a missed person: kept
                           [402, 104, 478, 296, 0.6],   # its duplicate: dropped
                           [-50, 10, -5, 90, 0.9]],     # outside the frame: dropped
                          np.float32)
    missed, rows = missed_boxes(detected, propagated, (480, 640))
    np.testing.assert_array_equal(missed, np.float32([[400, 100, 480, 300, 0.7]]))
    np.testing.assert_array_equal(rows, [2])
    clipped = clip_boxes(np.array([[-10, -10, 700, 500, 3.0]]), (480, 640))
    np.testing.assert_array_equal(clipped, [[0, 0, 640, 480, 1.0]])


def test_rendering_draws_identity_colours():
    frame = np.zeros((120, 160, 3), np.uint8)
    pose = np.zeros((1, 17, 3))
    pose[0, :, 0], pose[0, :, 1], pose[0, :, 2] = np.linspace(20, 140, 17), 60, 0.9
    out = draw_poses(frame, pose, np.array([3]), COCO)
    assert frame.sum() == 0  # input untouched
    colour = np.array(identity_color(3))
    assert (np.abs(out.reshape(-1, 3).astype(int) - colour).sum(1) < 10).sum() > 30
    assert identity_color(3) != identity_color(4)
    weak = pose.copy()
    weak[..., 2] = 0.1
    assert draw_poses(frame, weak, np.array([-1]), COCO).sum() == 0


class _BoxPoses:
    """A stand-in estimator: a confident pose spread over each box (for pipeline logic)."""

    input_size = (256, 192)

    def prepare(self, frame, boxes):
        from types import SimpleNamespace

        return SimpleNamespace(inputs=np.asarray(boxes, np.float64))

    def heatmaps(self, boxes):
        return boxes

    def decode_heatmaps(self, boxes, prepared):
        t = np.linspace(0.1, 0.9, 17)
        poses = np.zeros((len(boxes), 17, 3))
        poses[..., 0] = boxes[:, None, 0] + t * (boxes[:, None, 2] - boxes[:, None, 0])
        poses[..., 1] = boxes[:, None, 1] + t * (boxes[:, None, 3] - boxes[:, None, 1])
        poses[..., 2] = 0.9
        return poses


class _PeopleAt(_BoxPoses):
    """A stand-in pose network that finds a person (confident joints) only in boxes that
    overlap one of ``people`` (a callable: frame count -> boxes [P, 4]) by IoU 0.5."""

    def __init__(self, people):
        self.people, self.frame = people, 0

    def decode_heatmaps(self, boxes, prepared):
        from tracker.similarity import box_iou

        poses = super().decode_heatmaps(boxes, prepared)
        real = self.people(self.frame)
        found = box_iou(boxes[:, :4], real).max(1) >= 0.5 if len(real) and len(boxes) \
            else np.zeros(len(boxes), bool)
        poses[~found, :, 2] = 0.05
        return poses


def _walker(k):
    return np.array([[100 + 4 * k, 100, 160 + 4 * k, 300]], np.float32)


def test_propagation_never_makes_ghost_tracks():
    from apps.pipeline import PoseTrackingPipeline
    from tracker.tracker import PoseTracker, TrackerConfig

    ghost = np.array([[400, 50, 440, 150, 0.9]], np.float32)  # a false person, frames 0-1

    def detector(frame):
        k = detector.calls
        detector.calls += 1
        person = np.concatenate([_walker(k), [[0.9]]], axis=1)
        return np.concatenate([person, ghost]) if k < 2 else person

    frame = np.zeros((480, 640, 3), np.uint8)
    for finds_people_only, carried in ((True, 0), (False, 3)):
        detector.calls = 0
        network = _PeopleAt(lambda k: _walker(k)) if finds_people_only else _BoxPoses()
        pipe = PoseTrackingPipeline(network, PoseTracker(TrackerConfig(propagation=0.1, fps=30)),
                                    detector)
        counts = []
        for k in range(9):
            if finds_people_only:
                network.frame = k
            result = pipe.process(frame)
            counts.append(len(result.boxes))
            assert result.track_ids[0] == 0  # the walker keeps their identity
        # the ghost is seen twice; propagated, it lives on only where the pose network
        # "finds" someone, and then for at most 3 frames (0.1 s at 30 frames/s)
        assert counts == [2, 2] + [2] * carried + [1] * (7 - carried)


def test_propagation_carries_a_missed_person_for_a_few_frames():
    from apps.pipeline import PoseTrackingPipeline
    from tracker.tracker import PoseTracker, TrackerConfig

    def detector(frame):  # misses the walker in frames 4-9
        k = detector.calls
        detector.calls += 1
        return np.zeros((0, 5), np.float32) if 4 <= k < 10 else \
            np.concatenate([_walker(k), [[0.9]]], axis=1)

    detector.calls = 0
    network = _PeopleAt(_walker)
    pipe = PoseTrackingPipeline(network, PoseTracker(TrackerConfig(propagation=0.1, fps=30)),
                                detector)
    frame = np.zeros((480, 640, 3), np.uint8)
    ids = []
    for k in range(14):
        network.frame = k
        result = pipe.process(frame)
        ids.append(result.track_ids.tolist())
        if len(result.boxes) and 4 <= k < 7:  # carried at the predicted box, which follows
            assert abs(result.boxes[0, 0] - _walker(k)[0, 0]) < 8
    assert ids == [[0]] * 7 + [[]] * 3 + [[0]] * 4  # 3 frames carried, then lost, then back


def test_duplicate_poses_are_suppressed_with_the_padded_crop_area():
    """The pipeline's pose NMS is the official one: OKS with the crop region's area (the box
    grown to 3:4 and by 1.25), not the box's, so near-duplicates of one person are removed."""
    from apps.pipeline import PoseTrackingPipeline
    from pose.oks import oks_matrix
    from tracker.tracker import PoseTracker, TrackerConfig

    boxes = np.array([[100, 100, 160, 300, 0.9], [106, 100, 166, 300, 0.8]], np.float32)
    poses = _BoxPoses().decode_heatmaps(boxes.astype(np.float64), None)
    sigmas = COCO.sigma_array()
    box_area = np.full(1, 60.0 * 200.0)
    region_area = np.full(1, (200 * 0.75 * 1.25) * (200 * 1.25))
    assert oks_matrix(poses[:1], poses[1:], box_area, box_area, sigmas)[0, 0] < 0.9
    assert oks_matrix(poses[:1], poses[1:], region_area, region_area, sigmas)[0, 0] > 0.9
    frame = np.zeros((480, 640, 3), np.uint8)
    pipe = PoseTrackingPipeline(_BoxPoses(), PoseTracker(TrackerConfig(flow=None)),
                                pose_nms=0.9)
    result = pipe.process(frame, boxes=boxes)
    np.testing.assert_array_equal(result.boxes, boxes[:1])  # the better-scored one stays
    unsuppressed = PoseTrackingPipeline(_BoxPoses(), PoseTracker(TrackerConfig(flow=None)))
    assert len(unsuppressed.process(frame, boxes=boxes).boxes) == 2


def test_a_new_persons_first_frame_gets_the_identity_once_confirmed():
    """Offline users (the PoseTrack18 runner, ``tracker.retrack``) give a track's first frame
    its identity once the track is confirmed, through the track keys."""
    from apps.pipeline import PoseTrackingPipeline
    from tracker.tracker import PoseTracker, TrackerConfig

    pipe = PoseTrackingPipeline(_BoxPoses(), PoseTracker(TrackerConfig(flow=None)))
    frame = np.zeros((480, 640, 3), np.uint8)
    first = np.concatenate([_walker(0), [[0.9]]], axis=1)
    assert pipe.process(frame, boxes=first).track_ids.tolist() == [0]  # first frame: at once
    later = np.concatenate([first, [[400, 100, 460, 300, 0.9]]])
    new = pipe.process(frame, boxes=later)
    assert new.track_ids.tolist() == [0, -1] and new.track_keys[1] >= 0
    key = int(new.track_keys[1])
    assert pipe.tracker.identities(np.array([key])).tolist() == [-1]  # still tentative
    assert pipe.process(frame, boxes=later).track_ids.tolist() == [0, 1]
    assert pipe.tracker.identities(np.array([key, 999])).tolist() == [1, -1]
