"""The published-checkpoint registry."""
from collections import OrderedDict

import pytest
import torch

import pose
from pose import __main__ as pose_cli
from pose.downloads import hash_prefix_from_name


def test_every_downloadable_entry_has_a_hash_and_a_buildable_architecture():
    names = pose.list_published()
    assert len(names) == len(set(names)) >= 50
    for name in names:
        entry = pose.get_published(name)
        pose.get_preset(entry.arch)  # raises if the architecture is unknown
        assert entry.color in ("rgb", "bgr") and entry.metrics
        if entry.url:
            assert entry.url.startswith("https://") and len(entry.sha256) == 8
        else:
            assert entry.format == "official" and entry.page.startswith("https://")


def test_zoo_covers_both_seed_zoos_and_all_datasets():
    datasets = {pose.get_published(n).dataset for n in pose.list_published()}
    assert datasets == {"coco", "posetrack18", "mpii", "crowdpose", "aic"}
    entry = pose.get_published("hrnet_w32_posetrack18_256x192")
    assert dict(entry.metrics)["PoseTrack18 val mAP (GT boxes)"] == 83.0
    assert entry.sha256 == "1ee951c4"
    assert pose.get_published("hrnet_w32_coco_256x192_official").color == "rgb"
    assert pose.get_published("pose_resnet_50_coco_256x192_official").color == "bgr"
    assert pose.get_published("hrnet_w32_coco_256x192_mmpose1").format == "mmpose-1.x"


@pytest.mark.parametrize("filename,prefix", [
    ("hrnet_w32_coco_256x192-c78dce93_20200708.pth", "c78dce93"),
    ("resnet50-19c8e357.pth", "19c8e357"),
    ("pose_hrnet_w32_256x192.pth", None),
])
def test_hash_prefix_from_file_name(filename, prefix):
    assert hash_prefix_from_name(filename) == prefix


def test_pretrained_builds_the_checkpoints_network(torch_home):
    """A CrowdPose file (14 joints) gives a 14-joint model; the cached file is used."""
    entry = pose.get_published("hrnet_w32_crowdpose_256x192")
    with torch.device("meta"):
        shapes = pose.build_model("hrnet_w32", num_joints=14).state_dict()
    state = OrderedDict((("keypoint_head." if k.startswith("final") else "backbone.") + k,
                         torch.randn(v.shape) if v.is_floating_point() else torch.zeros((), dtype=v.dtype))
                        for k, v in shapes.items())
    (torch_home / "checkpoints").mkdir(parents=True)
    torch.save({"state_dict": state}, torch_home / "checkpoints" / entry.filename)
    model = pose.pretrained(entry.name)
    assert model.preset.num_joints == 14 and model.preset.keypoints == "crowdpose"
    assert model.loaded_weights.published == entry
    assert torch.equal(model.final_layer.weight, state["keypoint_head.final_layer.weight"])


def test_cli_lists_presets_and_checkpoints(capsys):
    assert pose_cli.main(["presets"]) == 0
    assert "hrnet_w32_384x288" in capsys.readouterr().out
    assert pose_cli.main(["checkpoints", "--dataset", "mpii"]) == 0
    out = capsys.readouterr().out
    assert "hrnet_w32_mpii_256x256" in out and "coco_256x192" not in out
