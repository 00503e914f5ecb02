"""Detection ahead in a worker thread: order, results, bounded memory, errors, shutdown, and the
video app's outputs with and without it."""
import json
import threading
import time

import numpy as np
import pytest

from apps.overlap import DetectAhead
from helpers import shared_path


def fake_frames(n, pulled=None, finished=None):
    """``(index, frame)`` for n small frames whose pixels hold their index; records what was
    pulled and whether the generator was closed."""
    try:
        for i in range(n):
            if pulled is not None:
                pulled.append(i)
            yield i, np.full((4, 4, 3), i, np.uint8)
    finally:
        if finished is not None:
            finished.append(True)


class Recorder:
    """A detector whose boxes tell which frame they came from, and which thread ran it."""

    def __init__(self, fail_at=None, delay=0.0):
        self.threads, self.frames, self.fail_at, self.delay = [], [], fail_at, delay

    def __call__(self, frame):
        index = int(frame[0, 0, 0])
        self.threads.append(threading.current_thread().name)
        self.frames.append(index)
        time.sleep(self.delay)
        if index == self.fail_at:
            raise RuntimeError(f"detector failed on frame {index}")
        return np.array([[index, 0, index + 1, 1, 0.9]], np.float32)


def test_frames_come_in_order_with_the_boxes_found_ahead():
    detector = Recorder()
    ahead = DetectAhead(fake_frames(10), detector, detect_every=3)
    delivered, boxes = [], []
    for index, frame in ahead:
        delivered.append(index)
        if index % 3 == 0:  # as the pipeline asks: every detect_every-th frame
            boxes.append(ahead(frame)[0, 0])
    assert delivered == list(range(10)) and boxes == [0, 3, 6, 9]
    assert detector.frames == [0, 3, 6, 9]
    assert set(detector.threads) == {"detect-ahead"}  # all found ahead, none in this thread
    other = np.full((4, 4, 3), 7, np.uint8)  # a frame it was not given: detected now
    assert ahead(other)[0, 0] == 7 and detector.threads[-1] == threading.current_thread().name
    assert ahead.busy_seconds > 0 and not ahead._thread.is_alive()


def test_the_worker_stays_a_few_frames_ahead():
    pulled = []
    ahead = DetectAhead(fake_frames(50, pulled), Recorder(), depth=2)
    for index, frame in ahead:
        time.sleep(0.02)  # a slow consumer
        ahead(frame)
        # taken by the consumer, queued (2), held by the worker waiting to queue (1)
        assert len(pulled) <= index + 1 + 2 + 1
    assert pulled == list(range(50))


def test_a_detector_error_is_raised_for_its_frame():
    ahead = DetectAhead(fake_frames(10), Recorder(fail_at=4))
    seen = []
    with pytest.raises(RuntimeError, match="frame 4"):
        for index, frame in ahead:
            seen.append(index)
            ahead(frame)
    assert seen == [0, 1, 2, 3, 4]


def test_a_source_error_is_raised_where_its_frame_would_come():
    def broken():
        yield from fake_frames(3)
        raise OSError("the stream broke")

    ahead = DetectAhead(broken(), Recorder())
    seen = []
    with pytest.raises(OSError, match="broke"):
        for index, frame in ahead:
            seen.append(index)
    assert seen == [0, 1, 2]


def test_stopping_early_stops_the_worker_and_closes_the_source():
    finished = []
    ahead = DetectAhead(fake_frames(1000, finished=finished), Recorder(delay=0.001), depth=1)
    for index, _ in ahead:
        if index == 3:
            break  # the generator's close (or the caller's, after Ctrl-C) stops it
    ahead.close()
    assert not ahead._thread.is_alive() and finished == [True]
    with pytest.raises(RuntimeError, match="once"):
        next(iter(ahead))
    with pytest.raises(ValueError, match="detect_every"):
        DetectAhead(fake_frames(1), Recorder(), detect_every=0)


def test_the_video_app_gives_the_same_outputs_with_and_without_overlap(tmp_path):
    pytest.importorskip("onnxruntime")
    from apps import track_video

    video = shared_path("data/videos/mmpose_demo.mp4")
    models = ["--detector", "yolox", "--detector-weights",
              str(shared_path("data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx")),
              "--pose-model", "hrnet_w8", "--pose-weights",
              str(shared_path("reference/hrnet_small_w8_256x192_official.pth")),
              "--device", "cpu", "--pose-backend", "torch", "--no-flip", "--quiet", "--no-video",
              "--detect-every", "2", "--end", "4"]
    results = {}
    for name, extra in (("overlapped", []), ("serial", ["--no-overlap"])):
        out = tmp_path / f"{name}.json"
        report = {}
        args = track_video.parse_args([str(video), "--output-json", str(out), *models, *extra])
        assert track_video.run(args, report) == 0
        results[name] = json.loads(out.read_text())
        results[name + " stages"] = report["stages"]
    assert results["overlapped"]["annotations"] == results["serial"]["annotations"]
    assert results["overlapped"]["annotations"]
    assert "detect (thread)" in results["overlapped stages"]
    assert "detect (thread)" not in results["serial stages"]
