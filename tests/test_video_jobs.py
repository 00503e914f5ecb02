"""``hrtrack track`` over several videos: a folder, outputs per video, skipping complete videos,
the torchrun split of the videos, and the inputs refused before any frame."""
import json

import numpy as np
import pytest

from apps import cli, track_video
from apps.posetrack_json import is_complete
from apps.video_io import VideoWriter, count_frames
from apps.video_jobs import input_videos
from helpers import shared_path
from pose.distributed import RankInfo, rank_device, rank_info, shard
from pose.errors import BadInputError

DETECTOR = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"


def _boxes_only():
    pytest.importorskip("onnxruntime")
    return ["--pose-model", "none", "--detector", "yolox", "--detector-weights",
            str(shared_path(DETECTOR)), "--device", "cpu", "--quiet"]


def _tiny_video(path, frames=3):
    rng = np.random.default_rng(len(path.name))
    with VideoWriter(path, 10, 64, 48) as writer:
        for _ in range(frames):
            writer.write(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8))
    return path


@pytest.fixture
def clips(tmp_path):
    """A folder of three tiny videos (and a file that is not a video)."""
    folder = tmp_path / "clips"
    folder.mkdir()
    for name, frames in (("a.mp4", 3), ("b.mp4", 2), ("c.mkv", 4)):
        _tiny_video(folder / name, frames)
    (folder / "notes.txt").write_text("not a video")
    return folder


def _run(capsys, argv):
    code = cli.main(["track", *argv])
    return code, capsys.readouterr().err


def test_a_folder_gives_outputs_per_video(clips, tmp_path, capsys):
    out = tmp_path / "out"  # created by the run
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), *_boxes_only()])
    assert code == 0, err
    assert "3 videos, 0 complete already, 3 to track" in err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "a.mp4", "b.json", "b.mp4",
                                                     "c.json", "c.mp4"]
    for name, frames in (("a", 3), ("b", 2), ("c", 4)):
        data = json.loads((out / f"{name}.json").read_text())
        assert [image["frame_index"] for image in data["images"]] == list(range(frames))
        assert data["info"]["video"] == name and data["info"]["complete"] is True
        assert count_frames(out / f"{name}.mp4") == frames


def test_complete_videos_are_skipped_and_unfinished_ones_redone(clips, tmp_path, capsys):
    out = tmp_path / "out"
    code, err = _run(capsys, [str(clips / "a.mp4"), str(clips / "b.mp4"), "--output-dir",
                              str(out), "--no-video", *_boxes_only()])
    assert code == 0, err
    # b stopped part way (its JSON says so): tracked again with c; a is skipped
    data = json.loads((out / "b.json").read_text())
    data["info"]["complete"] = False
    (out / "b.json").write_text(json.dumps(data))
    first_a = (out / "a.json").stat().st_mtime_ns
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), "--no-video",
                              *_boxes_only()])
    assert code == 0, err
    assert "3 videos, 1 complete already, 2 to track" in err
    assert "a.mp4" not in err.split("to track")[1]
    assert (out / "a.json").stat().st_mtime_ns == first_a
    assert is_complete(out / "b.json") and is_complete(out / "c.json")
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), "--no-video",
                              *_boxes_only()])
    assert code == 0 and "3 complete already, 0 to track" in err
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), "--no-video", "--overwrite",
                              *_boxes_only()])
    assert code == 0 and "0 complete already, 3 to track" in err


def test_a_single_video_run_records_whether_it_reached_the_end(clips, tmp_path, capsys):
    out_json = tmp_path / "a.json"
    code, err = _run(capsys, [str(clips / "a.mp4"), "--output-json", str(out_json),
                              "--no-video", *_boxes_only()])
    assert code == 0, err
    assert is_complete(out_json)
    assert not is_complete(tmp_path / "missing.json")
    (tmp_path / "plain.json").write_text('{"images": [], "info": {}}')
    assert not is_complete(tmp_path / "plain.json")


def test_torchrun_processes_share_the_videos(clips, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("LOCAL_RANK", "1")
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), "--no-video",
                              *_boxes_only()])
    assert code == 0, err
    assert "3 videos (1 for process 1 of 2)" in err
    assert sorted(p.name for p in out.iterdir()) == ["b.json"]  # a, b, c: rank 1 takes b
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("LOCAL_RANK", "0")
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), "--no-video",
                              *_boxes_only()])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json", "c.json"]


def test_rank_info_and_shard(monkeypatch):
    for name in ("RANK", "WORLD_SIZE", "LOCAL_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert rank_info() == RankInfo(0, 1, 0) and not rank_info().distributed
    monkeypatch.setenv("RANK", "2")
    monkeypatch.setenv("WORLD_SIZE", "4")
    assert rank_info() == RankInfo(2, 4, 0) and rank_info().distributed
    items = list(range(7))
    shares = [shard(items, RankInfo(rank, 3)) for rank in range(3)]
    assert shares == [[0, 3, 6], [1, 4], [2, 5]]
    assert sorted(sum(shares, [])) == items
    assert rank_device("cpu", RankInfo(1, 2, 1)) == "cpu"
    assert rank_device(None, RankInfo()) is None


@pytest.mark.parametrize("env", [{"RANK": "x"}, {"RANK": "2", "WORLD_SIZE": "2"},
                                 {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "-1"}])
def test_bad_torchrun_variables_are_refused(env, monkeypatch):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(BadInputError, match="torchrun"):
        rank_info()


def test_inputs_are_refused_before_any_frame(clips, tmp_path, capsys, monkeypatch):
    def no_frames(*args, **kwargs):  # the refusals come before any video is opened
        raise AssertionError("a video was opened")

    monkeypatch.setattr(track_video, "open_video", no_frames)
    other = tmp_path / "other"
    other.mkdir()
    _tiny_video(other / "a.avi")
    out = str(tmp_path / "out")
    for argv, needle in (
            ([str(clips), str(other), "--output-dir", out], "would both write"),
            ([str(clips / "a.mp4"), str(clips / "b.mp4")], "need --output-dir"),
            ([str(clips), "--output-dir", out, "--output-json", "x.json"], "--output-json"),
            ([str(clips), "--output-dir", out, "--snapshot", "x.png"], "--snapshot"),
            ([str(clips), str(tmp_path / "gone.mp4"), "--output-dir", out], "gone.mp4"),
            ([str(other), str(tmp_path), "--output-dir", out], "a folder without videos"),
            ([str(clips), "--output-dir", str(clips / "a.mp4")], "a.mp4"),
            ([str(clips), "--output-dir", out, "--pose-model", "hrnet_x1"], "hrnet_x1")):
        code, err = _run(capsys, [*_boxes_only(), *argv])
        assert code == 2, (argv, err)
        assert err.startswith("error:") and needle in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "out").exists()


def test_output_dir_next_to_the_videos_overwrites_none(clips, capsys):
    code, err = _run(capsys, [str(clips), "--output-dir", str(clips), *_boxes_only()])
    assert code == 2 and "same file as the input video" in err
    assert input_videos([str(clips)]) == [str(clips / n) for n in ("a.mp4", "b.mp4", "c.mkv")]


def test_overwrite_needs_an_output_dir(clips):
    with pytest.raises(SystemExit):
        track_video.parse_args([str(clips / "a.mp4"), "--overwrite"])


def test_an_unreadable_video_is_reported_and_the_others_run(clips, tmp_path, capsys):
    (clips / "broken.mp4").write_bytes(b"not a video")
    out = tmp_path / "out"
    code, err = _run(capsys, [str(clips), "--output-dir", str(out), "--no-video",
                              *_boxes_only()])
    assert code == 2
    assert [line for line in err.splitlines() if line.startswith("error:")][0].find(
        "broken.mp4") > 0
    assert sorted(p.name for p in out.iterdir()) == ["a.json", "b.json", "c.json"]
