"""Checkpoint loading against the official-format fixtures in ../shared/reference."""
import os
import urllib.request
from collections import OrderedDict

import pytest
import torch

import pose
from pose.errors import MissingWeightsError
from pose.downloads import fetch_to_cache
from helpers import shared_path

OFFICIAL = "reference/hrnet_small_w8_256x192_official.pth"
MMPOSE0 = "reference/hrnet_small_w8_256x192_mmpose0x.pth"


@pytest.fixture(scope="module")
def reference():
    x = torch.load(shared_path("reference/input_2x3x256x192.pt"), weights_only=True)
    y = torch.load(shared_path("reference/hrnet_small_w8_256x192_official_output.pt"),
                   weights_only=True)
    return x, y


@pytest.fixture(scope="module")
def official_state():
    return torch.load(shared_path(OFFICIAL), weights_only=True)


def run(model, x):
    with torch.no_grad():
        return model.eval()(x)


def assert_reproduces(path, reference, expected_format):
    x, y = reference
    model = pose.build_model("hrnet_w8")
    info = pose.load_checkpoint(model, path)
    assert info.format == expected_format
    assert (run(model, x) - y).abs().max().item() < 1e-4


def test_official_file_reproduces_official_output(reference):
    assert_reproduces(shared_path(OFFICIAL), reference, "official")


def test_mmpose0x_file_reproduces_official_output(reference):
    assert_reproduces(shared_path(MMPOSE0), reference, "mmpose-0.x")


def _variants(state):
    """Derived formats: (name, object to save, format load_checkpoint must report)."""
    mm1 = OrderedDict(("head." + k if k.startswith("final_layer") else "backbone." + k, v)
                      for k, v in state.items())
    return [
        ("mmpose1x", {"meta": {"mmpose_version": "1.3.2"}, "state_dict": mm1}, "mmpose-1.x"),
        ("dataparallel", OrderedDict(("module." + k, v) for k, v in state.items()),
         "dataparallel"),
        ("wrapped", {"epoch": 210, "state_dict": state, "perf": 0.7}, "official-wrapped"),
        ("wrapped_dataparallel",
         {"state_dict": OrderedDict(("module." + k, v) for k, v in state.items())},
         "dataparallel"),
        ("no_num_batches_tracked",
         OrderedDict((k, v) for k, v in state.items() if "num_batches_tracked" not in k),
         "official"),
        ("half_precision", OrderedDict((k, v.half() if v.is_floating_point() else v)
                                       for k, v in state.items()), "official"),
    ]


@pytest.mark.parametrize("variant", ["mmpose1x", "dataparallel", "wrapped",
                                     "wrapped_dataparallel", "no_num_batches_tracked"])
def test_derived_formats_reproduce_official_output(variant, official_state, reference, tmp_path):
    name, obj, fmt = next(v for v in _variants(official_state) if v[0] == variant)
    path = tmp_path / f"{name}.pth"
    torch.save(obj, path)
    assert_reproduces(path, reference, fmt)


def test_fp16_checkpoint_loads_into_fp32_model(official_state, reference, tmp_path):
    _, obj, _ = next(v for v in _variants(official_state) if v[0] == "half_precision")
    torch.save(obj, tmp_path / "half.pth")
    x, y = reference
    model = pose.build_model("hrnet_w8")
    pose.load_checkpoint(model, tmp_path / "half.pth")
    assert next(model.parameters()).dtype == torch.float32
    assert (run(model, x) - y).abs().max().item() < 0.05 * y.abs().max().item()


def test_mmpose_meta_with_numpy_objects_loads(official_state, tmp_path):
    import numpy as np

    obj = {"meta": {"dataset_meta": {"sigmas": np.ones(17)}, "best_score": np.float64(0.75)},
           "state_dict": OrderedDict(("backbone." + k if not k.startswith("final") else
                                      "keypoint_head." + k, v) for k, v in official_state.items())}
    torch.save(obj, tmp_path / "mm.pth")
    info = pose.load_checkpoint(pose.build_model("hrnet_w8"), tmp_path / "mm.pth")
    assert info.format == "mmpose-0.x"
    assert info.meta["dataset_meta"]["sigmas"].tolist() == [1.0] * 17
    assert info.meta["best_score"] == 0.75


def test_other_width_is_refused_naming_keys_and_shapes():
    model = pose.build_model("hrnet_w16")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(pose.CheckpointError) as err:
        pose.load_checkpoint(model, shared_path(OFFICIAL))
    text = str(err.value)
    assert "it is HRNet-W8, 17 joints, the model is HRNet-W16, 17 joints" in text
    assert "build_model('hrnet_w8', num_joints=17)" in text
    assert "stage2.0.branches.0.0.conv1.weight (8, 8, 3, 3) vs (16, 16, 3, 3)" in text
    # nothing was loaded partially
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_other_joint_count_is_refused():
    with pytest.raises(pose.CheckpointError, match=r"final_layer.weight \(17, 8, 1, 1\) vs "
                                                   r"\(16, 8, 1, 1\)"):
        pose.load_checkpoint(pose.build_model("hrnet_w8", num_joints=16), shared_path(OFFICIAL))


def test_other_architecture_is_refused():
    with pytest.raises(pose.CheckpointError) as err:
        pose.load_checkpoint(pose.build_model("pose_resnet_18"), shared_path(MMPOSE0))
    text = str(err.value)
    assert "it is HRNet-W8, 17 joints" in text and "SimpleBaseline ResNet-18" in text
    assert "missing from the checkpoint" in text and "not in the model" in text


def test_truncated_file_is_refused_with_advice(tmp_path):
    data = shared_path(OFFICIAL).read_bytes()
    (tmp_path / "cut.pth").write_bytes(data[: len(data) // 2])
    with pytest.raises(pose.CheckpointError, match="not a readable PyTorch checkpoint"):
        pose.load_checkpoint(pose.build_model("hrnet_w8"), tmp_path / "cut.pth")


def test_non_checkpoint_objects_are_refused(tmp_path):
    torch.save([1, 2, 3], tmp_path / "list.pth")
    with pytest.raises(pose.CheckpointError, match="expected a dict of tensors"):
        pose.load_checkpoint(pose.build_model("hrnet_w8"), tmp_path / "list.pth")
    torch.save({"epoch": 3}, tmp_path / "empty.pth")
    with pytest.raises(pose.CheckpointError, match="holds no tensors"):
        pose.load_checkpoint(pose.build_model("hrnet_w8"), tmp_path / "empty.pth")


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(FileNotFoundError, match="checkpoint file not found"):
        pose.load_checkpoint(pose.build_model("hrnet_w8"), tmp_path / "nope.pth")
    with pytest.raises(FileNotFoundError, match="known names: .*hrnet_w32_coco_256x192"):
        pose.load_checkpoint(pose.build_model("hrnet_w8"), "hrnet_w32_coco")


def _file_url(path):
    return "file://" + urllib.request.pathname2url(os.path.abspath(path))


def _sha256(path):
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_url_downloads_once_into_hub_cache_with_hash_check(tmp_path, torch_home, reference):
    src = tmp_path / "served"
    src.mkdir()
    data = shared_path(OFFICIAL).read_bytes()
    name = f"hrnet_w8-{_sha256(shared_path(OFFICIAL))[:8]}_20260101.pth"  # mmpose-style name
    (src / name).write_bytes(data)
    url = _file_url(src / name)
    x, y = reference
    model = pose.build_model("hrnet_w8")
    info = pose.load_checkpoint(model, url, progress=False)
    assert info.path == torch_home / "checkpoints" / name and info.path.read_bytes() == data
    assert (run(model, x) - y).abs().max().item() < 1e-4
    (src / name).unlink()  # second use needs no download
    assert pose.load_checkpoint(model, url, progress=False).path == info.path


def test_hash_mismatch_keeps_nothing(tmp_path, torch_home):
    src = tmp_path / "served"
    src.mkdir()
    (src / "hrnet_w8-deadbeef_20260101.pth").write_bytes(shared_path(OFFICIAL).read_bytes())
    with pytest.raises(MissingWeightsError, match="failed its SHA-256 check"):
        fetch_to_cache(_file_url(src / "hrnet_w8-deadbeef_20260101.pth"), progress=False)
    assert not list((torch_home / "checkpoints").glob("*"))


def test_offline_download_says_what_to_fetch_and_where(torch_home):
    url = "http://127.0.0.1:9/mmpose/hrnet_w32_coco_256x192-c78dce93_20200708.pth"
    with pytest.raises(MissingWeightsError) as err:
        fetch_to_cache(url, progress=False)
    text = str(err.value)
    assert url in text
    assert str(torch_home / "checkpoints" / "hrnet_w32_coco_256x192-c78dce93_20200708.pth") in text


def test_zoo_file_already_in_cache_is_used_without_download(torch_home, official_state):
    """A zoo name resolves to its file in the hub cache (as after a manual download)."""
    entry = pose.get_published("hrnet_w32_posetrack18_256x192")
    (torch_home / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": {"backbone." + k: v for k, v in official_state.items()}},
               torch_home / "checkpoints" / entry.filename)
    info = pose.load_checkpoint(pose.build_model("hrnet_w8"), entry.name)
    assert info.published == entry and info.format == "mmpose-0.x"


def test_official_zoo_files_explain_manual_download():
    with pytest.raises(MissingWeightsError, match="drive.google.com"):
        pose.load_checkpoint(pose.build_model("hrnet_w32"), "hrnet_w32_coco_256x192_official")
