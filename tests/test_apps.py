"""The apps end to end on real videos: the real ONNX person detector and the reference
(random-weight, official-format) HRNet checkpoint."""
import json
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from apps import track_video, webcam
from apps.video_io import VideoReader, VideoWriter, count_frames
from helpers import shared_path

DETECTOR = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"
WEIGHTS = "reference/hrnet_small_w8_256x192_official.pth"


def _models():
    pytest.importorskip("onnxruntime")
    return ["--detector", "yolox", "--detector-weights", str(shared_path(DETECTOR)),
            "--pose-model", "hrnet_w8", "--pose-weights", str(shared_path(WEIGHTS)),
            "--device", "cpu"]


def _track(video, tmp_path, *extra):
    out_video, out_json = tmp_path / "out.mp4", tmp_path / "out.json"
    code = track_video.main([str(video), "--output-video", str(out_video), "--output-json",
                             str(out_json), "--quiet", *_models(), *extra])
    return code, out_video, out_json


def test_single_walking_person_keeps_one_identity(tmp_path):
    video = shared_path("data/videos/mmpose_body3d_demo.mp4")
    code, out_video, out_json = _track(video, tmp_path)
    assert code == 0
    frames = count_frames(video)
    assert count_frames(out_video) == frames
    reader = VideoReader(out_video)
    assert reader.frame_rate == VideoReader(video).frame_rate
    data = json.loads(out_json.read_text())
    assert [im["frame_index"] for im in data["images"]] == list(range(frames))
    # the walking person is the largest box of every frame it is found in (the detector also
    # fires now and then on a tripod by the wall, a separate, short-lived identity)
    largest = {}
    for a in data["annotations"]:
        area = a["bbox"][2] * a["bbox"][3]
        if area > largest.get(a["image_id"], (0, None))[0]:
            largest[a["image_id"]] = (area, a["track_id"])
    person_ids = {tid for _, tid in largest.values()}
    assert len(person_ids) == 1, f"the walking person had identities {sorted(person_ids)}"
    assert len(largest) >= 0.95 * frames


@pytest.mark.parametrize("name", ["mmpose_demo.mp4", "mmtracking_demo.mp4"])
def test_crowded_videos_give_every_frame(tmp_path, name):
    video = shared_path(f"data/videos/{name}")
    snapshot = tmp_path / "frame.png"
    code, out_video, out_json = _track(video, tmp_path, "--draw-boxes", "--snapshot",
                                       str(snapshot), "--snapshot-frame", "2")
    assert code == 0
    assert count_frames(out_video) == count_frames(video)
    rendered = [f for i, f in VideoReader(out_video) if i == 2][0]
    assert np.abs(cv2.cvtColor(cv2.imread(str(snapshot)), cv2.COLOR_BGR2RGB).astype(int)
                  - rendered).mean() < 4  # the snapshot is that frame of the video
    data = json.loads(out_json.read_text())
    assert len(data["images"]) == count_frames(video)
    assert data["annotations"], "people were found and tracked"
    for image_id in {a["image_id"] for a in data["annotations"]}:
        ids = [a["track_id"] for a in data["annotations"] if a["image_id"] == image_id]
        assert len(ids) == len(set(ids))


def test_start_end_and_detect_every(tmp_path, monkeypatch):
    from apps import pipeline as pipeline_module

    calls = []
    original = pipeline_module.PoseTrackingPipeline._boxes

    def counting(self, frame):
        boxes, from_detector, detected = original(self, frame)
        calls.append((detected, len(boxes)))
        return boxes, from_detector, detected

    monkeypatch.setattr(pipeline_module.PoseTrackingPipeline, "_boxes", counting)
    video = shared_path("data/videos/mmpose_body3d_demo.mp4")
    snapshot = tmp_path / "snapshot.png"
    code, out_video, out_json = _track(video, tmp_path, "--start", "10", "--end", "0.4s",
                                       "--detect-every", "3", "--no-video", "--snapshot",
                                       str(snapshot))
    assert code == 0 and not out_video.exists()
    assert cv2.imread(str(snapshot)).shape[:2] == (1002, 1000)  # the first processed frame
    data = json.loads(out_json.read_text())
    assert [im["frame_index"] for im in data["images"]] == list(range(10, 20))
    assert [d for d, _ in calls] == [k % 3 == 0 for k in range(10)]
    assert all(n >= 1 for d, n in calls[1:] if not d), "people carried by propagated boxes"


def test_tracker_options_reach_the_tracker():
    from apps.components import build_components

    video = str(shared_path("data/videos/mmpose_demo.mp4"))
    args = track_video.parse_args([video, *_models(), "--min-joints", "0", "--max-lost", "7",
                                   "--similarity", "iou"])
    config = build_components(args).pipeline.tracker.config
    assert (config.min_joints, config.max_lost, config.similarity) == (0, 7, "iou")
    default = build_components(track_video.parse_args([video, *_models()]))
    assert default.pipeline.tracker.config.min_joints == 5


def test_default_pose_backend_on_cpu_is_onnxruntime_when_installed():
    pytest.importorskip("onnx")
    from apps.components import build_components
    from pose.onnx_runtime import OnnxPoseModel

    video = str(shared_path("data/videos/mmpose_demo.mp4"))
    default = build_components(track_video.parse_args([video, *_models()]))
    assert isinstance(default.pipeline.estimator.network, OnnxPoseModel)
    assert "onnxruntime" in default.description
    forced = build_components(track_video.parse_args([video, *_models(),
                                                      "--pose-backend", "torch"]))
    assert not isinstance(forced.pipeline.estimator.network, OnnxPoseModel)
    assert "onnxruntime" not in forced.description


def test_auto_backend_falls_back_to_torch_when_onnxruntime_fails(monkeypatch, capsys):
    pytest.importorskip("onnx")
    import apps.components as components
    from pose.onnx_runtime import OnnxPoseModel

    def broken(model, device):
        raise RuntimeError("export failed: something unexpected")

    monkeypatch.setattr(components, "onnx_network", broken)
    video = str(shared_path("data/videos/mmpose_demo.mp4"))
    built = components.build_components(track_video.parse_args([video, *_models()]))
    assert not isinstance(built.pipeline.estimator.network, OnnxPoseModel)
    assert "onnxruntime" not in built.description
    assert "warning: onnxruntime unavailable (export failed" in capsys.readouterr().err
    with pytest.raises(RuntimeError, match="export failed"):  # asked for by name: no fallback
        components.build_components(track_video.parse_args([video, *_models(),
                                                            "--pose-backend", "onnxruntime"]))


def test_onnxruntime_backend_gives_the_torch_results(tmp_path):
    pytest.importorskip("onnx")
    video = shared_path("data/videos/mmpose_demo.mp4")
    results = {}
    for backend in ("torch", "onnxruntime"):
        folder = tmp_path / backend
        folder.mkdir()
        code, _, out_json = _track(video, folder, "--end", "2", "--no-video",
                                   "--pose-backend", backend)
        assert code == 0
        results[backend] = json.loads(out_json.read_text())["annotations"]
    torch_ann, ort_ann = results["torch"], results["onnxruntime"]
    assert len(torch_ann) == len(ort_ann) > 5
    assert [a["track_id"] for a in torch_ann] == [a["track_id"] for a in ort_ann]
    np.testing.assert_allclose([a["bbox"] for a in ort_ann], [a["bbox"] for a in torch_ann])
    a = np.array([x["keypoints"] for x in torch_ann]).reshape(-1, 3)
    b = np.array([x["keypoints"] for x in ort_ann]).reshape(-1, 3)
    # the same heatmaps to float rounding: joints agree (a near-tie of two heatmap maxima of
    # the random-weight network may rarely pick the other one)
    assert np.mean(np.abs(a[:, :2] - b[:, :2]).max(1) < 0.01) > 0.97
    assert np.abs(a[:, 2] - b[:, 2]).max() < 1e-3


def _run(capsys, module, argv):
    code = module.main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_bad_input_gives_one_clear_message(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # default outputs go to the current folder
    video = shared_path("data/videos/mmpose_demo.mp4")
    code, err = _run(capsys, track_video, [str(tmp_path / "missing.mp4")])
    assert code == 2 and "video not found" in err
    fake = tmp_path / "fake.mp4"
    fake.write_text("not a video")
    code, err = _run(capsys, track_video, [str(fake)])
    assert code == 2 and "cannot open" in err
    code, err = _run(capsys, track_video, [str(video), "--output-json",
                                           str(tmp_path / "nowhere" / "x.json")])
    assert code == 2 and "does not exist" in err
    code, err = _run(capsys, track_video, [str(video), "--start", "2", "--snapshot",
                                           str(tmp_path / "s.png"), "--snapshot-frame", "1"])
    assert code == 2 and "--snapshot-frame 1 is not among the frames" in err
    code, err = _run(capsys, track_video, [
        str(video), "--output-json", str(tmp_path / "x.json"), "--no-video",
        "--pose-model", "hrnet_w32", "--pose-weights", str(shared_path(WEIGHTS)),
        "--detector-weights", str(shared_path(DETECTOR))])
    assert code == 2 and "error:" in err and "hrnet_w8" in err  # names the fitting model
    assert not (tmp_path / "x.json").exists()
    if Path("/proc/self").is_dir():  # a folder nobody, root included, can create files in
        code, err = _run(capsys, track_video, [str(video), "--output-video", "/proc/x.mp4"])
        assert code == 2 and "--output-video /proc/x.mp4: cannot write there" in err
    # a video the encoder cannot write, found once the models are loaded: no partial JSON left
    code, err = _run(capsys, track_video, [str(video), "--output-json", str(tmp_path / "y.json"),
                                           "--output-video", str(tmp_path / "y.xyz"),
                                           *_models()])
    assert code == 2 and "cannot write the video" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.mp4"]


def test_offline_default_pose_model_says_what_to_fetch(tmp_path, capsys, monkeypatch,
                                                       torch_home):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", offline)
    video = shared_path("data/videos/mmpose_demo.mp4")
    code, err = _run(capsys, track_video, [str(video), "--output-json",
                                           str(tmp_path / "x.json"), "--no-video"])
    assert code == 2 and err.count("error:") == 2  # both missing files, in one run
    assert "hrnet_w32_posetrack18_256x192-1ee951c4_20201028.pth" in err
    assert "--pose-weights" in err
    assert "yolox_nano_8xb8-300e_humanart-40f6f0d0" in err and "--detector-weights" in err
    # the default detector on CPU, offline: the same (the pose weights are local)
    code, err = _run(capsys, track_video, [
        str(video), "--output-json", str(tmp_path / "x.json"), "--no-video", "--device", "cpu",
        "--pose-model", "hrnet_w8", "--pose-weights", str(shared_path(WEIGHTS))])
    assert code == 2 and err.count("error:") == 1
    assert "yolox_nano_8xb8-300e_humanart-40f6f0d0" in err and "--detector-weights" in err
    assert not (tmp_path / "x.json").exists()


def test_interrupted_and_broken_videos_keep_what_was_done(tmp_path, capsys, monkeypatch):
    source = shared_path("data/videos/mmpose_demo.mp4")
    frames = [f for _, f in VideoReader(source)]
    full = tmp_path / "full.avi"
    with VideoWriter(full, 5, frames[0].shape[1], frames[0].shape[0]) as writer:
        for k in range(12):
            writer.write(frames[k % len(frames)])
    broken = tmp_path / "broken.avi"
    data = full.read_bytes()
    broken.write_bytes(data[:len(data) * 2 // 3])
    out_json = tmp_path / "broken.json"
    code, err = _run(capsys, track_video, [str(broken), "--output-json", str(out_json),
                                           "--output-video", str(tmp_path / "b.mp4"),
                                           "--quiet", *_models(), "--no-flip"])
    kept = len(json.loads(out_json.read_text())["images"])
    assert code == 1 and "broke off" in err and 0 < kept < 12
    assert f"the outputs hold the {kept} frames before that" in err
    assert count_frames(tmp_path / "b.mp4") == kept

    from apps import pipeline as pipeline_module

    original = pipeline_module.PoseTrackingPipeline.process

    def interrupt_at_3(self, frame, index=None, boxes=None):
        if index == 3:
            raise KeyboardInterrupt
        return original(self, frame, index, boxes)

    monkeypatch.setattr(pipeline_module.PoseTrackingPipeline, "process", interrupt_at_3)
    code, err = _run(capsys, track_video, [str(full), "--output-json", str(out_json),
                                           "--output-video", str(tmp_path / "i.mp4"),
                                           "--quiet", *_models(), "--no-flip"])
    assert code == 130 and "interrupted" in err
    assert len(json.loads(out_json.read_text())["images"]) == 3
    assert count_frames(tmp_path / "i.mp4") == 3


def test_webcam_app_headless_with_a_video_file_as_camera(tmp_path, capsys):
    video = shared_path("data/videos/mmpose_demo.mp4")
    out_json, out_video = tmp_path / "live.json", tmp_path / "live.mp4"
    code, err = _run(capsys, webcam, ["--camera", str(video), "--no-display", "--no-pace",
                                      "--output-json", str(out_json), "--output-video",
                                      str(out_video), *_models(), "--no-flip"])
    assert code == 0
    data = json.loads(out_json.read_text())
    assert [im["frame_index"] for im in data["images"]] == list(range(5))  # nothing dropped
    assert count_frames(out_video) == 5 and data["annotations"]
    code, err = _run(capsys, webcam, ["--camera", str(tmp_path / "nope.mp4"), "--no-display"])
    assert code == 2 and "no such camera" in err
    code, err = _run(capsys, webcam, ["--camera", str(video), "--no-display", "--output-json",
                                      str(tmp_path / "nowhere" / "x.json"), *_models()])
    assert code == 2 and "--output-json" in err and "does not exist" in err
    with VideoWriter(tmp_path / "three.avi", 5, 64, 64) as writer:
        for k in range(3):
            writer.write(np.full((64, 64, 3), 80 * k, np.uint8))
    data = (tmp_path / "three.avi").read_bytes()
    empty = tmp_path / "empty.avi"  # the header, cut where the frames begin
    empty.write_bytes(data[:data.index(b"movi") + 4])
    code, err = _run(capsys, webcam, ["--camera", str(empty), "--no-display"])
    assert code == 2 and "delivers no frames" in err


def test_webcam_drops_frames_rather_than_lag(tmp_path, capsys, monkeypatch):
    """Played live (the file's 5 fps) through a pipeline slower than 0.4 s a frame, frames that
    arrive while one is processed are dropped, and the newest (the last) is always processed."""
    from apps import pipeline as pipeline_module

    original = pipeline_module.PoseTrackingPipeline.process

    def slow(self, *args, **kwargs):
        time.sleep(0.45)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(pipeline_module.PoseTrackingPipeline, "process", slow)
    out_json = tmp_path / "live.json"
    code, err = _run(capsys, webcam, ["--camera", str(shared_path("data/videos/mmpose_demo.mp4")),
                                      "--no-display", "--output-json", str(out_json), *_models(),
                                      "--no-flip"])
    assert code == 0
    indices = [im["frame_index"] for im in json.loads(out_json.read_text())["images"]]
    assert indices[0] == 0 and indices[-1] == 4 and indices == sorted(set(indices))
    assert len(indices) <= 3, f"frames were queued, not dropped: {indices}"
    assert f"processed {len(indices)} of 5 captured frames ({5 - len(indices)} dropped" in err


def test_pipeline_boxes_given_replace_the_detector():
    import pose
    from apps.pipeline import PoseTrackingPipeline
    from tracker.tracker import PoseTracker, TrackerConfig

    model = pose.build_model("hrnet_w8", weights=str(shared_path(WEIGHTS)))
    pipe = PoseTrackingPipeline(pose.TopDownEstimator(model, flip=False),
                                PoseTracker(TrackerConfig(flow=None)), detector=None)
    frame = np.zeros((120, 160, 3), np.uint8)
    result = pipe.process(frame, boxes=np.array([[10, 10, 60, 110], [80, 10, 130, 110]]))
    assert result.poses.shape == (2, 17, 3) and result.boxes.shape == (2, 5)
    assert not result.detected and (result.boxes[:, 4] == 1).all()
