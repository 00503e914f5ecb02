"""Architectures: published parameter counts, output shapes, presets."""
import pytest
import torch

import pose
from pose.complexity import count_parameters

# Official parameter counts (official HRNet README / model summary).
PUBLISHED_PARAMS = {
    "hrnet_w32": 28_536_113,
    "hrnet_w48": 63_595_745,
    "pose_resnet_50": 33_999_697,
    "pose_resnet_101": 52_991_825,
    "pose_resnet_152": 68_635_473,
}


@pytest.mark.parametrize("name,params", sorted(PUBLISHED_PARAMS.items()))
def test_parameter_count_is_official(name, params):
    with torch.device("meta"):  # shapes only: no memory, no init cost
        model = pose.build_model(name)
    assert count_parameters(model) == params


def test_mpii_presets_have_16_joints_and_square_input():
    for name in ("hrnet_w32_mpii", "pose_resnet_50_mpii"):
        preset = pose.get_preset(name)
        assert (preset.num_joints, preset.input_size, preset.keypoints) == (16, (256, 256), "mpii")


@pytest.mark.parametrize("name,joints,size", [
    ("hrnet_w8", 17, (256, 192)),
    ("hrnet_w8", 16, (256, 256)),
    ("pose_resnet_18", 17, (256, 192)),
    ("pose_resnet_18", 5, (128, 96)),
])
def test_forward_maps_input_to_quarter_resolution_heatmaps(name, joints, size):
    torch.manual_seed(0)
    model = pose.build_model(name, num_joints=joints, input_size=size).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, *size))
    assert out.shape == (2, joints, size[0] // 4, size[1] // 4)
    assert torch.isfinite(out).all()
    assert model.preset.num_joints == joints and model.preset.input_size == size
    assert model.preset.heatmap_size == (size[0] // 4, size[1] // 4)


def test_any_hrnet_width_builds():
    model = pose.build_model("hrnet_w18")
    assert model.stage4[-1].branches[3][0].conv1.out_channels == 18 * 8
    assert model.final_layer.in_channels == 18


def test_hrnet_structure_details():
    model = pose.build_model("hrnet_w32")
    # fuse: lower-resolution branches are upsampled with nearest neighbour
    upsample = model.stage2[0].fuse_layers[0][1][2]
    assert isinstance(upsample, torch.nn.Upsample) and upsample.mode == "nearest"
    # every BN as the official code: eps 1e-5, momentum 0.1
    bns = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert len(bns) == 292 and all(b.eps == 1e-5 and b.momentum == 0.1 for b in bns)
    # only the final layer has a bias
    biased = [n for n, m in model.named_modules()
              if isinstance(m, torch.nn.Conv2d) and m.bias is not None]
    assert biased == ["final_layer"]
    # the last module of stage 4 only fuses into the highest-resolution branch
    assert len(model.stage4[-1].fuse_layers) == 1 and len(model.stage4[0].fuse_layers) == 4
    assert len(model.state_dict()) == 1754


def test_pose_resnet_head_details():
    model = pose.build_model("pose_resnet_50")
    deconvs = [m for m in model.deconv_layers if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [(d.kernel_size, d.stride, d.padding, d.output_padding, d.bias) for d in deconvs] == \
        [((4, 4), (2, 2), (1, 1), (0, 0), None)] * 3
    assert model.layer2[0].conv2.stride == (2, 2) and model.layer2[0].conv1.stride == (1, 1)
    assert model.final_layer.kernel_size == (1, 1) and model.final_layer.bias is not None


def test_unknown_names_are_refused_with_the_known_ones():
    with pytest.raises(KeyError, match="hrnet_w32"):
        pose.build_model("hrnet_large")
    with pytest.raises(KeyError):
        pose.build_model("pose_resnet_42")


def test_registered_presets_have_published_default_weights():
    for name in pose.list_presets():
        preset = pose.get_preset(name)
        entry = pose.get_published(preset.default_weights)
        assert entry.arch == name.split("_384x288")[0].split("_mpii")[0]
        assert entry.input_size == preset.input_size and entry.num_joints == preset.num_joints
