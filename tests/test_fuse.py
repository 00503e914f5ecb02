"""BatchNorm folding: same outputs as the eval model, original untouched."""
import pytest
import torch
from torch import nn

import pose
from pose.fuse import conv_bn_pairs, fold_batchnorm, fold_conv_bn


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Non-trivial BN statistics and affine parameters, so folding has something to do."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                c = m.num_features
                m.running_mean.copy_(torch.rand(c, generator=gen) * 2 - 1)
                m.running_var.copy_(torch.rand(c, generator=gen) * 1.5 + 0.25)
                m.weight.copy_(torch.rand(c, generator=gen) + 0.5)
                m.bias.copy_(torch.rand(c, generator=gen) - 0.5)
    return model.eval()


def count_bn(model: nn.Module) -> int:
    return sum(isinstance(m, nn.BatchNorm2d) for m in model.modules())


@pytest.mark.parametrize("name, arch", [
    ("hrnet_w8", {"num_modules": (1, 2, 1), "num_blocks": 2}),  # every branch and fuse path
    ("pose_resnet_18", {}),
])
def test_folded_network_equals_the_eval_network(name, arch):
    torch.manual_seed(0)
    model = randomise_batchnorm(pose.build_model(name, input_size=(128, 96), **arch))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    folded = fold_batchnorm(model)
    assert count_bn(folded) == 0 and count_bn(model) > 0
    assert len(conv_bn_pairs(model)) == count_bn(model)  # every BN follows a conv
    assert folded.preset == model.preset
    x = torch.randn(2, 3, 128, 96)
    with torch.no_grad():
        expected, actual = model(x), folded(x)
    scale = expected.abs().max()
    assert scale > 0.1
    torch.testing.assert_close(actual, expected, rtol=0, atol=5e-6 * float(scale))
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_pose_resnet_deconvolutions_are_folded_too():
    model = randomise_batchnorm(pose.build_model("pose_resnet_18"))
    pairs = dict((bn, conv) for conv, bn in conv_bn_pairs(model))
    assert pairs["deconv_layers.1"] == "deconv_layers.0"
    assert isinstance(fold_batchnorm(model).deconv_layers[1], nn.Identity)


@pytest.mark.parametrize("conv", [
    nn.Conv2d(4, 6, 3, padding=1, groups=2, bias=True),
    nn.ConvTranspose2d(4, 6, 4, stride=2, padding=1, groups=2, bias=False),
    nn.ConvTranspose2d(3, 5, 3, stride=1, bias=True),
])
def test_folding_handles_groups_bias_and_transposed_weights(conv):
    torch.manual_seed(1)
    bn = randomise_batchnorm(nn.Sequential(nn.BatchNorm2d(conv.out_channels)))[0]
    reference = nn.Sequential(conv, bn).eval()
    x = torch.randn(2, conv.in_channels, 7, 5)
    with torch.no_grad():
        expected = reference(x)
        fold_conv_bn(conv, bn)
        torch.testing.assert_close(conv(x), expected, rtol=1e-5, atol=1e-5)


class _Shared(nn.Module):
    """A conv whose output feeds a BN and a residual: folding would change the residual."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 3, 1)
        self.bn = nn.BatchNorm2d(3)
        self.bn_in = nn.BatchNorm2d(3)

    def forward(self, x):
        y = self.conv(self.bn_in(x))
        return self.bn(y) + y


def test_only_batchnorms_that_solely_follow_a_conv_are_folded():
    model = randomise_batchnorm(_Shared())
    assert conv_bn_pairs(model) == []
    folded = fold_batchnorm(model)
    assert count_bn(folded) == 2
    x = torch.randn(1, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(folded(x), model(x))
