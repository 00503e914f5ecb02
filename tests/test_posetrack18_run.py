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
from pose.datasets.posetrack18 import read_posetrack18
from pose.keypoints import coco_to_posetrack18, convert_poses

SAMPLE = "data/posetrack18_sample"
WEIGHTS = "reference/hrnet_small_w8_256x192_official.pth"
SEQUENCES = ["003418_mpii_test", "009473_mpii_test", "012834_mpii_test"]


def _args(out, *extra):
    root = shared_path(SAMPLE)
    return ["--data-root", str(root), "--output", str(out), "--pose-model", "hrnet_w8",
            "--pose-weights", str(shared_path(WEIGHTS)), "--no-flip", "--device", "cpu", *extra]


def _clean_boxes(annotations, width, height):
    """mmpose's GT boxes (``use_gt_bbox``), written independently of the runner: people with a
    labelled keypoint, ``[x, y, w, h]`` made ``x1 = max(0, x)``, ``x2 = min(W - 1, x1 + w - 1)``
    (likewise y), as ``[x, y, w, h]``."""
    out = []
    for ann in annotations:
        if max(ann["keypoints"]) == 0:
            continue
        x, y, w, h = ann["bbox"]
        x1, y1 = max(0, x), max(0, y)
        x2, y2 = min(width - 1, x1 + max(0, w - 1)), min(height - 1, y1 + max(0, h - 1))
        if x2 > x1 and y2 > y1:
            out.append([x1, y1, x2 - x1, y2 - y1])
    return sorted(out)


def test_oracle_keypoints_score_100_map(tmp_path, capsys):
    out = tmp_path / "oracle"
    assert runner.main(_args(out, "--boxes", "gt", "--oracle", "--evaluate", "--json",
                             str(tmp_path / "tables.json"))) == 0
    tables = json.loads((tmp_path / "tables.json").read_text())
    assert tables["AP"]["Total"] == pytest.approx(100.0)
    assert sorted(p.stem for p in out.glob("*.json")) == SEQUENCES
    # --overwrite redoes finished sequences
    for path in out.glob("*.json"):
        os.utime(path, ns=(1, 1))
    capsys.readouterr()
    assert runner.main(_args(out, "--boxes", "gt", "--oracle", "--overwrite")) == 0
    assert "3 here, 0 already written" in capsys.readouterr().err
    assert all(p.stat().st_mtime_ns > 1 for p in out.glob("*.json"))


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
    written = [a for n in SEQUENCES
               for a in json.loads((out / f"{n}.json").read_text())["annotations"]]
    assert len(written) > 0
    if boxes == "gt":  # one pose per annotated person, in mmpose's clean (clipped) GT box
        for name in SEQUENCES:
            gt = json.loads((root / "annotations/val" / f"{name}.json").read_text())
            image = gt["images"][0]
            pred = json.loads((out / f"{name}.json").read_text())
            np.testing.assert_allclose(  # the pipeline's boxes are float32
                sorted(a["bbox"] for a in pred["annotations"]),
                _clean_boxes(gt["annotations"], image["width"], image["height"]), atol=0.02)
    if boxes == "detections":  # the published recipe's score threshold, 0.4 (not the apps' 0.5)
        scores = [a["score"] for a in written]
        assert min(scores) >= 0.4 and any(s < 0.5 for s in scores)
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
    # detection files are checked before any model is loaded
    root = shared_path(SAMPLE)
    base = ["--data-root", str(root), "--output", str(tmp_path / "d"), "--boxes", "detections",
            "--pose-model", "hrnet_w8", "--pose-weights", str(shared_path(WEIGHTS))]
    assert runner.main(base + ["--detections", str(tmp_path / "missing.json")]) == 2
    assert "detection file not found" in capsys.readouterr().err
    coco = shared_path("data/coco_sample/test_coco_det_AP_H_56.json")  # other image ids
    assert runner.main(base + ["--detections", str(coco)]) == 2
    err = capsys.readouterr().err
    assert "no boxes scoring 0.4" in err and "Traceback" not in err
    base[base.index("detections")] = "gt"
    base[-1] = str(tmp_path / "none.pth")  # weights that do not exist: said before any work
    assert runner.main(base) == 2
    err = capsys.readouterr().err
    assert "--pose-weights" in err and "no such file" in err and "Traceback" not in err


def test_recipe_defaults_and_explicit_options():
    base = ["--data-root", "x", "--output", "o"]
    args = runner.parse_args(base + ["--boxes", "gt"])
    assert (args.box_threshold, args.pose_nms) == (0.4, 0.9)  # mmpose: det_bbox_thr, oks_thr
    args = runner.parse_args(base + ["--boxes", "yolox", "--box-threshold", "0.5",
                                     "--pose-nms", "0.8"])
    assert (args.box_threshold, args.pose_nms, args.detector) == (0.5, 0.8, "yolox")
    assert runner.parse_args(base + ["--boxes", "gt", "--oracle"]).pose_nms is None


def test_gt_boxes_are_mmpose_clean_boxes(tmp_path):
    kp = np.zeros((17, 3))
    kp[[0, 5, 16]] = [[50, 40, 1], [60, 80, 1], [55, 150, 1]]
    people = [{"image_id": 7, "track_id": 0, "keypoints": kp.ravel().tolist(),
               "bbox": [-10.0, 20.0, 100.0, 300.0]},                 # sticks out: clipped
              {"image_id": 7, "track_id": 1, "keypoints": [0] * 51,   # no labelled joint
               "bbox": [10.0, 10.0, 50.0, 50.0]},
              {"image_id": 7, "track_id": 2, "keypoints": kp.ravel().tolist()}]  # no bbox
    path = tmp_path / "000001_bonn_train.json"
    path.write_text(json.dumps({
        "images": [{"id": 7, "file_name": "images/val/000001_bonn_train/000000.jpg"}],
        "annotations": people, "categories": []}))
    (sequence,) = read_posetrack18(path)
    boxes, poses = runner.gt_people(sequence, 7, (200, 120))  # frame height 200, width 120
    np.testing.assert_allclose(boxes, [[0, 20, 99, 199, 1], [50, 40, 59, 149, 1]])
    assert poses.shape == (2, 17, 3) and set(np.unique(poses[:, :, 2])) == {0.0, 1.0}


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


def test_oracle_needs_no_pose_network(tmp_path, monkeypatch, torch_home):
    """--oracle feeds the annotated keypoints: the default pose network is neither downloaded
    nor loaded (here it is not in the empty cache and downloads fail)."""
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", offline)
    out = tmp_path / "oracle"
    args = ["--data-root", str(shared_path(SAMPLE)), "--output", str(out), "--boxes", "gt",
            "--oracle", "--device", "cpu", "--sequences", SEQUENCES[1]]
    assert runner.main(args) == 0
    assert [p.stem for p in out.glob("*.json")] == [SEQUENCES[1]]
    assert not list(torch_home.rglob("*.pth"))
