"""The MOTChallenge runner: metrics against the devkit's published numbers, result files and
metrics of tiny sequences with known answers, and bad inputs."""
import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.mot import run as runner
from benchmarks.mot.files import read_ground_truth, read_results
from benchmarks.mot.metrics import accumulate, summarize
from helpers import shared_path


@pytest.mark.parametrize("name, expected", [
    # the MOTChallenge devkit's output for these results (its README's demo_evalMOT15)
    ("TUD-Campus", dict(MOTA=52.6, IDF1=55.8, IDP=73.0, IDR=45.1, FP=13, FN=150, IDs=7)),
    ("TUD-Stadtmitte", dict(MOTA=56.4, IDF1=64.5, IDP=82.0, IDR=53.1, FP=45, FN=452, IDs=7)),
])
def test_metrics_equal_the_devkits(name, expected):
    pytest.importorskip("motmetrics")
    root = shared_path("data/mot15_sample")
    gt = read_ground_truth(root / name / "gt" / "gt.txt")
    results = read_results(root / "results" / f"{name}.txt")
    metrics = summarize([accumulate(gt, results, range(1, max(gt.ids) + 1))], [name])[name]
    for key, value in expected.items():
        assert metrics[key] == pytest.approx(value, abs=0.051), key


def make_sequence(root: Path, people, frames: int = 8, detections=None, gt=True,
                  fps: int = 10) -> Path:
    """A MOTChallenge folder: blank 320x240 frames, ``people`` as ``{id: (x, y, dx)}`` walking
    ``dx`` pixels per frame in 40x100 boxes; ``detections``: ``{frame: [ids]}`` seen (default
    everyone, every frame); ground truth of everyone unless ``gt`` is False."""
    (root / "img1").mkdir(parents=True)
    (root / "det").mkdir()
    for f in range(1, frames + 1):
        cv2.imwrite(str(root / "img1" / f"{f:06d}.jpg"), np.full((240, 320, 3), 90, np.uint8))
    (root / "seqinfo.ini").write_text(f"[Sequence]\nname={root.name}\nimDir=img1\n"
                                      f"frameRate={fps}\nseqLength={frames}\nimWidth=320\n"
                                      "imHeight=240\nimExt=.jpg\n")
    det, truth = [], []
    for f in range(1, frames + 1):
        for pid, (x, y, dx) in people.items():
            box = f"{x + dx * (f - 1):.1f},{y:.1f},40,100"
            truth.append(f"{f},{pid},{box},1,-1,-1,-1")
            if detections is None or pid in detections.get(f, [pid]):
                det.append(f"{f},-1,{box},0.9")
    (root / "det" / "det.txt").write_text("\n".join(det) + "\n")
    if gt:
        (root / "gt").mkdir()
        (root / "gt" / "gt.txt").write_text("\n".join(truth) + "\n")
    return root


def test_result_files_and_metrics_of_a_tiny_sequence(tmp_path, capsys):
    pytest.importorskip("motmetrics")
    seq = make_sequence(tmp_path / "walk", {1: (20, 60, 6), 2: (250, 80, -6)})
    out = tmp_path / "out"
    assert runner.main([str(seq), "--detections", "--output-dir", str(out), "--quiet"]) == 0
    lines = (out / "walk.txt").read_text().splitlines()
    assert len(lines) == 16  # 2 people x 8 frames, all confirmed at once (first frame)
    first = lines[0].split(",")
    assert first[0] == "1" and first[1] in ("1", "2") and first[7:] == ["-1", "-1", "-1"]
    assert float(first[6]) == pytest.approx(0.9)
    rows = np.array([[float(v) for v in line.split(",")] for line in lines])
    assert set(rows[:, 0]) == set(range(1, 9)) and set(rows[:, 1]) == {1, 2}
    x1 = rows[(rows[:, 0] == 3) & (rows[:, 1] == rows[0, 1])][0, 2:6]
    assert x1.tolist() in ([32.0, 60.0, 40.0, 100.0], [238.0, 80.0, 40.0, 100.0])
    metrics = json.loads((out / "metrics.json").read_text())["metrics"]["walk"]
    assert (metrics["MOTA"], metrics["IDF1"], metrics["IDs"], metrics["FP"], metrics["FN"]) \
        == (100.0, 100.0, 0, 0, 0)
    assert "walk" in capsys.readouterr().out


def test_a_detection_gap_is_bridged_and_scored(tmp_path):
    pytest.importorskip("motmetrics")
    missed = {f: [1] for f in (5, 6)}  # person 2 not detected in frames 5-6
    seq = make_sequence(tmp_path / "gap", {1: (20, 60, 6), 2: (250, 80, -6)}, frames=10,
                        detections=missed)
    for propagation, fn in (("0.3", 0), ("0", 2)):  # 3 frames at 10 frames/s; off
        out = tmp_path / f"out{propagation}"
        assert runner.main([str(seq), "--detections", "--output-dir", str(out), "--quiet",
                            "--propagation", propagation]) == 0
        m = json.loads((out / "metrics.json").read_text())["metrics"]["gap"]
        assert (m["FN"], m["FP"], m["IDs"]) == (fn, 0, 0)
        results = read_results(out / "gap.txt")
        assert set(results[10][0].tolist()) == {1, 2}  # person 2 keeps identity 2 after


def test_sequences_without_ground_truth_are_tracked_not_scored(tmp_path, capsys):
    seq = make_sequence(tmp_path / "nogt", {1: (20, 60, 6)}, gt=False)
    out = tmp_path / "out"
    assert runner.main([str(seq), "--detections", "--output-dir", str(out), "--quiet"]) == 0
    assert (out / "nogt.txt").is_file() and not (out / "metrics.json").exists()
    assert "nothing to score" in capsys.readouterr().err


def _error(capsys, argv):
    code = runner.main(argv)
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_bad_inputs_give_one_line_and_write_nothing(tmp_path, capsys):
    out = tmp_path / "out"
    (tmp_path / "noframes").mkdir()
    assert "no img1/ folder" in _error(capsys, [str(tmp_path / "noframes"), "--detections",
                                                "--output-dir", str(out)])
    (tmp_path / "empty" / "img1").mkdir(parents=True)
    assert "no frames" in _error(capsys, [str(tmp_path / "empty"), "--detections",
                                          "--output-dir", str(out)])
    assert "not a folder" in _error(capsys, [str(tmp_path / "missing"), "--detections",
                                             "--output-dir", str(out)])
    seq = make_sequence(tmp_path / "bad", {1: (20, 60, 6)})
    good = make_sequence(tmp_path / "good", {1: (20, 60, 6)})
    det = seq / "det" / "det.txt"
    det.write_text(det.read_text() + "9,-1,10,abc,40,100,0.9\n")
    line = _error(capsys, [str(good), str(seq), "--detections", "--output-dir", str(out)])
    assert "det.txt:9: not a detection line" in line
    det.write_text("1,-1,10,20,40\n")
    assert "a detection line has at least 7" in _error(
        capsys, [str(seq), "--detections", "--output-dir", str(out)])
    gt = good / "gt" / "gt.txt"
    gt.write_text("1,1,10,20,-40,100,1,-1,-1,-1\n")
    assert "negative size" in _error(capsys, [str(good), "--detections", "--output-dir",
                                              str(out)])
    assert not list(out.glob("*.txt")) and not (out / "metrics.json").exists()
    # an output that would overwrite an input
    named = make_sequence(tmp_path / "gt", {1: (20, 60, 6)})
    assert "is the same file as gt's" in _error(
        capsys, [str(named), "--detections", "--output-dir", str(named / "gt")])
    assert (named / "gt" / "gt.txt").read_text().startswith("1,1,20.0,60.0")
    with pytest.raises(SystemExit):
        runner.parse_args([str(named), "--detections", "--detector", "yolox",
                           "--output-dir", str(out)])


def test_runner_with_the_real_detector_on_real_frames(tmp_path):
    """A few frames of TUD-Campus with the shared YOLOX detector, end to end."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("motmetrics")
    source = shared_path("data/mot_sequences/TUD-Campus")
    seq = tmp_path / "TUD-Campus"
    (seq / "img1").mkdir(parents=True)
    (seq / "gt").mkdir()
    for path in sorted((source / "img1").glob("*.jpg"))[:12]:
        (seq / "img1" / path.name).symlink_to(path)
    (seq / "seqinfo.ini").write_text((source / "seqinfo.ini").read_text())
    gt = [line for line in (source / "gt" / "gt.txt").read_text().splitlines()
          if int(line.split(",")[0]) <= 12]
    (seq / "gt" / "gt.txt").write_text("\n".join(gt) + "\n")
    out = tmp_path / "out"
    weights = shared_path("data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx")
    assert runner.main([str(seq), "--detector", "yolox", "--detector-weights", str(weights),
                        "--device", "cpu", "--output-dir", str(out), "--quiet"]) == 0
    m = json.loads((out / "metrics.json").read_text())["metrics"]["TUD-Campus"]
    assert m["MOTA"] > 60 and m["IDs"] <= 1
    assert set(read_results(out / "TUD-Campus.txt")) == set(range(1, 13))
