"""pose.downloads: one cached, checked, atomic download for every published file (no internet:
local file:// URLs and a failing opener)."""
import hashlib
import urllib.error
import zipfile

import pytest

from pose.downloads import cache_dir, fetch, fetch_to_cache, file_sha256, hash_prefix_from_name
from pose.errors import HrtrackError, MissingWeightsError

DATA = b"published weights " * 1000


def _served(tmp_path, name="weights-0123abcd.pth", data=DATA):
    folder = tmp_path / "served"
    folder.mkdir(exist_ok=True)
    (folder / name).write_bytes(data)
    return (folder / name).as_uri()


@pytest.fixture
def offline(monkeypatch):
    def unreachable(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("pose.downloads.urlopen", unreachable)


def test_download_with_full_hash_and_with_prefix(tmp_path):
    url = _served(tmp_path)
    digest = hashlib.sha256(DATA).hexdigest()
    for sha, target in ((digest, tmp_path / "a" / "w.pth"), (digest[:8], tmp_path / "b.pth")):
        assert fetch(url, target, sha, progress=False) == target
        assert target.read_bytes() == DATA
    assert file_sha256(target) == digest


def test_hash_mismatch_is_refused_and_nothing_kept(tmp_path):
    url = _served(tmp_path)
    target = tmp_path / "cache" / "w.pth"
    target.parent.mkdir()
    with pytest.raises(MissingWeightsError, match="failed its SHA-256 check") as err:
        fetch(url, target, "deadbeef", progress=False)
    assert url in str(err.value) and str(target) in str(err.value)
    assert "\n" not in str(err.value)
    assert not list(target.parent.iterdir())  # neither the file nor a temporary one


def test_offline_names_url_and_destination(tmp_path, offline):
    url = "https://example.org/models/net-0123abcd.pth"
    target = tmp_path / "cache" / "net-0123abcd.pth"
    with pytest.raises(MissingWeightsError) as err:
        fetch(url, target, progress=False)
    text = str(err.value)
    assert isinstance(err.value, HrtrackError) and "\n" not in text
    assert url in text and str(target) in text and "no network" in text
    assert not target.parent.exists() or not list(target.parent.iterdir())


def test_file_in_place_is_used_without_network(tmp_path, offline):
    target = tmp_path / "cache" / "net.pth"
    target.parent.mkdir()
    target.write_bytes(DATA)
    digest = hashlib.sha256(DATA).hexdigest()
    assert fetch("https://example.org/net.pth", target, digest, progress=False) == target
    assert target.read_bytes() == DATA


def test_archive_member_is_extracted_and_checked(tmp_path):
    archive = tmp_path / "model.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("model/end2end.onnx", DATA)
        zf.writestr("model/pipeline.json", "{}")
    target = tmp_path / "cache" / "model.onnx"
    digest = hashlib.sha256(DATA).hexdigest()
    fetch(archive.as_uri(), target, digest, progress=False, archive_member="end2end.onnx")
    assert target.read_bytes() == DATA
    assert sorted(p.name for p in target.parent.iterdir()) == ["model.onnx"]
    other = tmp_path / "cache2" / "model.onnx"
    with pytest.raises(MissingWeightsError, match="holds 0 files named missing.onnx"):
        fetch(archive.as_uri(), other, progress=False, archive_member="missing.onnx")
    with pytest.raises(MissingWeightsError, match="did not give a zip archive"):
        fetch(_served(tmp_path), other, progress=False, archive_member="end2end.onnx")
    assert not list(other.parent.iterdir())


def test_fetch_to_cache_uses_the_name_and_its_hash(tmp_path, torch_home):
    good = _served(tmp_path, f"net-{hashlib.sha256(DATA).hexdigest()[:8]}.pth")
    path = fetch_to_cache(good, progress=False)
    assert path.parent == cache_dir() == torch_home / "checkpoints"
    assert path.read_bytes() == DATA
    with pytest.raises(MissingWeightsError, match="SHA-256"):
        fetch_to_cache(_served(tmp_path, "net-deadbeef.pth"), progress=False)
    assert not (cache_dir() / "net-deadbeef.pth").exists()


def test_hash_prefix_in_published_names():
    assert hash_prefix_from_name("resnet50-19c8e357.pth") == "19c8e357"
    assert hash_prefix_from_name("hrnet_w32_coco_256x192-c78dce93_20200708.pth") == "c78dce93"
    assert hash_prefix_from_name("end2end.onnx") is None
