"""ONNX export (python -m pose.export) and the onnxruntime runner, against PyTorch."""
import numpy as np
import pytest
import torch

import pose
from helpers import shared_path
from pose.estimator import TopDownEstimator
from test_transforms import coco_sample_persons

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

from pose.export import export_onnx, main  # noqa: E402
from pose.onnx_runtime import OnnxPoseModel  # noqa: E402

REFERENCE = "reference/hrnet_small_w8_256x192_official.pth"


def tiny_hrnet():
    """An HRNet with one module per stage and one block per branch: a quick export."""
    return pose.build_model("hrnet_w4", input_size=(64, 64),
                            num_modules=(1, 1, 1), num_blocks=1).eval()


@pytest.fixture(scope="module")
def reference_onnx(tmp_path_factory):
    """The reference HRNet-W8 checkpoint exported by the CLI (which checks it with
    onnxruntime and must pass)."""
    path = tmp_path_factory.mktemp("onnx") / "w8.onnx"
    code = main(["hrnet_w8", "--output", str(path), "--weights", str(shared_path(REFERENCE)),
                 "--exporter", "torchscript"])
    assert code == 0
    return path


def test_cli_reports_the_difference_from_pytorch(reference_onnx, capsys):
    model = OnnxPoseModel(reference_onnx)
    assert model.preset.name == "hrnet_w8" and model.preset.input_size == (256, 192)
    assert model.color == "rgb"
    x = torch.load(shared_path("reference/input_2x3x256x192.pt"), weights_only=True)
    expected = torch.load(shared_path("reference/hrnet_small_w8_256x192_official_output.pt"),
                          weights_only=True)
    torch.testing.assert_close(model(x), expected, rtol=0, atol=1e-4)
    torch.testing.assert_close(model(x[1:]), expected[1:], rtol=0, atol=1e-4)  # dynamic batch


def test_estimator_runs_the_onnx_network_like_the_torch_one(reference_onnx):
    image, boxes = coco_sample_persons(0)
    torch_model = pose.build_model("hrnet_w8", weights=str(shared_path(REFERENCE)))
    expected = TopDownEstimator(torch_model)(image, boxes)
    actual = TopDownEstimator(OnnxPoseModel(reference_onnx, threads=1))(image, boxes)
    np.testing.assert_allclose(actual, expected, atol=1e-3)


@pytest.mark.parametrize("exporter", ["torchscript", "dynamo"])
def test_dynamic_batch_export(tmp_path, exporter):
    if exporter == "dynamo":
        pytest.importorskip("onnxscript")
    model = tiny_hrnet()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    dynamic = OnnxPoseModel.from_torch(model, exporter=exporter)  # via a temporary file
    assert dynamic.preset == model.preset
    torch.testing.assert_close(dynamic(x), expected, rtol=0, atol=1e-5)
    torch.testing.assert_close(dynamic(x[:1]), expected[:1], rtol=0, atol=1e-5)


def test_fixed_batch_export_and_recorded_colour(tmp_path):
    model = tiny_hrnet()
    x = torch.randn(3, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    fixed = OnnxPoseModel(export_onnx(model, tmp_path / "f.onnx", batch=3, color="bgr",
                                      exporter="torchscript"))
    assert fixed.color == "bgr" and TopDownEstimator(fixed, flip=False).color == "bgr"
    torch.testing.assert_close(fixed(x), expected, rtol=0, atol=1e-5)
    with pytest.raises(Exception):
        fixed(x[:2])


def test_files_without_metadata_need_a_preset(tmp_path):
    import onnx

    model = tiny_hrnet()
    path = export_onnx(model, tmp_path / "m.onnx", exporter="torchscript")
    proto = onnx.load(str(path))
    del proto.metadata_props[:]
    onnx.save(proto, str(path))
    with pytest.raises(ValueError, match="preset"):
        OnnxPoseModel(path)
    assert OnnxPoseModel(path, preset=model.preset).color == "rgb"


def test_export_and_check_leave_the_callers_model_as_it_was(tmp_path):
    from pose.export import check_onnx

    model = tiny_hrnet().double().train()
    for fold_bn in (False, True):
        path = export_onnx(model, tmp_path / f"tiny{fold_bn}.onnx", fold_bn=fold_bn,
                           exporter="torchscript")
        assert model.training and next(model.parameters()).dtype == torch.float64
        difference, scale = check_onnx(model, path)
        assert model.training and next(model.parameters()).dtype == torch.float64
        assert scale > 0 and difference < 1e-3 * scale


def test_export_records_the_channel_order_the_estimator_would_use(tmp_path):
    model = tiny_hrnet()
    model.color = "bgr"  # e.g. a network carrying its own channel order, no zoo checkpoint
    path = export_onnx(model, tmp_path / "bgr.onnx", exporter="torchscript")
    runner = OnnxPoseModel(path)
    assert runner.color == "bgr" == TopDownEstimator(model).color
    assert TopDownEstimator(runner).color == "bgr"


def _cached_tiny_hrnet(tmp_path, monkeypatch):
    """An ONNX cache folder of this test, a tiny HRNet, an input and the network's output."""
    monkeypatch.setenv("HRTRACK_ONNX_CACHE", str(tmp_path / "cache"))
    model = tiny_hrnet()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        return tmp_path / "cache", model, x, model(x)


def test_cached_export_is_reused_for_the_same_weights_only(tmp_path, monkeypatch):
    import pose.onnx_runtime as runtime

    _, model, x, expected = _cached_tiny_hrnet(tmp_path, monkeypatch)
    first = OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    files = list((tmp_path / "cache").iterdir())
    assert len(files) == 1 and files[0].name.startswith("hrnet_w4-")
    torch.testing.assert_close(first(x), expected, rtol=0, atol=1e-5)

    exports = []
    real_export = runtime.export_onnx
    monkeypatch.setattr(runtime, "export_onnx",
                        lambda *a, **k: exports.append(1) or real_export(*a, **k))
    again = OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    assert exports == [] and again.preset == model.preset  # found in the cache
    torch.testing.assert_close(again(x), expected, rtol=0, atol=1e-5)

    with torch.no_grad():  # other weights: another file, exported afresh
        model.final_layer.weight.mul_(2)
        changed = model(x)
    other = OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    assert exports == [1] and len(list((tmp_path / "cache").iterdir())) == 2
    torch.testing.assert_close(other(x), changed, rtol=0, atol=1e-5)


def test_cached_export_interrupted_leaves_no_file_and_damage_is_repaired(tmp_path, monkeypatch):
    import pose.onnx_runtime as runtime

    cache = tmp_path / "cache"
    monkeypatch.setenv("HRTRACK_ONNX_CACHE", str(cache))
    model = tiny_hrnet()
    real_export = runtime.export_onnx

    def interrupted(model, path, **kwargs):
        real_export(model, path, **kwargs)
        raise KeyboardInterrupt

    monkeypatch.setattr(runtime, "export_onnx", interrupted)
    with pytest.raises(KeyboardInterrupt):
        OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    assert list(cache.iterdir()) == []
    monkeypatch.setattr(runtime, "export_onnx", real_export)
    OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    (path,) = cache.iterdir()
    path.write_bytes(b"not an onnx file")  # damaged by something else: exported again
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        expected = model(x)
    repaired = OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    torch.testing.assert_close(repaired(x), expected, rtol=0, atol=1e-5)


def test_cached_dynamo_export_leaves_one_file(tmp_path, monkeypatch):
    pytest.importorskip("onnxscript")
    cache, model, x, expected = _cached_tiny_hrnet(tmp_path, monkeypatch)
    net = OnnxPoseModel.from_torch(model, exporter="dynamo", cache=True)
    torch.testing.assert_close(net(x), expected, rtol=0, atol=1e-5)
    files = list(cache.iterdir())
    assert len(files) == 1 and files[0].suffix == ".onnx"  # no weights left beside it


def test_unwritable_cache_exports_to_a_temporary_file_with_a_warning(tmp_path, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    monkeypatch.setenv("HRTRACK_ONNX_CACHE", str(blocker / "cache"))  # cannot be a folder
    model = tiny_hrnet()
    with pytest.warns(UserWarning, match="cannot write the ONNX cache"):
        net = OnnxPoseModel.from_torch(model, exporter="torchscript", cache=True)
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(net(x), model(x), rtol=0, atol=1e-5)


def test_cache_digest_covers_the_network_code_and_export_settings(tmp_path, monkeypatch):
    import pose.onnx_runtime as runtime

    model = tiny_hrnet()
    names = {p.name for p in runtime._source_files(model)}
    assert {"hrnet.py", "blocks.py", "fuse.py", "export.py"} <= names
    assert not any("torch" in str(p.parent) and p.name == "conv.py"
                   for p in runtime._source_files(model))
    first = runtime.export_digest(model, "torchscript")
    assert runtime.export_digest(model, "torchscript") == first
    assert runtime.export_digest(model, "dynamo") != first
    source = tmp_path / "hrnet.py"
    source.write_text("v1")
    monkeypatch.setattr(runtime, "_source_files", lambda m: [source])
    v1 = runtime.export_digest(model, "torchscript")
    source.write_text("v2")  # the network's code changed: another file
    assert runtime.export_digest(model, "torchscript") != v1
    monkeypatch.setitem(runtime._CACHED_EXPORT, "opset", 17)
    assert runtime.export_digest(model, "torchscript") not in (v1, first)
