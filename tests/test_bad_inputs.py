"""Bad inputs and faults: crafted checkpoints, outputs that would destroy inputs, options that
cannot work, runs killed or out of disk. Every refusal is one ``error:`` line naming the file and
what to do, exit code 2, no traceback, inputs unchanged and nothing half-written left behind."""
import errno
import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from apps import track_video, webcam
from apps.posetrack_json import PoseTrackJsonWriter, partial_path
from apps.video_io import VideoReader, VideoWriter, count_frames
from helpers import PROJECT_ROOT, shared_path
from pose.checkpoint_reader import PickledObject, UnsafeCheckpointError, read_checkpoint
from pose.safe_output import OutputError, atomic_path, check_outputs, claim, write_json_atomic

DETECTOR = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"
WEIGHTS = "reference/hrnet_small_w8_256x192_official.pth"
VIDEO = "data/videos/mmpose_demo.mp4"


def _models(pose_weights=None, detector_weights=None, detector="yolox"):
    pytest.importorskip("onnxruntime")
    return ["--detector", detector,
            "--detector-weights", str(detector_weights or shared_path(DETECTOR)),
            "--pose-model", "hrnet_w8", "--pose-weights", str(pose_weights or shared_path(WEIGHTS)),
            "--device", "cpu", "--pose-backend", "torch", "--no-flip"]


def _refused(capsys, main, argv, *needles):
    """Runs a command's ``main`` and checks it refused with one ``error:`` line (the last;
    progress notes may come before it) holding ``needles``."""
    code = main(argv)
    err = capsys.readouterr().err.strip()
    lines = err.splitlines()
    assert code == 2, err
    assert "Traceback" not in err and [line for line in lines if "error" in line] == lines[-1:]
    assert lines[-1].startswith("error: "), err
    for needle in needles:
        assert str(needle) in lines[-1], err
    return lines[-1]


def _digest(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


# ------------------------------------------------------------------------- crafted checkpoints


class _RunsCode:
    """Pickles as a call of ``function(argument)``: what a malicious checkpoint does."""

    def __init__(self, function, argument):
        self.function, self.argument = function, argument

    def __reduce__(self):
        return self.function, (self.argument,)


def _crafted_checkpoints(folder: Path, marker: Path):
    """Files that would create ``marker`` if they were unpickled: top-level and hidden in the
    ``meta`` of a checkpoint whose weights fit, zip and legacy formats, os.system and exec."""
    state = torch.load(shared_path(WEIGHTS), weights_only=True)
    shell = _RunsCode(os.system, f"touch {marker}")
    python = _RunsCode(exec, f"open({str(marker)!r}, 'w').close()")
    files = {"evil_top.pth": (python, True),
             "evil_legacy.pth": (python, False),
             "evil_meta.pth": ({"meta": {"note": shell}, "state_dict": state}, True),
             "evil_nested.pth": ({"state_dict": state, "optimizer": {"x": [python]}}, False)}
    paths = []
    for name, (obj, zipped) in files.items():
        torch.save(obj, folder / name, _use_new_zipfile_serialization=zipped)
        paths.append(folder / name)
    return paths


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "MARKER"
    paths = _crafted_checkpoints(tmp_path, marker)
    yield paths[2], marker  # weights that fit hrnet_w8, with code hidden in meta
    assert not marker.exists(), "a crafted checkpoint ran code"


def test_crafted_checkpoints_are_refused_without_running_anything(tmp_path):
    marker = tmp_path / "MARKER"
    for path in _crafted_checkpoints(tmp_path, marker):
        with pytest.raises(UnsafeCheckpointError) as info:
            read_checkpoint(path)
        text = str(info.value)
        assert str(path) in text and ("posix.system" in text or "builtins.exec" in text)
        assert "\n" not in text
    assert not marker.exists()


def test_published_metadata_types_load_as_inert_data(tmp_path, monkeypatch):
    """numpy values and the mmcv / mmengine classes published checkpoints pickle in ``meta``
    load (without importing their packages; stand-ins keep the data), and the weights load."""
    import types

    modules = {name: types.ModuleType(name) for name in
               ("mmcv", "mmcv.utils", "mmcv.utils.config", "addict", "addict.addict",
                "mmengine", "mmengine.logging", "mmengine.logging.history_buffer")}

    class Dict(dict):  # the shape of addict's Dict / mmcv's ConfigDict / Config / HistoryBuffer
        def __setstate__(self, state):
            self.update(state)

    class ConfigDict(Dict):
        pass

    class Config:
        def __init__(self, cfg, text):
            self._cfg_dict, self._filename, self._text = cfg, None, text

        def __getstate__(self):
            return self._cfg_dict, self._filename, self._text

        def __setstate__(self, state):
            self._cfg_dict, self._filename, self._text = state

    class HistoryBuffer:
        def __init__(self):
            self._log_history, self.max_length = np.arange(3.0), 1000000

    for cls, module in ((Dict, "addict.addict"), (ConfigDict, "mmcv.utils.config"),
                        (Config, "mmcv.utils.config"),
                        (HistoryBuffer, "mmengine.logging.history_buffer")):
        cls.__module__, cls.__qualname__ = module, cls.__name__
        setattr(modules[module], cls.__name__, cls)
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    state = torch.load(shared_path(WEIGHTS), weights_only=True)
    meta = {"config": Config(ConfigDict(model=ConfigDict(type="TopDown")), "model = ..."),
            "dataset_meta": {"sigmas": np.linspace(0.1, 0.2, 17), "flip_indices": [0, 2, 1]},
            "hook_msgs": {"best_score": np.float64(0.75)}, "time": "20201028_101010"}
    path = tmp_path / "mm.pth"
    torch.save({"meta": meta, "state_dict": {"backbone." + k: v for k, v in state.items()},
                "message_hub": {"log_scalars": {"loss": HistoryBuffer()}}}, path)
    for name in modules:  # loading must not need them
        monkeypatch.delitem(sys.modules, name)
    loaded = read_checkpoint(path)
    config = loaded["meta"]["config"]
    assert isinstance(config, PickledObject) and config.pickled_class == "mmcv.utils.config.Config"
    assert config.state[0]["model"]["type"] == "TopDown" and config.state[2] == "model = ..."
    assert loaded["meta"]["dataset_meta"]["sigmas"][16] == pytest.approx(0.2)
    assert loaded["meta"]["hook_msgs"]["best_score"] == 0.75
    buffer = loaded["message_hub"]["log_scalars"]["loss"]
    assert buffer.state["_log_history"].tolist() == [0.0, 1.0, 2.0]
    import pose

    info = pose.load_checkpoint(pose.build_model("hrnet_w8"), path)
    assert info.format == "mmpose-0.x" and info.meta["time"] == "20201028_101010"


def test_every_weights_entry_refuses_a_crafted_checkpoint(tmp_path, capsys, evil):
    path, _ = evil
    video = str(shared_path(VIDEO))
    outputs = ["--output-json", str(tmp_path / "o.json"), "--output-video",
               str(tmp_path / "o.mp4")]
    before = _digest(video)
    _refused(capsys, track_video.main, [video, *outputs, *_models(pose_weights=path)], path,
             "refused")
    _refused(capsys, webcam.main, ["--camera", video, "--no-display", *outputs,
                                   *_models(pose_weights=path)], path, "refused")
    _refused(capsys, track_video.main, [video, *outputs, *_models(
        detector_weights=path, detector="fasterrcnn_mobilenet_v3_large_fpn")], path, "refused")
    _refused(capsys, track_video.main, [video, *outputs, *_models(
        detector_weights=path, detector="cascade_rcnn")], path, "refused")
    from pose import export

    _refused(capsys, export.main, ["hrnet_w8", "--weights", str(path), "--output",
                                   str(tmp_path / "m.onnx")], path, "refused")
    from benchmarks.coco import evaluate as coco_evaluate

    coco = shared_path("data/coco_sample")
    _refused(capsys, coco_evaluate.main, [
        "--images", str(coco), "--annotations", str(coco / "test_coco.json"), "--model",
        "hrnet_w8", "--checkpoint", str(path), "--device", "cpu", "--workers", "0",
        "--output", str(tmp_path / "r.json"), "--no-progress"], path, "refused")
    from benchmarks.posetrack18 import finetune, run as runner

    sample = shared_path("data/posetrack18_sample")
    _refused(capsys, runner.main, ["--data-root", str(sample), "--boxes", "gt", "--output",
                                   str(tmp_path / "pred"), "--pose-model", "hrnet_w8",
                                   "--pose-weights", str(path), "--device", "cpu"],
             path, "refused")
    training = ["--data-root", str(sample), "--train-annotations",
                str(sample / "annotations" / "val"), "--no-val", "--device", "cpu",
                "--output", str(tmp_path / "run"), "--no-progress", "--set", "model=hrnet_w8"]
    _refused(capsys, finetune.main, [*training, "--from", str(path)], path, "refused")
    _refused(capsys, finetune.main, [*training, "--from", str(shared_path(WEIGHTS)),
                                     "--resume", str(path)], path, "refused")
    assert _digest(video) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # nothing written
        "evil_legacy.pth", "evil_meta.pth", "evil_nested.pth", "evil_top.pth"]


# ------------------------------------------------------------------------------------ outputs


def test_outputs_that_would_overwrite_inputs_are_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)  # where the default outputs would go
    video = tmp_path / "in.mp4"
    video.write_bytes(shared_path(VIDEO).read_bytes())
    before = _digest(video)
    (tmp_path / "link.mp4").symlink_to(video)
    os.link(video, tmp_path / "hard.mp4")
    weights = tmp_path / "w.pth"
    weights.write_bytes(shared_path(WEIGHTS).read_bytes())
    models = _models(pose_weights=weights)
    (tmp_path / "sub").mkdir()
    same_as_input = "is the same file as the input video"
    cases = [(["--output-video", str(video)], f"--output-video {video} {same_as_input}"),
             (["--output-json", str(video)], f"--output-json {video} {same_as_input}"),
             (["--output-video", str(tmp_path / "link.mp4")], same_as_input),  # a symlink
             (["--output-json", str(tmp_path / "hard.mp4")], same_as_input),  # a hard link
             (["--output-json", str(tmp_path / "sub" / ".." / "in.mp4")], same_as_input),
             (["--output-json", str(weights)], "is the same file as --pose-weights"),
             (["--output-video", str(tmp_path / "x.mp4"), "--output-json",
               str(tmp_path / "x.mp4")], "is the same file as --output-json"),
             (["--output-video", str(tmp_path / "x.mp4"), "--snapshot",
               str(tmp_path / "x.png"), "--output-json", str(tmp_path / "x.png")],
              "--snapshot")]
    for extra, needle in cases:
        _refused(capsys, track_video.main, [str(video), *extra, *models], needle)
    _refused(capsys, webcam.main, ["--camera", str(video), "--no-display", "--output-video",
                                   str(tmp_path / "link.mp4"), *models], "--camera")
    assert _digest(video) == before and _digest(weights) == _digest(shared_path(WEIGHTS))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hard.mp4", "in.mp4", "link.mp4",
                                                          "sub", "w.pth"]


def test_other_commands_never_write_over_their_inputs(tmp_path, capsys):
    from benchmarks.coco import evaluate as coco_evaluate
    from benchmarks.posetrack18 import convert, evaluate as pt_evaluate, run as runner
    from tracker import retrack

    sample = shared_path("data/posetrack18_sample")
    preds = tmp_path / "preds"
    preds.mkdir()
    gt_file = sample / "annotations" / "val" / "003418_mpii_test.json"
    (preds / gt_file.name).write_text(gt_file.read_text())
    before = _digest(preds / gt_file.name)
    _refused(capsys, retrack.main, ["--input", str(preds), "--output", str(preds)],
             "is the same file as --input")
    _refused(capsys, pt_evaluate.main, ["--gt", str(sample / "annotations" / "val"), "--pred",
                                        str(preds), "--json", str(preds / gt_file.name)],
             "--json", "same file as --pred")
    _refused(capsys, convert.main, ["hrtrack", "--tracks", str(preds / gt_file.name), "--gt",
                                    str(gt_file), "--output", str(preds / gt_file.name)],
             "same file as --tracks")
    annotations = tmp_path / "ann"  # --output naming the annotation folder
    annotations.mkdir()
    (annotations / gt_file.name).write_text(gt_file.read_text())
    _refused(capsys, runner.main, ["--data-root", str(sample), "--annotations", str(annotations),
                                   "--boxes", "gt", "--oracle", "--output", str(annotations)],
             "same file as --annotations")
    coco = shared_path("data/coco_sample")
    _refused(capsys, coco_evaluate.main, [
        "--images", str(coco), "--annotations", str(preds / gt_file.name), "--model", "hrnet_w8",
        "--random-weights", "--output", str(preds / gt_file.name)], "same file as --annotations")
    assert _digest(preds / gt_file.name) == before
    assert _digest(annotations / gt_file.name) == _digest(gt_file)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ann", "preds"]
    assert [p.name for p in preds.iterdir()] == [gt_file.name]


def test_unwritable_outputs_and_malformed_files_give_one_line(tmp_path, capsys):
    from benchmarks.posetrack18 import evaluate as pt_evaluate
    from pose import export
    from tracker import retrack

    if not Path("/proc/self").is_dir():
        pytest.skip("needs a folder nobody, root included, can create files in (/proc)")
    unwritable = Path("/proc/hrtrack")
    sample = shared_path("data/posetrack18_sample/annotations/val")
    _refused(capsys, retrack.main, ["--input", str(sample), "--output", str(unwritable)],
             "--output", "cannot write there")
    _refused(capsys, pt_evaluate.main, ["--gt", str(sample), "--pred", str(sample), "--json",
                                        str(unwritable / "t.json")], "--json", "cannot write")
    _refused(capsys, export.main, ["hrnet_w8", "--output", str(unwritable / "m.onnx")],
             "--output", "cannot write")
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "a.json").write_text("[1, 2]")
    _refused(capsys, retrack.main, ["--input", str(lists), "--output", str(tmp_path / "o")],
             lists / "a.json", "not a PoseTrack18 prediction file")
    _refused(capsys, pt_evaluate.main, ["--gt", str(lists), "--pred", str(lists)],
             lists / "a.json", "not a PoseTrack18 file")
    assert not (tmp_path / "o").exists()


def test_options_are_checked_before_any_work(tmp_path, capsys):
    video = str(shared_path(VIDEO))
    models = _models()
    out = ["--output-json", str(tmp_path / "o.json"), "--output-video", str(tmp_path / "o.mp4")]
    _refused(capsys, track_video.main, [video, *out, "--snapshot", str(tmp_path / "s.xyz"),
                                        *models], "--snapshot", "use .png or .jpg")
    _refused(capsys, track_video.main, [video, *out, *models, "--pose-model", "hrnet_x1"],
             "unknown pose model 'hrnet_x1'")
    _refused(capsys, track_video.main, [video, *out, *models, "--detector", "yolo9000"],
             "--detector yolo9000: unknown")
    _refused(capsys, track_video.main, [video, *out, *models, "--pose-weights",
                                        str(tmp_path / "none.pth")], "--pose-weights",
             "no such file")
    from pose import export

    _refused(capsys, export.main, ["hrnet_x1", "--output", str(tmp_path / "m.onnx")],
             "unknown pose model")
    _refused(capsys, export.main, ["hrnet_w32", "--weights", str(shared_path(WEIGHTS)),
                                   "--output", str(tmp_path / "m.onnx")],
             "does not fit", "build_model('hrnet_w8'")
    assert list(tmp_path.iterdir()) == []


def test_two_runs_never_write_one_output_at_once(tmp_path):
    out = tmp_path / "o.json"
    first = PoseTrackJsonWriter(out, "v", "coco", 64, 48, 10.0)
    with pytest.raises(OutputError, match="being written by another run"):
        PoseTrackJsonWriter(out, "v", "coco", 64, 48, 10.0)
    with pytest.raises(OutputError, match="being written by another run"):
        with claim(partial_path(out)):
            pass
    first.add_frame(0, np.ones((1, 17, 3)), np.array([[1, 1, 9, 9, 1.0]]), np.array([0]))
    first.close()
    assert len(json.loads(out.read_text())["images"]) == 1
    video = VideoWriter(tmp_path / "v.mp4", 10, 32, 32)
    with pytest.raises(OutputError, match="being written by another run"):
        VideoWriter(tmp_path / "v.mp4", 10, 32, 32)
    video.write(np.zeros((32, 32, 3), np.uint8))
    assert video.close() == tmp_path / "v.mp4" and count_frames(tmp_path / "v.mp4") == 1
    check_outputs([("--a", tmp_path / "v.mp4")])  # claims are gone once closed


def test_write_failures_keep_the_previous_file_and_say_what_is_on_disk(tmp_path, monkeypatch):
    target = tmp_path / "result.json"
    target.write_text('{"old": true}')

    def full_disk(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(json, "dump", full_disk)
    with pytest.raises(OutputError) as info:
        write_json_atomic({"new": True}, target)
    text = str(info.value)
    assert str(target) in text and "No space left on device" in text
    assert "is unchanged" in text and "Free some disk space" in text
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise KeyboardInterrupt
    assert sorted(p.name for p in tmp_path.iterdir()) == ["result.json"]


def test_full_disk_during_a_run(tmp_path, capsys, monkeypatch):
    """The disk fills while frames are written: one line names the file and what was kept; the
    earlier result survives; the partial files hold the frames before."""
    video = tmp_path / "in.mp4"
    _write_video(video, [k / 10 for k in range(8)])
    out_json, out_video = tmp_path / "o.json", tmp_path / "o.mp4"
    out_json.write_text("earlier result")
    original = PoseTrackJsonWriter.add_frame

    def fill_at_3(self, frame_index, *args, **kwargs):
        if frame_index == 3:
            self._file = open(os.devnull, "w")  # the next write fails as on a full disk
            self._file.write = lambda text: (_ for _ in ()).throw(
                OSError(errno.ENOSPC, "No space left on device"))
        return original(self, frame_index, *args, **kwargs)

    monkeypatch.setattr(PoseTrackJsonWriter, "add_frame", fill_at_3)
    err = _refused(capsys, track_video.main, [str(video), "--output-json", str(out_json),
                                              "--output-video", str(out_video), "--quiet",
                                              *_models()],
                   f"writing {partial_path(out_json)} failed (No space left on device)",
                   "frames up to 2", f"{out_json} was not changed", "o.partial.mp4")
    assert out_json.read_text() == "earlier result" and not out_video.exists()
    assert len(partial_path(out_json).read_text().splitlines()) == 4  # header + frames 0..2
    assert count_frames(tmp_path / "o.partial.mp4") == 3, err


# ------------------------------------------------------------------------------ video timing


def _write_video(path, times, size=(96, 64)):
    """A small H.264 MP4 whose frames have the given presentation times (seconds)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.options = {"bf": "0"}
        for k, t in enumerate(times):
            image = np.zeros((size[1], size[0], 3), np.uint8)
            image[:, (7 * k) % size[0]:] = 200
            frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            frame.pts, frame.time_base = int(round(t * 1000)), Fraction(1, 1000)
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)


def test_variable_frame_rate_keeps_each_frames_time(tmp_path, capsys):
    times = [0.0, 0.04, 0.08, 0.5, 0.54, 1.3, 1.34, 1.38, 2.9, 3.0]
    source = tmp_path / "vfr.mp4"
    _write_video(source, times)
    assert [round(t, 3) for _, t, _ in VideoReader(source).timed()] == times
    out_json, out_video = tmp_path / "o.json", tmp_path / "o.mp4"
    code = track_video.main([str(source), "--output-json", str(out_json), "--output-video",
                             str(out_video), "--quiet", *_models()])
    assert code == 0, capsys.readouterr().err
    images = json.loads(out_json.read_text())["images"]
    assert [im["timestamp"] for im in images] == times
    with av.open(str(out_video)) as container:
        shown = [float(f.pts * f.time_base) for f in container.decode(video=0)]
    np.testing.assert_allclose(shown, times, atol=1e-3)


def test_keyframes_come_by_time_also_when_frames_are_dropped(tmp_path):
    """A live source processed at 2 frames a second (14 of 15 dropped at 30 fps): a keyframe
    every 2 s of video, where counting frames would give one every 120 s."""
    path = tmp_path / "live.mp4"
    with VideoWriter(path, 30, 64, 48) as writer:
        for k in range(40):
            frame = np.full((48, 64, 3), 100, np.uint8)
            frame[4:12, k:k + 8] = 200  # a still scene but for a small moving square
            writer.write(frame, index=15 * k)
    with av.open(str(path)) as container:
        keys = [float(p.pts * p.time_base) for p in container.demux(video=0)
                if p.pts is not None and p.is_keyframe]
    assert keys == [2.0 * k for k in range(10)]


def test_a_killed_run_leaves_a_playable_video_and_its_frames(tmp_path):
    """SIGKILL part-way: the partial video decodes with all but its last seconds, the partial
    JSON lines hold every finished frame, the final names were never written."""
    fps, seconds = 10, 30
    source = tmp_path / "in.mp4"
    _write_video(source, [k / fps for k in range(fps * seconds)])
    out_json, out_video = tmp_path / "o.json", tmp_path / "o.mp4"
    env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
    process = subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "apps" / "track_video.py"), str(source),
         "--output-json", str(out_json), "--output-video", str(out_video), "--quiet",
         "--detect-every", "10", *_models()], cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE)
    lines, deadline = 0, time.time() + 180
    try:
        while process.poll() is None and lines < 5 * fps + 1 and time.time() < deadline:
            time.sleep(0.2)
            if partial_path(out_json).exists():
                lines = len(partial_path(out_json).read_text().splitlines())
    finally:
        process.send_signal(signal.SIGKILL)
        _, stderr = process.communicate()
    assert process.returncode == -signal.SIGKILL, stderr.decode()[-2000:]
    assert not out_json.exists() and not out_video.exists()
    done = len(partial_path(out_json).read_text().splitlines()) - 1  # minus the header
    assert done >= 5 * fps, "the run was killed after 5 s of video"
    decoded = count_frames(tmp_path / "o.partial.mp4")
    # keyframes every 2 s of video: all but the last fragment (and the encoder's delay) play
    assert done - 3 * fps <= decoded <= done, (decoded, done)
