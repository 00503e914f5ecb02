"""COCO keypoint evaluation on the real COCO sample."""
import contextlib
import io
import json

import numpy as np
import pytest

from benchmarks.coco import evaluate as coco_eval
from benchmarks.coco.metrics import keypoint_stats
from helpers import shared_path
from pose.datasets.coco import detection_boxes, ground_truth_boxes
from pose.keypoints import COCO
from pose.nms import select_poses


@pytest.fixture(scope="module")
def coco():
    from pycocotools.coco import COCO as CocoApi

    with contextlib.redirect_stdout(io.StringIO()):
        return CocoApi(str(shared_path("data/coco_sample/test_coco.json")))


def test_ground_truth_as_predictions_scores_one(coco):
    results = [{"image_id": a["image_id"], "category_id": 1, "keypoints": a["keypoints"],
                "score": 1.0}
               for a in coco.loadAnns(coco.getAnnIds()) if a["num_keypoints"] > 0]
    stats = keypoint_stats(coco, results)
    assert stats["AP"] == pytest.approx(1.0) and stats["AR"] == pytest.approx(1.0)
    # and a perturbed copy does not
    for r in results:
        r["keypoints"] = [v + 8.0 if i % 3 != 2 else v for i, v in enumerate(r["keypoints"])]
    assert keypoint_stats(coco, results)["AP"] < 0.9
    assert keypoint_stats(coco, [])["AP"] == 0.0


def test_ground_truth_boxes_follow_the_official_rules(coco):
    boxes = ground_truth_boxes(coco)
    assert sum(len(b) for b in boxes.values()) == 12  # 14 annotations, 2 without keypoints
    ann = coco.loadAnns(coco.getAnnIds(imgIds=785))[0]
    x, y, w, h = ann["bbox"]
    np.testing.assert_allclose(boxes[785][0], [x, y, x + w - 1, y + h - 1, 1.0])


def test_detection_boxes_are_filtered_by_score(tmp_path):
    path = shared_path("data/coco_sample/test_coco_det_AP_H_56.json")
    assert sum(len(b) for b in detection_boxes(path).values()) == 118
    kept = detection_boxes(path, score_threshold=0.5)
    assert sum(len(b) for b in kept.values()) == 18
    assert all((b[:, 4] >= 0.5).all() and (b[:, 2] > b[:, 0]).all() for b in kept.values())
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        detection_boxes(tmp_path / "bad.json")


def test_select_poses_rescoring_and_nms():
    k = np.zeros((3, 17, 3))
    k[:, :, 0] = np.arange(17) * 10.0
    k[:, :, 1] = 50.0
    k[2, :, 0] += 500.0
    k[:, :, 2] = [[0.9], [0.5], [0.6]]
    keep, scores = select_poses(k, np.array([1.0, 1.0, 0.5]), np.full((3, 2), 1.0),
                                COCO.sigma_array())
    np.testing.assert_allclose(scores, [0.9, 0.5, 0.3])
    np.testing.assert_array_equal(keep, [0, 2])  # pose 1 duplicates pose 0


def _run(tmp_path, *extra):
    out = tmp_path / "results.json"
    args = ["--images", str(shared_path("data/coco_sample")),
            "--annotations", str(shared_path("data/coco_sample/test_coco.json")),
            "--model", "hrnet_w8",
            "--checkpoint", str(shared_path("reference/hrnet_small_w8_256x192_official.pth")),
            "--output", str(out), "--stats-json", str(tmp_path / "stats.json"),
            "--workers", "0", "--no-progress", *extra]
    assert coco_eval.main(args) == 0
    return json.loads(out.read_text()), json.loads((tmp_path / "stats.json").read_text())


def test_end_to_end_on_ground_truth_boxes(tmp_path):
    results, stats = _run(tmp_path, "--no-flip")
    assert len(results) == 12 and len(stats) == 10
    assert {r["image_id"] for r in results} == {785, 40083, 196141, 197388}
    assert all(len(r["keypoints"]) == 51 and r["category_id"] == 1 for r in results)


def test_end_to_end_on_detections(tmp_path):
    det = shared_path("data/coco_sample/test_coco_det_AP_H_56.json")
    results, stats = _run(tmp_path, "--detections", str(det), "--det-score-threshold", "0.5")
    assert 0 < len(results) <= 18 and set(stats) >= {"AP", "AR"}


def test_missing_inputs_exit_with_a_message(tmp_path, capsys):
    code = coco_eval.main(["--images", str(tmp_path / "nope"), "--annotations", "x.json",
                           "--output", str(tmp_path / "r.json"), "--random-weights"])
    assert code == 2 and "image folder not found" in capsys.readouterr().err
    assert not (tmp_path / "r.json").exists()
