"""PoseTrack18 evaluator on sequences derived from the real GT, with hand-computed results."""
import copy
import json

import numpy as np
import pytest

from benchmarks.posetrack18 import evaluate as cli
from benchmarks.posetrack18 import synthetic
from benchmarks.posetrack18.legacy_argsort import legacy_argsort
from benchmarks.posetrack18.poseval import evaluate_folders
from helpers import shared_path
from pose.keypoints import POSETRACK18_TO_POSETRACK15

SEQ = "012834_mpii_test.json"  # 11 people
FRAMES = 6


def real_gt(name=SEQ, strip_ignore=True, frames=FRAMES):
    gt = json.loads(shared_path(f"data/posetrack18_sample/annotations/val/{name}").read_text())
    seq = synthetic.derive_sequence(gt, frames, seed=1)
    if strip_ignore:
        for image in seq["images"]:
            image["ignore_regions_x"], image["ignore_regions_y"] = [], []
    return seq


def run(tmp_path, gt, pred, **kw):
    synthetic.write(gt, tmp_path / "gt" / SEQ)
    synthetic.write(pred, tmp_path / "pred" / SEQ)
    result = evaluate_folders(tmp_path / "gt", tmp_path / "pred", **kw)
    return result, result.tables()


def present(ann):
    """[15] which poseval joints the annotation has."""
    kp = np.asarray(ann["keypoints"], float).reshape(17, 3)
    has = ~((kp[:, 0] == 0) & (kp[:, 1] == 0) & (kp[:, 2] == 0))
    return has[list(POSETRACK18_TO_POSETRACK15)]


def joint_counts(gt, track_ids=None, frames=None):
    """[15] GT joint occurrences over the given frames (default all but the last) of the given
    tracks (default all)."""
    images = [im["id"] for im in gt["images"]]
    frames = images[:-1] if frames is None else frames
    total = np.zeros(15)
    for a in gt["annotations"]:
        if a["image_id"] in frames and (track_ids is None or a["track_id"] in track_ids):
            total += present(a)
    return total


def by_frame(pred):
    out = {}
    for a in pred["annotations"]:
        out.setdefault(a["image_id"], []).append(a)
    return out


def test_perfect_predictions_score_100(tmp_path):
    gt = real_gt(strip_ignore=False)
    _, tables = run(tmp_path, gt, synthetic.predictions_from_gt(gt, scores="random"))
    for key in ("AP", "MOTA", "MOTP", "Prec", "Rec"):
        assert all(v == pytest.approx(100.0) for v in tables[key].values()), key


def test_jitter_beyond_the_gate_turns_a_person_into_misses_and_false_positives(tmp_path):
    gt = real_gt()
    pred = synthetic.predictions_from_gt(gt, scores="one")
    for a in pred["annotations"]:
        if a["track_id"] == 3:  # far beyond 0.5 head sizes, and lower scores
            kp = np.asarray(a["keypoints"]).reshape(17, 3)
            kp[kp[:, 2] > 0, 0] += 2000
            a["keypoints"] = kp.ravel().tolist()
            a["scores"] = [0.5] * 17
    result, tables = run(tmp_path, gt, pred)
    all_frames = [im["id"] for im in gt["images"]]
    others = joint_counts(gt, set(range(11)) - {3}, all_frames)
    everyone = joint_counts(gt, None, all_frames)
    # true positives (score 1) all rank before the moved person's joints (0.5): AP = recall
    ap = 100 * others / everyone
    assert tables["AP"]["Total"] == pytest.approx(ap.mean())
    moved = joint_counts(gt, {3})
    objects = joint_counts(gt)
    mota = 100 * (1 - 2 * moved / objects)  # each moved joint: one miss and one false positive
    np.testing.assert_allclose(result.tracking["MOTA"][:15], mota)
    np.testing.assert_allclose(result.tracking["Prec"][:15], 100 * (objects - moved) / objects)


def test_identity_swap_costs_one_switch_per_joint_of_each_person(tmp_path):
    gt = real_gt()
    pred = synthetic.predictions_from_gt(gt, scores="one")
    swap_from = gt["images"][2]["id"]  # ids of tracks 1 and 2 exchanged from frame 2 on
    for a in pred["annotations"]:
        if a["image_id"] >= swap_from and a["track_id"] in (1, 2):
            a["track_id"] = 3 - a["track_id"]
    result, tables = run(tmp_path, gt, pred)
    assert tables["AP"]["Total"] == pytest.approx(100.0)
    switches = joint_counts(gt, {1, 2}, [swap_from])
    np.testing.assert_allclose(result.tracking["MOTA"][:15],
                               100 * (1 - switches / joint_counts(gt)))
    assert [c.switches for c in result.counts] == switches.astype(int).tolist()


def test_a_duplicated_person_adds_false_positives_only(tmp_path):
    gt = real_gt()
    pred = synthetic.predictions_from_gt(gt, scores="one")
    for frame, people in by_frame(pred).items():
        copy_ = copy.deepcopy(next(a for a in people if a["track_id"] == 5))
        copy_["track_id"], copy_["scores"] = 99, [0.2] * 17
        pred["annotations"].append(copy_)
    result, tables = run(tmp_path, gt, pred)
    assert tables["AP"]["Total"] == pytest.approx(100.0)  # the copies rank last
    dup = joint_counts(gt, {5})
    np.testing.assert_allclose(result.tracking["MOTA"][:15], 100 * (1 - dup / joint_counts(gt)))


def test_joints_in_ignore_regions_are_removed_from_gt_and_predictions(tmp_path):
    gt = real_gt()
    person = next(a for a in gt["annotations"] if a["track_id"] == 4)
    kp = np.asarray(person["keypoints"]).reshape(17, 3)
    x, y = kp[kp[:, 2] > 0, 0], kp[kp[:, 2] > 0, 1]
    box = [x.min() - 5, y.min() - 5, x.max() + 5, y.max() + 5]
    first = gt["images"][0]  # the region covers person 4 in the first frame only
    first["ignore_regions_x"] = [[box[0], box[2], box[2], box[0]]]
    first["ignore_regions_y"] = [[box[1], box[1], box[3], box[3]]]
    pred = synthetic.predictions_from_gt(gt, scores="one")
    center = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2, 1]
    for a in pred["annotations"]:  # the prediction of person 4 there is wrong ...
        if a["image_id"] == first["id"] and a["track_id"] == 4:
            a["keypoints"] = center * 17
    # ... and a false person inside the region
    ghost = {"image_id": first["id"], "track_id": 77, "scores": [1.0] * 17,
             "keypoints": center * 17}
    pred["annotations"].append(ghost)
    _, tables = run(tmp_path, gt, pred)
    assert tables["AP"]["Total"] == pytest.approx(100.0)
    assert tables["MOTA"]["Total"] == pytest.approx(100.0)
    first["ignore_regions_x"], first["ignore_regions_y"] = [], []  # without the region: errors
    _, tables = run(tmp_path, gt, pred)
    assert tables["AP"]["Total"] < 100.0 and tables["MOTA"]["Total"] < 100.0


def test_missing_scores_are_the_poseval_fallback_score(tmp_path):
    gt = real_gt()
    results = {}
    for mode in ("none", "empty"):
        pred = synthetic.predictions_from_gt(gt, np.random.default_rng(3), jitter=0.3,
                                             scores=mode)
        results[mode] = run(tmp_path, gt, pred)[1]["AP"]
    pred = synthetic.predictions_from_gt(gt, np.random.default_rng(3), jitter=0.3, scores="one")
    for a in pred["annotations"]:
        a["scores"] = [-9999.0] * 17
    explicit = run(tmp_path, gt, pred)[1]["AP"]
    assert results["none"] == results["empty"] == explicit
    perfect = synthetic.predictions_from_gt(gt, scores="none")
    assert run(tmp_path, gt, perfect)[1]["AP"]["Total"] == pytest.approx(100.0)


def test_a_frame_without_predictions_counts_one_miss_and_one_false_positive(tmp_path):
    gt = real_gt()
    pred = synthetic.predictions_from_gt(gt, scores="one")
    empty = gt["images"][2]["id"]
    pred["annotations"] = [a for a in pred["annotations"] if a["image_id"] != empty]
    result, _ = run(tmp_path, gt, pred)
    objects = joint_counts(gt) - joint_counts(gt, None, [empty]) + 1  # poseval's dummy object
    np.testing.assert_allclose(result.tracking["MOTA"][:15], 100 * (1 - 2 / objects))


def test_the_last_frame_of_a_sequence_is_not_tracked(tmp_path):
    gt = real_gt()
    pred = synthetic.predictions_from_gt(gt, scores="one")
    last = gt["images"][-1]["id"]
    for a in pred["annotations"]:
        if a["image_id"] == last:
            a["track_id"] += 50  # every identity changes in the last frame: not counted
    assert run(tmp_path, gt, pred)[1]["MOTA"]["Total"] == pytest.approx(100.0)


def test_legacy_tie_order_is_numpy_1x_introsort():
    # numpy 1.23 argsort of 17 and 33 equal values (recorded)
    assert legacy_argsort(np.full(17, 1.0)).tolist() == \
        [0, 14, 13, 12, 11, 10, 9, 15, 8, 6, 5, 4, 3, 2, 1, 7, 16]
    assert legacy_argsort(np.full(33, 1.0)).tolist()[:8] == [0, 30, 29, 28, 27, 26, 25, 24]
    x = np.random.default_rng(0).normal(size=1000)  # without ties: a plain sort
    assert legacy_argsort(x).tolist() == np.argsort(x).tolist()
    # the heapsort fallback: numpy 1.23 argsort(kind="heapsort") (recorded)
    from benchmarks.posetrack18.legacy_argsort import _heapsort

    for values, expected in [([1.0] * 10, [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]),
                             ([2., 1, 2, 1, 2, 1, 0, 2], [6, 5, 1, 3, 2, 4, 7, 0])]:
        order = list(range(len(values)))
        _heapsort(values, order, 0, len(values))
        assert order == expected


@pytest.mark.parametrize("problem,message", [
    ("missing", "prediction file missing"),
    ("frames", "2 frames but the GT has 6"),
    ("json", "malformed JSON"),
    ("repeat", "track ids repeat within frame"),
    ("image_id", "has image_id 999999, which is no image of the file"),
    ("nan", "has NaN or infinite keypoints"),
    ("inf_score", "has NaN or infinite scores"),
])
def test_bad_predictions_give_one_line_naming_the_file(tmp_path, capsys, problem, message):
    gt = real_gt()
    synthetic.write(gt, tmp_path / "gt" / SEQ)
    pred = synthetic.predictions_from_gt(gt)
    path = tmp_path / "pred" / SEQ
    path.parent.mkdir(parents=True)
    if problem == "frames":
        pred["images"] = pred["images"][:2]
        kept = {image["id"] for image in pred["images"]}
        pred["annotations"] = [a for a in pred["annotations"] if a["image_id"] in kept]
    if problem == "image_id":
        pred["annotations"][0]["image_id"] = 999999
    if problem == "nan":
        pred["annotations"][0]["keypoints"][4] = float("nan")
    if problem == "inf_score":
        pred["annotations"][0]["scores"] = [float("inf")] * 17
    if problem == "repeat":
        pred["annotations"][1]["track_id"] = pred["annotations"][0]["track_id"]
    if problem == "json":
        path.write_text("{\"images\": [")
    elif problem != "missing":
        synthetic.write(pred, path)
    code = cli.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and message in err and SEQ in err and len(err.splitlines()) == 1


def test_cli_writes_the_tables_as_json(tmp_path, capsys):
    gt = real_gt()
    synthetic.write(gt, tmp_path / "gt" / SEQ)
    synthetic.write(synthetic.predictions_from_gt(gt), tmp_path / "pred" / SEQ)
    out = tmp_path / "out" / "metrics.json"
    assert cli.main(["--gt", str(tmp_path / "gt"), "--pred", str(tmp_path / "pred"),
                     "--json", str(out), "--per-sequence"]) == 0
    data = json.loads(out.read_text())
    assert set(data) >= {"AP", "MOTA", "MOTP", "Prec", "Rec", "per_sequence"}
    assert list(data["AP"]) == ["Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl", "Total"]
    assert data["AP"]["Total"] == 100.0 and data["MOTA"]["Total"] == 100.0
    assert "Average Precision" in capsys.readouterr().out


def test_coco_results_convert_to_prediction_files(tmp_path):
    from benchmarks.posetrack18 import convert

    gt = real_gt()
    synthetic.write(gt, tmp_path / "gt" / SEQ)
    results = []
    for a in gt["annotations"]:  # GT poses as COCO results: keypoint scores as third values
        kp = np.asarray(a["keypoints"], float).reshape(17, 3)
        kp[:, 2] = np.where(kp[:, 2] > 0, 0.9, 0)
        results.append({"image_id": a["image_id"], "category_id": 1, "score": 0.9,
                        "track_id": a["track_id"], "keypoints": kp.ravel().tolist()})
    (tmp_path / "res.json").write_text(json.dumps(results))
    assert convert.main(["coco", "--results", str(tmp_path / "res.json"), "--gt",
                         str(tmp_path / "gt"), "--output", str(tmp_path / "pred")]) == 0
    tables = evaluate_folders(tmp_path / "gt", tmp_path / "pred").tables()
    assert tables["AP"]["Total"] == pytest.approx(100) and tables["MOTA"]["Total"] == pytest.approx(100)


def test_hrtrack_output_aligns_to_gt_frames_by_file_name(tmp_path):
    from benchmarks.posetrack18 import convert

    gt = real_gt()
    pred = synthetic.predictions_from_gt(gt, scores="one")
    # the tracker's own output: one image per video frame, ids of its own, frames 0..5
    tracks = {"images": [{"id": 1000 + k, "frame_index": k} for k in range(FRAMES)],
              "annotations": []}
    gt_ids = [im["id"] for im in gt["images"]]
    for a in pred["annotations"]:
        tracks["annotations"].append(dict(a, image_id=1000 + gt_ids.index(a["image_id"])))
    (tmp_path / "tracks.json").write_text(json.dumps(tracks))
    synthetic.write(gt, tmp_path / "gt" / SEQ)
    assert convert.main(["hrtrack", "--tracks", str(tmp_path / "tracks.json"), "--gt",
                         str(tmp_path / "gt" / SEQ), "--output",
                         str(tmp_path / "pred" / SEQ)]) == 0
    tables = evaluate_folders(tmp_path / "gt", tmp_path / "pred").tables()
    assert tables["AP"]["Total"] == pytest.approx(100) and tables["MOTA"]["Total"] == pytest.approx(100)
