"""Fixtures shared by the tests."""
import pytest
import torch


@pytest.fixture
def torch_home(tmp_path):
    """An empty torch hub directory, so download tests never touch the user's cache."""
    old = torch.hub.get_dir()
    torch.hub.set_dir(str(tmp_path / "hub"))
    yield tmp_path / "hub"
    torch.hub.set_dir(old)
