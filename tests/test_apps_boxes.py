"""The apps tracking person boxes alone (``--pose-model none``), with the real ONNX detector."""
import json

import numpy as np
import pytest

from apps import track_video, webcam
from apps.render import identity_color
from apps.video_io import VideoReader, count_frames
from helpers import shared_path

DETECTOR = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"


def _detector():
    pytest.importorskip("onnxruntime")
    return ["--detector", "yolox", "--detector-weights", str(shared_path(DETECTOR)),
            "--device", "cpu"]


def test_track_video_with_boxes_only(tmp_path, capsys):
    video = shared_path("data/videos/mmpose_demo.mp4")
    out_video, out_json = tmp_path / "boxes.mp4", tmp_path / "boxes.json"
    code = track_video.main([str(video), "--pose-model", "none", "--output-video",
                             str(out_video), "--output-json", str(out_json), "--quiet",
                             *_detector()])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "boxes only" in err
    data = json.loads(out_json.read_text())
    frames = count_frames(video)
    assert len(data["images"]) == frames == count_frames(out_video)
    people = data["annotations"]
    assert people and all("keypoints" not in a and len(a["bbox"]) == 4 for a in people)
    assert "keypoints" not in data["categories"][0]
    first = [a for a in people if a["image_id"] == 0]
    assert len(first) >= 3 and len({a["track_id"] for a in first}) == len(first)
    later = {a["track_id"] for a in people if a["image_id"] == frames - 1}
    assert later & {a["track_id"] for a in first}, "identities carry over"
    # the boxes are drawn in their identity's colour
    image = next(f for i, f in VideoReader(out_video) if i == 0)
    a = first[0]
    x, y, w, h = (int(round(v)) for v in a["bbox"])
    edge = image[max(y, 0):y + h, max(x - 1, 0):x + 2].reshape(-1, 3).astype(int)
    colour = np.array(identity_color(a["track_id"]))
    assert (np.abs(edge - colour).sum(1) < 60).mean() > 0.5


def test_webcam_with_boxes_only(tmp_path, capsys):
    out_json = tmp_path / "live.json"
    code = webcam.main(["--camera", str(shared_path("data/videos/mmpose_demo.mp4")),
                        "--no-display", "--no-pace", "--pose-model", "none", "--output-json",
                        str(out_json), *_detector()])
    err = capsys.readouterr().err
    assert code == 0, err
    data = json.loads(out_json.read_text())
    assert len(data["images"]) == 5 and data["annotations"]
    assert all("keypoints" not in a for a in data["annotations"])


def test_boxes_only_option_checks(tmp_path, capsys):
    video = str(shared_path("data/videos/mmpose_demo.mp4"))
    code = track_video.main([video, "--pose-model", "none", "--similarity", "oks",
                             "--output-json", str(tmp_path / "x.json"), "--no-video"])
    err = capsys.readouterr().err
    assert code == 2 and "--similarity oks" in err and "Traceback" not in err
    assert not (tmp_path / "x.json").exists()
    with pytest.raises(SystemExit):
        track_video.parse_args([video, "--pose-model", "none", "--detect-every", "2"])
    assert "--detect-every" in capsys.readouterr().err


def test_detector_keeps_low_boxes_for_the_tracker(capsys):
    from apps.components import build_components

    video = str(shared_path("data/videos/mmpose_demo.mp4"))
    args = track_video.parse_args([video, "--pose-model", "none", "--box-threshold", "0.6",
                                   *_detector()])
    components = build_components(args, fps=12.5)
    config = components.pipeline.tracker.config
    assert (config.box_threshold, config.low_box_threshold, config.fps) == (0.6, 0.1, 12.5)
    assert config.new_track_threshold == pytest.approx(0.7)
    assert components.pipeline.detector.score_threshold == 0.1  # asked for low boxes too
    assert components.keypoint_set is None and components.pipeline.estimator is None
