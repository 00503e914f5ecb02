"""Training engine: exact resume, two-process DDP on the CPU, checkpoints, logs, precision."""
import contextlib
import csv
import json
import os
import socket

import cv2
import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

import pose
from pose.keypoints import COCO
from pose.training import AugmentConfig, TopDownTrainingSet, TrainConfig, Trainer
from pose.training import engine
from pose.training.engine import autocast_dtype, precision_name
from pose.training.records import PersonRecord
from pose.training.weights import init_official
from pose.transforms import box_to_center_scale

INPUT = (64, 64)
TINY = dict(num_modules=(1, 1, 1), num_blocks=1)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a loaded 2-core machine OpenMP's spinning threads slow these tiny
    steps down many times."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def _records(folder, count=6, seed=0):
    """``count`` persons on 4 random images with random joints (some unlabelled)."""
    rng = np.random.default_rng(seed)
    records = []
    for k in range(count):
        path = folder / f"image{k % 4}.png"
        image = rng.integers(0, 255, (120, 100, 3), dtype=np.uint8)
        if not path.exists():
            cv2.imwrite(str(path), image)
        joints = np.column_stack([rng.uniform(20, 80, 17), rng.uniform(10, 110, 17),
                                  rng.random(17) > 0.2]).astype(float)
        center, scale = box_to_center_scale(np.array([[15, 5, 85, 115]]), INPUT)
        records.append(PersonRecord(path, center[0], scale[0], joints, k % 4))
    return records


def _model(seed=0, official=True):
    torch.manual_seed(seed)
    model = pose.build_model("hrnet_w8", input_size=INPUT, **TINY)
    return init_official(model) if official else model


def _fit(folder, output, *, batch_size=2, epochs=2, seed=0, resume=None, interrupt=None,
         workers=0, freeze_bn=False, official=True, lr=1e-3):
    """Trains the tiny network; returns (model, per-step losses)."""
    data = TopDownTrainingSet(_records(folder), COCO, INPUT, AugmentConfig(), seed=5)
    losses = []

    def on_step(epoch, step, loss):
        if (epoch, step) == interrupt:
            raise KeyboardInterrupt
        losses.append(loss)

    config = TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, lr_steps=(1,),
                         warmup_iters=3, workers=workers, freeze_bn=freeze_bn, progress=False,
                         log_interval=1)
    model = _model(seed, official)
    Trainer(model, data, config, output, on_step=on_step, device="cpu").fit(resume)
    return model, losses


def test_resumed_training_equals_uninterrupted_bit_for_bit(tmp_path):
    straight, straight_losses = _fit(tmp_path, tmp_path / "a")
    assert len(straight_losses) == 6 and len(set(straight_losses)) == 6
    with pytest.raises(KeyboardInterrupt):  # dies in the middle of the second epoch
        _fit(tmp_path, tmp_path / "b", interrupt=(1, 1))
    # a fresh process: other initial weights, other global RNG state, data-loader workers
    torch.manual_seed(123)
    np.random.seed(7)
    resumed, resumed_losses = _fit(tmp_path, tmp_path / "b", seed=99,
                                   resume=tmp_path / "b" / "last.pt", workers=2)
    assert resumed_losses == straight_losses[3:]
    a, b = straight.state_dict(), resumed.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # the log holds each epoch once, the checkpoint loads as ordinary weights
    with open(tmp_path / "b" / "metrics.csv") as f:
        epochs = [row["epoch"] for row in csv.DictReader(f) if row["name"] == "train/loss"]
    assert epochs == ["1", "2"]
    with open(tmp_path / "b" / "metrics.jsonl") as f:
        lines = [json.loads(line) for line in f]
    # one line per iteration (log_interval 1) and per epoch; the redone iterations once
    assert [e["iteration"] for e in lines if "iter/loss" in e] == [1, 2, 3, 4, 5, 6]
    assert [e["epoch"] for e in lines if "train/loss" in e] == [1, 2]
    assert [e["iter/loss"] for e in lines if "iter/loss" in e] == straight_losses
    assert all(0 <= e["train/acc"] <= 1 for e in lines if "train/acc" in e)
    loaded = pose.build_model("hrnet_w8", input_size=INPUT, **TINY,
                              weights=str(tmp_path / "b" / "last.pt"))
    assert all(torch.equal(loaded.state_dict()[k], a[k]) for k in a)
    with pytest.warns(UserWarning, match=r"other settings .*\(lr\)"):  # finished: restore only
        _fit(tmp_path, tmp_path / "b", resume=tmp_path / "b" / "last.pt", lr=5e-3)


def test_resume_refuses_files_that_are_not_training_checkpoints(tmp_path):
    torch.save({"state_dict": _model().state_dict()}, tmp_path / "weights.pt")
    with pytest.raises(pose.CheckpointError, match="not a training checkpoint"):
        _fit(tmp_path, tmp_path / "run", resume=tmp_path / "weights.pt")
    with pytest.raises(FileNotFoundError):
        _fit(tmp_path, tmp_path / "run", resume=tmp_path / "missing.pt")


def test_validation_keeps_the_best_checkpoint(tmp_path):
    data = TopDownTrainingSet(_records(tmp_path, 4), COCO, INPUT, AugmentConfig.none())
    scores = iter([0.2, 0.5, 0.4])

    def evaluate(model, epoch):
        assert not model.training
        return {"AP": next(scores)}

    config = TrainConfig(epochs=3, batch_size=4, workers=0, val_interval=1, progress=False)
    result = Trainer(_model(), data, config, tmp_path / "run", evaluate=evaluate,
                     device="cpu").fit()
    assert result.best == {"metric": "AP", "value": 0.5, "epoch": 2}
    best = torch.load(result.best_checkpoint, weights_only=True)
    assert best["epoch"] == 2 and best["metrics"] == {"AP": 0.5}
    assert [h["val/AP"] for h in result.history] == [0.2, 0.5, 0.4]
    assert data.epoch == 2  # each epoch draws its own augmentation


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world_size, port, folder, result):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world_size)
    try:
        model, losses = _fit(folder, folder / "ddp", batch_size=2, epochs=1, freeze_bn=True,
                             official=False, lr=1e-2)
        if rank == 0:
            torch.save({"losses": losses, "state": model.state_dict()}, result)
    finally:
        dist.destroy_process_group()


def test_two_process_ddp_matches_one_process_on_the_same_global_batch(tmp_path):
    # BatchNorm statistics are per process without SyncBN (which needs GPUs), so both runs
    # freeze BatchNorm; everything else - sampling, augmentation, gradient averaging - is shared.
    result = tmp_path / "ddp.pt"
    mp.spawn(_ddp_worker, args=(2, _free_port(), tmp_path, result), nprocs=2, join=True)
    ddp = torch.load(result, weights_only=True)
    single, losses = _fit(tmp_path, tmp_path / "single", batch_size=4, epochs=1, freeze_bn=True,
                          official=False, lr=1e-2)
    assert len(losses) == len(ddp["losses"]) == 2
    np.testing.assert_allclose(ddp["losses"], losses, rtol=1e-5)
    assert abs(losses[1] - losses[0]) > 1e-3 * losses[0]  # the first step changed the network
    # Adam divides each gradient by its own magnitude, so where a gradient is near zero the
    # last-bit differences of summing it in another order (two processes, then all-reduce) move
    # a weight by up to ~lr * rounding / eps (1e-5 to 1e-4 here, on some CPUs): each weight is
    # held to a tenth of the learning rate, and the weights as a whole to a mean difference far
    # below what another global batch gives (of the order of the learning rate).
    state = single.state_dict()
    differences = []
    for key, value in ddp["state"].items():
        torch.testing.assert_close(value, state[key], rtol=1e-4, atol=1e-3)
        if value.is_floating_point():
            differences.append((value - state[key]).abs().flatten())
    assert torch.cat(differences).mean().item() < 1e-6


def test_training_accuracy_is_the_joint_weighted_mean_of_the_iterations(tmp_path, monkeypatch):
    """The official epoch accuracy: an AverageMeter of the iterations' averages weighted by their
    counted joints."""
    data = TopDownTrainingSet(_records(tmp_path, 6, seed=3), COCO, INPUT, AugmentConfig.none())
    config = TrainConfig(epochs=1, batch_size=2, workers=0, log_interval=1, progress=False)
    counted = []
    original = engine.accuracy_from_counts

    def spy(hits, valid):
        result = original(hits, valid)
        counted.append(result[1:])
        return result

    monkeypatch.setattr(engine, "accuracy_from_counts", spy)
    result = Trainer(_model(), data, config, tmp_path / "run", device="cpu").fit()
    assert len(counted) == 3 and len({c for _, c in counted}) > 1
    expected = sum(a * c for a, c in counted) / sum(c for _, c in counted)
    assert result.history[0]["train/acc"] == pytest.approx(expected, rel=1e-12)
    with open(tmp_path / "run" / "metrics.jsonl") as f:
        steps = [json.loads(line)["iter/acc"] for line in f if "iter/acc" in line]
    assert steps == pytest.approx([a for a, _ in counted], rel=1e-12)


def test_precision_is_float32_unless_amp_is_asked_for_on_cuda(monkeypatch, tmp_path):
    calls = []

    def bf16(answer):
        def is_bf16_supported(including_emulation=True):
            calls.append(including_emulation)
            return answer
        return is_bf16_supported

    monkeypatch.setattr(torch.cuda, "device", lambda device: contextlib.nullcontext())
    cuda = torch.device("cuda", 0)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16(True))
    assert autocast_dtype(False, cuda) is None
    assert autocast_dtype(True, torch.device("cpu")) is None
    assert autocast_dtype(True, cuda) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", bf16(False))
    assert autocast_dtype(True, cuda) == torch.float16
    assert calls == [False, False]  # emulated bfloat16 (slow) does not count
    assert precision_name(None) == "float32"
    assert precision_name(torch.bfloat16) == "bfloat16 autocast"
    assert precision_name(torch.float16) == "float16 autocast + gradient scaling"
    assert TrainConfig().amp is False
    # on the CPU an AMP request trains in float32 without a gradient scaler
    data = TopDownTrainingSet(_records(tmp_path, 2), COCO, INPUT, AugmentConfig.none())
    trainer = Trainer(_model(), data, TrainConfig(epochs=1, batch_size=2, workers=0, amp=True,
                                                  progress=False), tmp_path / "run",
                      device="cpu")
    assert trainer.precision == "float32" and not trainer.scaler.is_enabled()
    assert trainer.meta["precision"] == "float32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("bf16", [True, False])
def test_amp_training_steps_on_cuda(tmp_path, monkeypatch, bf16):
    """On a GPU, --amp trains in bfloat16 where the GPU has it natively, else float16 with a
    gradient scaler; the losses stay finite and the weights change."""
    if not bf16:
        monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: False)
    elif not torch.cuda.is_bf16_supported(including_emulation=False):
        pytest.skip("this GPU has no native bfloat16")
    data = TopDownTrainingSet(_records(tmp_path, 4), COCO, INPUT, AugmentConfig())
    losses = []
    model = _model()
    before = [p.detach().clone() for p in model.parameters()]
    trainer = Trainer(model, data, TrainConfig(epochs=1, batch_size=2, workers=0, amp=True,
                                               progress=False, lr=1e-3),
                      tmp_path / "run", on_step=lambda e, s, loss: losses.append(loss),
                      device="cuda")
    assert trainer.precision == ("bfloat16 autocast" if bf16 else
                                 "float16 autocast + gradient scaling")
    assert trainer.scaler.is_enabled() == (not bf16)
    trainer.fit()
    assert len(losses) == 2 and all(np.isfinite(losses))
    after = list(model.parameters())
    assert any(not torch.equal(a.detach().cpu(), b) for a, b in zip(after, before))
