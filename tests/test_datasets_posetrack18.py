"""PoseTrack18 annotation reader: official per-video files and mmpose's single file."""
import json

import numpy as np
import pytest

from helpers import shared_path
from pose.datasets.posetrack18 import (PoseTrackAnnotationError, find_sequences,
                                       read_annotation_file, read_posetrack18, read_sequences)
from pose.keypoints import POSETRACK18


def _video(tmp_path, names=None):
    """A 3-frame video: frame 1 labelled with one person lacking 'bbox', frames 0, 2 not."""
    kp = np.zeros((17, 3))
    kp[0] = [10, 20, 1]
    kp[5] = [30, 60, 1]
    kp[16] = [25, 90, 1]
    order = list(POSETRACK18.names) if names is None else names
    flat = np.stack([kp[POSETRACK18.names.index(n)] for n in order]).ravel().tolist()
    images = [{"id": 100 + k, "file_name": f"images/val/000001_bonn_train/{k:06d}.jpg",
               "is_labeled": k == 1, "vid_id": "000001", "nframes": 3} for k in (2, 0, 1)]
    data = {"images": images,
            "annotations": [{"image_id": 101, "track_id": 4, "keypoints": flat,
                             "bbox_head": [5, 10, 10, 20]}],
            "categories": [{"id": 1, "name": "person", "keypoints": order}]}
    path = tmp_path / "000001_bonn_train.json"
    path.write_text(json.dumps(data))
    return path


def test_official_file_frames_in_order_and_person_fields(tmp_path):
    (seq,) = read_posetrack18(_video(tmp_path))
    assert seq.name == "000001_bonn_train"
    assert [i.frame_index for i in seq.images] == [0, 1, 2]
    assert [i.is_labeled for i in seq.images] == [False, True, False]
    (person,) = seq.persons(101)
    assert person.track_id == 4 and person.image_id == 101
    assert person.keypoints.shape == (17, 3) and person.num_labeled == 3
    np.testing.assert_array_equal(person.bbox, [10, 20, 30, 90])  # from the keypoints
    np.testing.assert_array_equal(person.head_box, [5, 10, 15, 30])
    assert seq.persons(100) == []


def test_keypoints_are_reordered_by_name(tmp_path):
    names = list(reversed(POSETRACK18.names))
    (seq,) = read_posetrack18(_video(tmp_path, names))
    (person,) = seq.persons(101)
    np.testing.assert_array_equal(person.keypoints[16], [25, 90, 1])
    np.testing.assert_array_equal(person.keypoints[0], [10, 20, 1])


def test_bad_files_give_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        read_posetrack18(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    with pytest.raises(PoseTrackAnnotationError, match="bad.json"):
        read_posetrack18(bad)
    other = json.loads(_video(tmp_path).read_text())
    other["categories"][0]["keypoints"][1] = "neck"
    bad.write_text(json.dumps(other))
    with pytest.raises(PoseTrackAnnotationError, match="layout"):
        read_posetrack18(bad)
    with pytest.raises(FileNotFoundError):
        find_sequences(tmp_path)


def test_one_checked_reading_of_every_file(tmp_path):
    file = read_annotation_file(_video(tmp_path))
    assert [image["id"] for image in file.images] == [102, 100, 101]  # file order
    assert list(file.by_image) == [101] and file.keypoint_names == list(POSETRACK18.names)
    data = json.loads(_video(tmp_path).read_text())
    del data["categories"]
    del data["annotations"]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    assert read_annotation_file(bad).keypoint_names == list(POSETRACK18.names)
    with pytest.raises(PoseTrackAnnotationError, match="not a PoseTrack18 prediction file"):
        read_annotation_file(bad, "PoseTrack18 prediction file", need_annotations=True)
    data["annotations"] = [{"id": 7, "image_id": 999, "keypoints": []}]
    bad.write_text(json.dumps(data))
    with pytest.raises(PoseTrackAnnotationError, match="annotation 7 has image_id 999"):
        read_posetrack18(bad)
    data["annotations"] = [3]
    bad.write_text(json.dumps(data))
    with pytest.raises(PoseTrackAnnotationError, match="lists of objects"):
        read_annotation_file(bad)


def test_real_official_files_and_mmpose_single_file_agree():
    root = shared_path("data/posetrack18_sample")
    files = find_sequences(root)
    assert [f.stem for f in files] == ["003418_mpii_test", "009473_mpii_test",
                                       "012834_mpii_test"]
    per_video = {s.name: s for f in files for s in read_posetrack18(f)}
    merged = read_posetrack18(root / "annotations" / "test_posetrack18_val.json")
    assert sorted(s.name for s in merged) == sorted(per_video)
    for seq in merged:
        other = per_video[seq.name]
        assert [i.image_id for i in seq.images] == [i.image_id for i in other.images]
        assert {k: len(v) for k, v in seq.people.items()} == \
            {k: len(v) for k, v in other.people.items()}
        for image_id, people in seq.people.items():
            for a, b in zip(people, other.people[image_id]):
                np.testing.assert_array_equal(a.keypoints, b.keypoints)
                np.testing.assert_array_equal(a.bbox, b.bbox)
    seq = per_video["009473_mpii_test"]
    assert seq.images[0].width == 1920 and seq.images[0].is_labeled
    assert (root / seq.images[0].file_name).is_file()
    first = seq.persons(seq.images[0].image_id)[0]
    # the file's bbox [631.5, 167.77, 351.0, 751.43] as x1, y1, x2, y2
    np.testing.assert_allclose(first.bbox, [631.5, 167.77146758, 982.5, 919.20372162])
    assert np.all(first.keypoints[3:5] == 0)  # ears never annotated


def test_read_sequences_of_a_folder_or_a_single_file(tmp_path):
    root = shared_path("data/posetrack18_sample/annotations")
    folder = read_sequences(root / "val")
    single = read_sequences(root / "test_posetrack18_val.json")
    assert [s.name for s in folder] == ["003418_mpii_test", "009473_mpii_test",
                                        "012834_mpii_test"]
    assert sorted(s.name for s in single) == [s.name for s in folder]
    by_name = {s.name: s for s in single}
    assert [len(s.images) for s in folder] == [len(by_name[s.name].images) for s in folder]
    with pytest.raises(FileNotFoundError, match=r"\*\.json"):
        read_sequences(tmp_path)
