"""State-dict layout of the full-size networks equals the official code's.

The signatures are SHA-256 digests (first 16 hex digits) of the ordered ``key:shape`` lines of the
``state_dict()`` of models built by the official repositories' own ``get_pose_net``
(leoxiaobin/deep-high-resolution-net.pytorch @6f69e467, their COCO and MPII experiment configs).
Equal digests mean the same modules, names, shapes and registration order, so official weights
load key for key. Numerical equality with the official code is covered by the shared reference
fixture (tests/test_checkpoints.py).
"""
import hashlib

import pytest
import torch

import pose

OFFICIAL_SIGNATURES = {
    "hrnet_w32": "6090ba2bde03c835",
    "hrnet_w48": "9bd71c34839e7e76",
    "hrnet_w32_mpii": "2779f262a6a4ddd8",
    "pose_resnet_50": "ae171a4c240e6747",
    "pose_resnet_152": "887d0c4f74339589",
}


def signature(model: torch.nn.Module) -> str:
    lines = (f"{k}:{'x'.join(map(str, v.shape))}" for k, v in model.state_dict().items())
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


@pytest.mark.parametrize("name", sorted(OFFICIAL_SIGNATURES))
def test_state_dict_layout_equals_official(name):
    with torch.device("meta"):
        model = pose.build_model(name)
    assert signature(model) == OFFICIAL_SIGNATURES[name]
