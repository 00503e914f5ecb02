"""Training records of COCO, PoseTrack18, MPII and custom COCO-format datasets."""
import contextlib
import io
import json

import numpy as np
import pytest

from helpers import shared_path
from pose.datasets.coco import BOX_ENDS, clean_box, ground_truth_boxes
from pose.datasets.custom import custom_layout, infer_flip_pairs
from pose.datasets.mpii import read_mpii
from pose.datasets.posetrack18 import find_sequences, read_posetrack18
from pose.keypoints import COCO, CROWDPOSE, MPII
from pose.training.records import coco_records, mpii_records, posetrack18_records
from pose.transforms import box_to_center_scale


def test_coco_records_are_the_official_training_persons():
    from pycocotools.coco import COCO as CocoApi

    root = shared_path("data/coco_sample")
    records = coco_records(root / "test_coco.json", root, (256, 192))
    with contextlib.redirect_stdout(io.StringIO()):
        coco = CocoApi(str(root / "test_coco.json"))
    boxes = ground_truth_boxes(coco)
    assert len(records) == sum(len(b) for b in boxes.values()) == 12  # 2 without keypoints
    first = records[0]
    center, scale = box_to_center_scale(boxes[first.image_id][:1, :4], (256, 192))
    np.testing.assert_array_equal(first.center, center[0])
    np.testing.assert_array_equal(first.scale, scale[0])
    assert first.keypoints.shape == (17, 3) and set(np.unique(first.keypoints[:, 2])) <= {0, 1}
    assert first.image.is_file()


def test_posetrack18_records_cover_the_labelled_people():
    root = shared_path("data/posetrack18_sample")
    sequences = [s for f in find_sequences(root) for s in read_posetrack18(f)]
    records = posetrack18_records(sequences, root, (256, 192))
    assert len(records) == 14
    assert all(r.image.is_file() and r.keypoints.shape == (17, 3) for r in records)
    assert all(r.keypoints[3:5].max() == 0 for r in records)  # no ears in PoseTrack18


def test_clean_boxes_end_at_the_last_pixel_or_at_the_edge():
    """Official HRNet and mmpose <= 0.26: x2 = min(W - 1, x1 + max(0, w - 1)); mmpose >= 0.27:
    x2 = min(W - 1, x1 + max(0, w))."""
    np.testing.assert_array_equal(clean_box([-5, 10, 50, 40], 100, 100), [0, 10, 49, 49])
    np.testing.assert_array_equal(clean_box([-5, 10, 50, 40], 100, 100, "edge"), [0, 10, 50, 50])
    np.testing.assert_array_equal(clean_box([80, 90, 50, 40], 100, 100, "edge"), [80, 90, 99, 99])
    with pytest.raises(ValueError, match="box_end"):
        clean_box([0, 0, 1, 1], box_end="inclusive")
    root = shared_path("data/posetrack18_sample")
    sequences = [s for f in find_sequences(root) for s in read_posetrack18(f)]
    last, edge = (posetrack18_records(sequences, root, (256, 192), end) for end in BOX_ENDS)
    assert len(last) == len(edge) == 14
    widths = [(b.box[2] - b.box[0]) - (a.box[2] - a.box[0]) for a, b in zip(last, edge)]
    assert max(widths) == 1 and min(widths) >= 0  # one pixel more unless clipped at the image
    np.testing.assert_array_equal(last[0].box[:2], edge[0].box[:2])


def test_mpii_reader_converts_matlab_pixels_and_pads_the_region(tmp_path):
    joints = [[10 + j, 20 + j] for j in range(16)]
    entry = {"image": "a.jpg", "center": [101, 201], "scale": 2.0, "joints": joints,
             "joints_vis": [1] * 15 + [0]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps([entry]))
    (person,) = read_mpii(path)
    np.testing.assert_allclose(person.center, [100, 200 + 30])  # 0-based, moved down 15 * s
    np.testing.assert_allclose(person.scale, [2.5, 2.5])
    np.testing.assert_allclose(person.keypoints[0], [9, 19, 1])
    assert person.keypoints[15, 2] == 0
    (tmp_path / "images").mkdir()
    (record,) = mpii_records(path, tmp_path / "images")
    assert record.image == tmp_path / "images" / "a.jpg" and record.keypoints.shape == (16, 3)
    path.write_text(json.dumps([{"image": "a.jpg"}]))
    with pytest.raises(ValueError, match="entry 0"):
        read_mpii(path)


def test_flip_pairs_are_inferred_from_left_right_names():
    for layout in (COCO, MPII, CROWDPOSE):
        assert sorted(infer_flip_pairs(layout.names)) == sorted(layout.flip_pairs)
    assert infer_flip_pairs(["l_paw", "r_paw", "LeftEar", "RightEar", "tail_left",
                             "tail_right", "nose"]) == ((0, 1), (2, 3), (4, 5))


def test_custom_layout_from_a_coco_format_file(tmp_path):
    names = ["snout", "left_paw", "right_paw", "tail"]
    data = {"categories": [{"id": 1, "name": "dog", "keypoints": names,
                            "skeleton": [[1, 2], [1, 3], [1, 4]]}]}
    layout = custom_layout(data, name="dogs", sigmas=[0.03, 0.05, 0.05, 0.1])
    assert layout.names == tuple(names) and layout.flip_pairs == ((1, 2),)
    assert layout.skeleton == ((0, 1), (0, 2), (0, 3))
    np.testing.assert_allclose(layout.sigma_array(), [0.03, 0.05, 0.05, 0.1])
    assert custom_layout(data, flip_pairs=[]).flip_pairs == ()
    with pytest.raises(ValueError, match="3 sigmas for 4 joints"):
        custom_layout(data, sigmas=[0.1] * 3)
    with pytest.raises(ValueError, match="outside"):
        custom_layout(data, flip_pairs=[[1, 7]])
    with pytest.raises(ValueError, match="joint names"):
        custom_layout({"categories": []})
