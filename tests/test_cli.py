"""The ``hrtrack`` command: its help, every subcommand's help, errors, and one real run."""
import configparser
import json
import subprocess
import sys

import pytest

from apps import cli
from helpers import PROJECT_ROOT, shared_path

DETECTOR = "data/detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"
WEIGHTS = "reference/hrnet_small_w8_256x192_official.pth"

SUBCOMMANDS = [name.split() for name in
               ("track", "webcam", "models", "evaluate coco", "evaluate posetrack18",
                "evaluate mot", "posetrack18-run", "retrack", "finalize", "export", "train coco",
                "train posetrack18", "speed")]


def test_help_lists_every_subcommand(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: hrtrack COMMAND")
    for words in SUBCOMMANDS:
        line = [line for line in out.splitlines() if line.split()[:len(words)] == words]
        assert line and len(line[0].split()) > len(words) + 1, f"{words} has no description"


def test_the_table_holds_the_listed_subcommands():
    listed = [[name] if not isinstance(entry, dict) else [name, kind]
              for name, entry in cli.COMMANDS.items()
              for kind in (entry if isinstance(entry, dict) else [None])]
    assert listed == SUBCOMMANDS


@pytest.mark.parametrize("words", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(words, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main([*words, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: hrtrack {' '.join(words)}")


@pytest.mark.parametrize("group", ["evaluate", "train"])
def test_groups_list_their_kinds(group, capsys):
    assert cli.main([group, "--help"]) == 0
    out = capsys.readouterr().out
    assert all(f"{group} {kind}" in out for kind in cli.COMMANDS[group])
    assert cli.main([group]) == 2
    assert cli.main([group, "nonsense"]) == 2
    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2 and all(line.startswith(f"error: hrtrack {group} takes one of")
                                 for line in err)


def test_unknown_subcommand_is_one_line(capsys):
    assert cli.main(["tarck", "video.mp4"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1
    assert captured.err.startswith("error: unknown command 'tarck'; commands: track, webcam")


def test_models_names_the_default_and_where_weights_come_from(capsys):
    from apps.models import DEFAULT_POSE_MODEL

    assert cli.main(["models"]) == 0
    out = capsys.readouterr().out
    assert f"default {DEFAULT_POSE_MODEL}" in out
    line = [line for line in out.splitlines() if line.strip().startswith(DEFAULT_POSE_MODEL)][0]
    assert "(default)" in line and "256x192" in line and "https://" in line
    assert "hrnet_w32_coco_256x192_official" in out and "by hand from" in out
    assert "yolox" in out and "fasterrcnn_resnet50_fpn_v2" in out


def test_help_imports_no_tool():
    """``hrtrack --help`` is instant: the tools (and torch) are imported only when they run."""
    code = ("import sys\nfrom apps import cli\ncli.main(['--help'])\n"
            "print(sorted(m for m in ('torch', 'cv2', 'numpy', 'pose', 'apps.track_video') "
            "if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_console_script_and_module_form():
    config = configparser.ConfigParser()
    config.read(PROJECT_ROOT / "setup.cfg")
    assert config["options.entry_points"]["console_scripts"].split() == [
        "hrtrack", "=", "apps.cli:main"]
    done = subprocess.run([sys.executable, "-m", "apps.cli", "nonsense"], cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and done.stderr.startswith("error: unknown command 'nonsense'")


def test_track_end_to_end(tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    video = shared_path("data/videos/mmpose_demo.mp4")
    out_json = tmp_path / "demo.json"
    code = cli.main(["track", str(video), "--output-json", str(out_json), "--no-video",
                     "--end", "2", "--quiet", "--detector", "yolox",
                     "--detector-weights", str(shared_path(DETECTOR)), "--pose-model", "hrnet_w8",
                     "--pose-weights", str(shared_path(WEIGHTS)), "--device", "cpu",
                     "--pose-backend", "torch", "--no-flip"])
    assert code == 0, capsys.readouterr().err
    data = json.loads(out_json.read_text())
    assert [image["frame_index"] for image in data["images"]] == [0, 1]
    assert data["annotations"] and data["categories"][0]["keypoints"]
