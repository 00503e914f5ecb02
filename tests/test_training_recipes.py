"""Recipes (official hyper-parameters, files, overrides) and the recipe command lines."""
import csv
import json

import pytest
import torch

import pose
from benchmarks.coco import train as coco_train
from benchmarks.configs.coco import RECIPES as COCO_RECIPES
from benchmarks.configs.posetrack18 import RECIPES as POSETRACK_RECIPES
from benchmarks.posetrack18 import finetune
from helpers import shared_path
from pose.training.recipe import RecipeError, apply_overrides, load_recipe, recipe_from_dict
from pose.training.schedule import WarmupMultiStepLR

TINY = ["model=hrnet_w8", "input_size=(64, 64)",
        "model_args={'num_modules': (1, 1, 1), 'num_blocks': 1}", "train.epochs=1",
        "train.batch_size=6", "train.workers=0", "train.progress=false", "test.flip_test=false"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# The ten COCO experiment files of the official repository (leoxiaobin/deep-high-resolution-net
# .pytorch, experiments/coco/{hrnet,resnet}/*_adam_lr1e-3.yaml), field by field, with
# lib/config/default.py for the fields the resnet files leave out (PROB_HALF_BODY 0.0,
# NUM_JOINTS_HALF_BODY 8). Columns: IMAGE_SIZE (w, h), SIGMA, BATCH_SIZE_PER_GPU (train = test),
# END_EPOCH, LR_STEP, COLOR_RGB, ROT_FACTOR, SCALE_FACTOR, PROB_HALF_BODY, PRETRAINED file.
OFFICIAL_COCO = {
    "hrnet_w32_256x192": ((192, 256), 2, 32, 210, (170, 200), True, 45, 0.35, 0.3,
                          "hrnet_w32-36af842e.pth"),
    "hrnet_w32_384x288": ((288, 384), 3, 32, 210, (170, 200), True, 45, 0.35, 0.3,
                          "hrnet_w32-36af842e.pth"),
    "hrnet_w48_256x192": ((192, 256), 2, 32, 210, (170, 200), True, 45, 0.35, 0.3,
                          "hrnet_w48-8ef0771d.pth"),
    "hrnet_w48_384x288": ((288, 384), 3, 24, 210, (170, 200), True, 45, 0.35, 0.3,
                          "hrnet_w48-8ef0771d.pth"),
    **{f"pose_resnet_{d}_{h}x{w}": ((w, h), sigma, 32, 140, (90, 120), False, 40, 0.3, 0.0,
                                    f"resnet{d}-{code}.pth")
       for d, code in ((50, "19c8e357"), (101, "5d3b4d8f"), (152, "b121ed2d"))
       for (h, w, sigma) in ((256, 192, 2), (384, 288, 3))},
}


@pytest.mark.parametrize("name", sorted(OFFICIAL_COCO))
def test_coco_recipes_equal_the_official_files_field_by_field(name):
    (size, sigma, batch, end_epoch, lr_step, rgb, rot, scale, half_body,
     pretrained) = OFFICIAL_COCO[name]
    recipe = COCO_RECIPES[name]
    train, augment, test = recipe.train, recipe.augment, recipe.test
    assert recipe.input_size == (size[1], size[0]) and recipe.sigma == sigma
    assert recipe.model == name.rsplit("_", 1)[0] and recipe.keypoints == "coco"
    assert recipe.color == ("rgb" if rgb else "bgr") and recipe.init == "official"
    assert recipe.backbone.endswith(pretrained)  # MODEL.PRETRAINED (ResNets: torchvision's URL)
    assert (train.batch_size, test.batch_size, train.epochs) == (batch, batch, end_epoch)
    assert tuple(s + 1 for s in train.lr_steps) == lr_step  # stepped before each epoch
    assert (train.optimizer, train.lr, train.lr_factor, train.warmup_iters) == \
        ("adam", 1e-3, 0.1, 0)
    assert train.weight_decay == 0.0  # WD 0.0001 reaches SGD only in the official code
    assert (train.use_target_weight, train.ohkm, train.shuffle, train.grad_clip) == \
        (True, False, True, None)
    assert train.amp is False  # float32, as trained
    assert train.val_interval == 1 and train.log_interval == 100  # every epoch; PRINT_FREQ
    assert (augment.flip, augment.rotation_factor, augment.scale_factor,
            augment.half_body_prob, augment.half_body_min_joints, augment.rotation_prob) == \
        (True, rot, scale, half_body, 8, 0.6)
    assert augment.center_shift_prob == 0.0  # the official code has no centre shift
    assert recipe.box_end == "last_pixel"  # coco.py: x2 = x1 + max(0, w - 1)
    assert (test.use_gt_boxes, test.flip_test, test.shift_heatmap, test.det_score_threshold,
            test.soft_nms) == (True, True, True, 0.0, False)  # USE_GT_BBOX, ..., IMAGE_THRE


def test_official_coco_recipes():
    w32 = COCO_RECIPES["hrnet_w32_256x192"]
    assert (w32.train.epochs, w32.train.lr, w32.train.lr_steps, w32.train.batch_size) == \
        (210, 1e-3, (169, 199), 32)  # LR_STEP [170, 200], stepped before each epoch
    assert (w32.augment.scale_factor, w32.augment.rotation_factor, w32.augment.half_body_prob,
            w32.augment.rotation_prob, w32.sigma, w32.color) == (0.35, 45, 0.3, 0.6, 2.0, "rgb")
    w48 = COCO_RECIPES["hrnet_w48_384x288"]
    assert (w48.model, w48.input_size, w48.sigma, w48.train.batch_size) == \
        ("hrnet_w48", (384, 288), 3.0, 24)
    res = COCO_RECIPES["pose_resnet_50_256x192"]
    assert (res.train.epochs, res.train.lr_steps, res.train.optimizer, res.color) == \
        (140, (89, 119), "adam", "bgr")
    assert (res.augment.scale_factor, res.augment.rotation_factor, res.augment.half_body_prob) \
        == (0.3, 40, 0.0)


@pytest.mark.parametrize("name, lr_step", [("hrnet_w32_256x192", (170, 200)),
                                           ("pose_resnet_50_256x192", (90, 120))])
def test_coco_recipe_rates_follow_the_official_training_loop(name, lr_step):
    """The official tools/train.py: MultiStepLR(LR_STEP) and ``lr_scheduler.step()`` at the start
    of every epoch; the recipe's schedule gives every epoch the rate the official loop trains it
    with."""
    recipe = COCO_RECIPES[name].train
    official_param = torch.nn.Parameter(torch.zeros(1))
    official_optimizer = torch.optim.Adam([official_param], lr=recipe.lr)
    official = torch.optim.lr_scheduler.MultiStepLR(official_optimizer, list(lr_step),
                                                    recipe.lr_factor)
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.Adam([param], lr=recipe.lr)
    schedule = WarmupMultiStepLR(optimizer, recipe.lr_steps, iters_per_epoch=2,
                                 gamma=recipe.lr_factor, warmup_iters=recipe.warmup_iters)
    for epoch in range(recipe.epochs):
        official_optimizer.step()  # a no-op (no gradient) that silences PyTorch's order warning
        official.step()  # the official order: the scheduler first, then the epoch's steps
        for _ in range(2):
            assert optimizer.param_groups[0]["lr"] == pytest.approx(
                official_optimizer.param_groups[0]["lr"], rel=1e-9), f"epoch {epoch}"
            optimizer.step()
            schedule.step()


@pytest.mark.parametrize("width, weights", [(32, "hrnet_w32_coco_256x192-c78dce93_20200708.pth"),
                                            (48, "hrnet_w48_coco_256x192-b9e0b3ab_20200708.pth")])
def test_mmpose_posetrack18_recipes_equal_the_config_field_by_field(width, weights):
    """mmpose 0.29 configs/body/2d_kpt_sview_rgb_img/topdown_heatmap/posetrack18/
    hrnet_w{32,48}_posetrack18_256x192.py."""
    recipe = POSETRACK_RECIPES[f"hrnet_w{width}_256x192"]
    train, augment, test = recipe.train, recipe.augment, recipe.test
    assert (recipe.model, recipe.input_size, recipe.keypoints, recipe.sigma, recipe.color) == \
        (f"hrnet_w{width}", (256, 192), "posetrack18", 2.0, "rgb")
    assert recipe.load_from.endswith(weights) and recipe.backbone is None
    assert (train.optimizer, train.lr, train.weight_decay, train.grad_clip) == \
        ("adam", 5e-4, 0.0, None)
    assert (train.warmup_iters, train.warmup_ratio, train.lr_steps, train.lr_factor,
            train.epochs) == (500, 0.001, (10, 15), 0.1, 20)
    assert (train.batch_size, train.workers, test.batch_size) == (64, 2, 32)
    assert train.amp is False  # no fp16 in the config
    assert train.val_interval == 1 and train.log_interval == 50
    assert (train.use_target_weight, train.ohkm) == (True, False)
    # TopDownRandomShiftBboxCenter(0.16, 0.3), flip 0.5, half body (8, 0.3), rot 40, scale 0.5
    assert (augment.center_shift_factor, augment.center_shift_prob, augment.center_shift_at) == \
        (0.16, 0.3, "sample")
    assert (augment.flip, augment.half_body_min_joints, augment.half_body_prob,
            augment.rotation_factor, augment.scale_factor, augment.rotation_prob) == \
        (True, 8, 0.3, 40.0, 0.5, 0.6)
    assert recipe.box_end == "edge"  # mmpose >= 0.27: x2 = x1 + max(0, w)
    assert (test.use_gt_boxes, test.det_score_threshold, test.flip_test, test.shift_heatmap,
            test.soft_nms) == (True, 0.4, True, True, False)
    legacy = POSETRACK_RECIPES[f"hrnet_w{width}_256x192_legacy"]
    assert (legacy.augment.center_shift_factor, legacy.augment.center_shift_prob,
            legacy.augment.center_shift_at, legacy.box_end) == (0.2, 0.3, "load", "last_pixel")
    assert legacy.train == train and legacy.test == test and legacy.load_from == \
        recipe.load_from


def test_recipes_train_in_float32_unless_asked(capsys):
    for recipe in (*COCO_RECIPES.values(), *POSETRACK_RECIPES.values()):
        assert recipe.train.amp is False, recipe.name
    assert coco_train.main(["--print-config"]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["amp"] is False
    assert coco_train.main(["--print-config", "--amp"]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["amp"] is True
    assert finetune.main(["--print-config", "--set", "train.amp=true"]) == 0
    assert json.loads(capsys.readouterr().out)["train"]["amp"] is True


def test_recipe_files_and_overrides(tmp_path):
    recipe = apply_overrides(COCO_RECIPES["hrnet_w32_256x192"],
                             ["train.epochs=3", "train.lr_steps=[1, 2]", "augment.flip=false",
                              "backbone=none"])
    assert (recipe.train.epochs, recipe.train.lr_steps, recipe.augment.flip,
            recipe.backbone) == (3, (1, 2), False, None)
    path = tmp_path / "mine.json"
    path.write_text(recipe.to_json())
    assert load_recipe(str(path), {}) == recipe
    (tmp_path / "mine.py").write_text(
        "from pose.training.recipe import Recipe\nRECIPE = Recipe(name='x', model='hrnet_w8')\n")
    assert load_recipe(str(tmp_path / "mine.py"), {}).model == "hrnet_w8"
    with pytest.raises(RecipeError, match="unknown"):
        recipe_from_dict({"name": "x", "train": {"epoch": 3}})
    with pytest.raises(RecipeError, match="expected int"):
        apply_overrides(recipe, ["train.epochs=many"])
    with pytest.raises(RecipeError, match="epochs and batch_size must be positive"):
        apply_overrides(recipe, ["train.epochs=0"])
    with pytest.raises(RecipeError, match="box_end must be one of last_pixel, edge"):
        apply_overrides(recipe, ["box_end=inclusive"])
    with pytest.raises(RecipeError, match="center_shift_at"):
        apply_overrides(recipe, ["augment.center_shift_at=epoch"])
    assert apply_overrides(recipe, ["train.val_interval=5"]).train.val_interval == 5


def test_cli_reports_user_errors_without_traceback(capsys, tmp_path):
    assert coco_train.main(["--config", "nope"]) == 2
    assert "unknown recipe 'nope'" in capsys.readouterr().err
    assert coco_train.main(["--data-root", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err
    assert finetune.main(["--data-root", str(tmp_path), "--from", "x.pth"]) == 2
    assert "error:" in capsys.readouterr().err


def test_coco_training_command_trains_validates_and_resumes(tmp_path, capsys):
    root = shared_path("data/coco_sample")
    data = ["--train-annotations", str(root / "test_coco.json"), "--train-images", str(root),
            "--val-annotations", str(root / "test_coco.json"), "--val-images", str(root)]
    base = ["--config", "hrnet_w32_256x192", "--set", "backbone=none", "--output",
            str(tmp_path / "run")] + [a for s in TINY for a in ("--set", s)] + data
    assert coco_train.main(base) == 0
    assert coco_train.main(base + ["--set", "train.epochs=2", "--resume",
                                   str(tmp_path / "run" / "last.pt")]) == 0
    assert "best AP" in capsys.readouterr().out
    with open(tmp_path / "run" / "metrics.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["epoch"] for r in rows if r["name"] == "val/AP"] == ["1", "2"]
    state = torch.load(tmp_path / "run" / "last.pt", weights_only=True)
    assert state["epoch"] == 2 and state["meta"]["recipe"]["model"] == "hrnet_w8"


def test_posetrack18_finetune_command_runs_from_a_checkpoint(tmp_path, capsys):
    root = shared_path("data/posetrack18_sample")
    torch.manual_seed(0)
    start = pose.build_model("hrnet_w8", input_size=(64, 64), num_modules=(1, 1, 1),
                             num_blocks=1)
    torch.save({"state_dict": start.state_dict()}, tmp_path / "coco.pt")
    args = ["--from", str(tmp_path / "coco.pt"), "--data-root", str(root),
            "--train-annotations", str(root / "annotations" / "test_posetrack18_val.json"),
            "--output", str(tmp_path / "run"), "--set", "train.warmup_iters=2"]
    assert finetune.main(args + [a for s in TINY for a in ("--set", s)]) == 0
    assert "best AP" in capsys.readouterr().out
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert 0 <= best["metrics"]["AP"] <= 100 and "AP Head" in best["metrics"]
    printed = finetune.main(["--from", "x.pth", "--print-config"])
    assert printed == 0 and json.loads(capsys.readouterr().out)["load_from"] == "x.pth"


def test_custom_coco_format_dataset_trains_with_its_own_layout(tmp_path):
    root = shared_path("data/coco_sample")
    data = json.loads((root / "test_coco.json").read_text())
    names = ["snout", "left_eye", "right_eye", "left_ear", "right_ear"]
    data["categories"][0]["keypoints"] = names
    data["categories"][0]["skeleton"] = [[1, 2], [1, 3]]
    for ann in data["annotations"]:
        ann["keypoints"] = ann["keypoints"][:15]
    data["annotations"] = [a for a in data["annotations"] if max(a["keypoints"]) > 0]
    custom = tmp_path / "faces.json"
    custom.write_text(json.dumps(data))
    files = ["--train-annotations", str(custom), "--train-images", str(root),
             "--val-annotations", str(custom), "--val-images", str(root)]
    args = ["--config", "hrnet_w32_256x192", "--set", "backbone=none", "--set", "keypoints=faces",
            "--custom-layout", "--sigmas", "0.03,0.03,0.03,0.04,0.04",
            "--output", str(tmp_path / "run")] + [a for s in TINY for a in ("--set", s)] + files
    assert coco_train.main(args) == 0
    best = torch.load(tmp_path / "run" / "best.pt", weights_only=True)
    assert best["state_dict"]["final_layer.weight"].shape[0] == 5
    assert best["meta"]["preset"]["keypoints"] == "faces"
