"""Fixtures shared by the tests."""
import atexit
import os
import shutil
import tempfile

import pytest
import torch

# The apps' default CPU engine exports pose networks to ONNX and caches the files: in the tests
# they go to a folder of this session, not to the user's cache.
if "HRTRACK_ONNX_CACHE" not in os.environ:
    os.environ["HRTRACK_ONNX_CACHE"] = tempfile.mkdtemp(prefix="hrtrack-test-onnx-")
    atexit.register(shutil.rmtree, os.environ["HRTRACK_ONNX_CACHE"], True)


@pytest.fixture
def torch_home(tmp_path):
    """An empty torch hub directory, so download tests never touch the user's cache."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)
