"""The PoseTrack18 runner on the real sample (3 sequences) with the reference checkpoint."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from benchmarks.posetrack18 import run as runner
from benchmarks.posetrack18.poseval import evaluate_folders
from helpers import PROJECT_ROOT, shared_path
from pose.keypoints import coco_to_posetrack18, convert_poses

SAMPLE = "data/posetrack18_sample"
WEIGHTS = "reference/hrnet_small_w8_256x192_official.pth"
SEQUENCES = ["003418_mpii_test", "009473_mpii_test", "012834_mpii_test"]


def _args(out, *extra):
    root = shared_path(SAMPLE)
    return ["--data-root", str(root), "--output", str(out), "--pose-model", "hrnet_w8",
            "--pose-weights", str(shared_path(WEIGHTS)), "--no-flip", "--device", "cpu", *extra]


def test_oracle_keypoints_score_100_map(tmp_path, capsys):
    out = tmp_path / "oracle"
    assert runner.main(_args(out, "--boxes", "gt", "--oracle", "--evaluate", "--json",
                             str(tmp_path / "tables.json"))) == 0
    tables = json.loads((tmp_path / "tables.json").read_text())
    assert tables["AP"]["Total"] == pytest.approx(100.0)
    assert sorted(p.stem for p in out.glob("*.json")) == SEQUENCES


@pytest.mark.parametrize("boxes", ["gt", "detections", "yolox"])
def test_box_sources_write_valid_prediction_files(tmp_path, capsys, boxes):
    root = shared_path(SAMPLE)
    extra = {"gt": [],
             "detections": ["--detections",
                            str(root / "annotations/test_posetrack18_human_detections.json")],
             "yolox": ["--detector-weights", str(shared_path(
                 "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"))]}[boxes]
    if boxes == "yolox":
        pytest.importorskip("onnxruntime")
    out = tmp_path / boxes
    assert runner.main(_args(out, "--boxes", boxes, *extra)) == 0
    result = evaluate_folders(root / "annotations/val", out)  # validates every file
    assert len(result.sequences) == 3
    for name in SEQUENCES:
        gt = json.loads((root / "annotations/val" / f"{name}.json").read_text())
        pred = json.loads((out / f"{name}.json").read_text())
        assert [im["id"] for im in pred["images"]] == [im["id"] for im in gt["images"]]
        for ann in pred["annotations"]:
            assert len(ann["keypoints"]) == 51 and len(ann["scores"]) == 17
            assert ann["track_id"] >= 0
    people = sum(len(json.loads((out / f"{n}.json").read_text())["annotations"])
                 for n in SEQUENCES)
    assert people > 0
    if boxes == "gt":  # one pose per annotated person with a box
        assert people == sum(len(json.loads((root / "annotations/val" / f"{n}.json")
                                            .read_text())["annotations"]) for n in SEQUENCES)
    # a rerun skips the finished sequences and leaves their files alone
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")}
    capsys.readouterr()
    assert runner.main(_args(out, "--boxes", boxes, *extra)) == 0
    assert "3 already written" in capsys.readouterr().err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.json")} == stamps


def test_mmpose_single_file_form(tmp_path):
    root = shared_path(SAMPLE)
    out = tmp_path / "single"
    code = runner.main(_args(out, "--boxes", "gt", "--oracle", "--evaluate", "--annotations",
                             str(root / "annotations/test_posetrack18_val.json"),
                             "--json", str(tmp_path / "t.json")))
    assert code == 0
    assert sorted(p.stem for p in out.glob("*.json")) == SEQUENCES
    assert json.loads((tmp_path / "t.json").read_text())["AP"]["Total"] == pytest.approx(100.0)


def test_two_process_torchrun_writes_the_same_files(tmp_path):
    pytest.importorskip("torch.distributed.run")
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(PROJECT_ROOT))
    one = [sys.executable, "-m", "benchmarks.posetrack18.run",
           *_args(tmp_path / "one", "--boxes", "gt")]
    two = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
           "--master_port", "29581", "-m", "benchmarks.posetrack18.run",
           *_args(tmp_path / "two", "--boxes", "gt")]
    for cmd in (one, two):
        done = subprocess.run(cmd, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, done.stderr[-2000:]
    assert "rank 1/2" in done.stderr
    for name in SEQUENCES:
        assert (tmp_path / "one" / f"{name}.json").read_bytes() == \
            (tmp_path / "two" / f"{name}.json").read_bytes()


def test_bad_inputs_are_reported(tmp_path, capsys):
    code = runner.main(["--data-root", str(tmp_path), "--boxes", "gt", "--output",
                        str(tmp_path / "o"), "--oracle"])
    assert code == 2 and "not found" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        runner.parse_args(["--data-root", "x", "--boxes", "detections", "--output", "o"])


def test_coco_poses_in_posetrack18_slots():
    rng = np.random.default_rng(0)
    coco = np.concatenate([rng.uniform(0, 100, (4, 17, 2)), rng.uniform(0, 1, (4, 17, 1))], -1)
    pt = convert_poses(coco, "coco", "posetrack18")
    np.testing.assert_array_equal(pt[:, [0, 3, 4] + list(range(5, 17))],
                                  coco[:, [0, 3, 4] + list(range(5, 17))])
    np.testing.assert_allclose(pt[:, 1, :2], (coco[:, 5, :2] + coco[:, 6, :2]) / 2)
    np.testing.assert_allclose(pt[:, 1, 2], np.minimum(coco[:, 5, 2], coco[:, 6, 2]))
    above = pt[:, 2, :2] - pt[:, 0, :2]
    np.testing.assert_allclose(above, 0.5 * (coco[:, 0, :2] - pt[:, 1, :2]))
    np.testing.assert_array_equal(coco_to_posetrack18(coco), pt)
    assert convert_poses(coco, "posetrack18", "posetrack18") is not None
    with pytest.raises(ValueError, match="no conversion"):
        convert_poses(coco, "mpii", "posetrack18")
