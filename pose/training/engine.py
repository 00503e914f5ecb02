"""The training loop: optimiser, schedule, precision, DDP, validation, checkpoints, logs.

One process (CPU or one GPU) or many through ``torchrun`` (see :mod:`.distributed`): each process
reads its share of every epoch through a ``DistributedSampler`` (also with one process, so the
sample order depends only on the seed and the epoch), gradients are averaged by
DistributedDataParallel, and rank 0 alone validates, logs and writes checkpoints.

Precision: float32 as the published runs; ``amp`` turns on mixed precision on CUDA (bfloat16
where the GPU has it natively, else float16 with gradient scaling, see :func:`autocast_dtype`).

Logs: every iteration the loss and the official training accuracy (:func:`.metrics.accuracy`,
counted over the global batch of all processes) are shown on the progress bar and, every
``log_interval`` iterations, written as ``iter/loss``, ``iter/acc``, ``iter/lr``; every epoch
writes ``train/loss`` (mean of the iterations), ``train/acc`` (the official running average:
the iterations' accuracies weighted by their counted joints), ``train/lr``, ``train/seconds`` and
the validation values ``val/...`` (:mod:`.metrics_log`: CSV, JSON lines, TensorBoard).

Reproducibility: the sample order comes from ``(seed, epoch)``, each sample's augmentation from
``(seed, epoch, index)`` (:class:`.dataset.TopDownTrainingSet`), and ``last.pt`` is written after
every epoch with the model, optimiser, scheduler, gradient scaler, epoch and RNG states; resuming
from it redoes an interrupted epoch exactly, so on the CPU an interrupted and resumed run ends
with the same weights, bit for bit, as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import math
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler
from tqdm import tqdm

from ..errors import BadInputError
from .state import TrainingState, load_training_state, rng_state, save_atomic, set_rng_state
from .distributed import DistributedContext
from .loss import build_loss
from .metrics import accuracy_from_counts, joint_hits
from .metrics_log import MetricsLog
from .schedule import WarmupMultiStepLR

# evaluate(model in eval mode, epoch) -> metrics, e.g. {"AP": 0.71, ...}; larger is better.
Evaluator = Callable[[nn.Module, int], Mapping[str, float]]
StepCallback = Callable[[int, int, float], None]
# Settings a resumed run may change without breaking the exact continuation.
RESUMABLE_CHANGES = ("epochs", "workers", "val_interval", "log_interval", "progress")
# The official accuracy's threshold (tenths of the heatmap size).
ACCURACY_THRESHOLD = 0.5


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings; defaults are the official HRNet COCO ones.

    Attributes:
        epochs: epochs to train (official HRNet ``END_EPOCH`` 210).
        batch_size: persons per step and process (official ``BATCH_SIZE_PER_GPU`` 32).
        optimizer: ``"adam"`` (official) or ``"sgd"``.
        lr: base learning rate.
        weight_decay: L2 penalty (the official Adam runs use none, although their files list
            ``WD: 0.0001``: the official code passes it to SGD only).
        momentum, nesterov: SGD only.
        lr_steps: epochs (0-based) at which the rate is multiplied by ``lr_factor`` (the
            official ``LR_STEP: [170, 200]`` is ``(169, 199)``, see :mod:`.schedule`).
        lr_factor: decay factor.
        warmup_iters: linear warm-up length in iterations (0: none; mmpose: 500).
        warmup_ratio: warm-up starting fraction (mmpose: 0.001).
        use_target_weight: weight the loss by the joints' visibility.
        ohkm: online hard keypoint mining (the ``ohkm_topk`` worst joints per person).
        grad_clip: clip the gradients' global L2 norm to this (None: no clipping).
        amp: mixed precision on CUDA (bfloat16 autocast where the GPU supports it, else
            float16 autocast with gradient scaling; the CPU trains in float32 regardless):
            faster, but not how the published models were trained (float32).
        sync_bn: synchronised BatchNorm across processes (GPUs only).
        freeze_bn: BatchNorm layers use and keep their running statistics.
        workers: data-loading processes per training process.
        shuffle: shuffle the samples every epoch.
        seed: seed of the sample order and augmentation.
        val_interval: validate every this many epochs and after the last (0: only after the
            last; validation needs an evaluator); the official code and mmpose: every epoch.
        log_interval: write the iteration values (``iter/loss``, ``iter/acc``, ``iter/lr``) to
            the logs every this many iterations (0: never; official ``PRINT_FREQ`` 100, mmpose
            50).
        progress: tqdm progress bars and a line per epoch (rank 0).
    """

    epochs: int = 210
    batch_size: int = 32
    optimizer: str = "adam"
    lr: float = 1e-3
    weight_decay: float = 0.0
    momentum: float = 0.9
    nesterov: bool = False
    lr_steps: Tuple[int, ...] = (169, 199)
    lr_factor: float = 0.1
    warmup_iters: int = 0
    warmup_ratio: float = 0.001
    use_target_weight: bool = True
    ohkm: bool = False
    ohkm_topk: int = 8
    grad_clip: Optional[float] = None
    amp: bool = False
    sync_bn: bool = False
    freeze_bn: bool = False
    workers: int = 4
    shuffle: bool = True
    seed: int = 0
    val_interval: int = 1
    log_interval: int = 100
    progress: bool = True

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be positive, got {self.epochs}, "
                             f"{self.batch_size}")
        if self.optimizer not in ("adam", "sgd"):
            raise ValueError(f"optimizer must be 'adam' or 'sgd', got {self.optimizer!r}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.val_interval < 0 or self.log_interval < 0:
            raise ValueError(f"val_interval and log_interval must be 0 or positive, got "
                             f"{self.val_interval}, {self.log_interval}")


@dataclass
class TrainResult:
    """What a run did: epochs completed, per-epoch history (``epoch``, ``train/loss``,
    ``train/lr``, ``val/...``), the best validation value and the checkpoint files."""

    epochs: int
    history: List[Dict[str, float]] = field(default_factory=list)
    best: Optional[Dict[str, float]] = None
    last_checkpoint: Optional[Path] = None
    best_checkpoint: Optional[Path] = None


def autocast_dtype(amp: bool, device: torch.device) -> Optional[torch.dtype]:
    """The autocast type of a run: None (float32) without ``amp`` or off CUDA; with ``amp`` on
    CUDA ``torch.bfloat16`` where the device supports it natively
    (``torch.cuda.is_bf16_supported``, emulation not counted), else ``torch.float16`` (which
    needs gradient scaling)."""
    device = torch.device(device)
    if not amp or device.type != "cuda":
        return None
    with torch.cuda.device(device):
        native_bf16 = torch.cuda.is_bf16_supported(including_emulation=False)
    return torch.bfloat16 if native_bf16 else torch.float16


def precision_name(dtype: Optional[torch.dtype]) -> str:
    """``"float32"``, ``"bfloat16 autocast"`` or ``"float16 autocast + gradient scaling"``."""
    if dtype is None:
        return "float32"
    if dtype == torch.float16:
        return "float16 autocast + gradient scaling"
    return f"{str(dtype).replace('torch.', '')} autocast"


def _make_optimizer(params, config: TrainConfig) -> torch.optim.Optimizer:
    if config.optimizer == "sgd":
        return torch.optim.SGD(params, lr=config.lr, momentum=config.momentum,
                               weight_decay=config.weight_decay, nesterov=config.nesterov)
    return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


def _freeze_batch_norm(model: nn.Module) -> None:
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.eval()


class Trainer:
    """Trains a heatmap network on a :class:`.dataset.TopDownTrainingSet`.

    Args:
        model: network from :func:`pose.build_model` (its ``preset`` is stored in checkpoints).
        train_set: training dataset (items ``(input, target, target_weight)``; a ``set_epoch``
            method, if present, is called every epoch).
        config: optimisation settings.
        output_dir: where ``last.pt``, ``best.pt`` and ``metrics.csv`` go.
        evaluate: validation callable (rank 0 only), see ``Evaluator``.
        metric: the key of ``evaluate``'s result that selects the best checkpoint.
        device: default: ``cuda:<local rank>`` when available, else the CPU.
        meta: extra JSON-like data stored in every checkpoint (e.g. the recipe).
        on_step: called as ``on_step(epoch, step, loss)`` after every step (loss averaged over
            processes).
    """

    def __init__(self, model: nn.Module, train_set, config: TrainConfig,
                 output_dir: Union[str, Path], *, evaluate: Optional[Evaluator] = None,
                 metric: str = "AP", device: Optional[Union[str, torch.device]] = None,
                 meta: Optional[dict] = None, on_step: Optional[StepCallback] = None) -> None:
        self.context = DistributedContext.current()
        self.device = torch.device(device) if device is not None else \
            self.context.default_device()
        self.config = config
        self.output_dir = Path(output_dir)
        self.evaluate, self.metric = evaluate, metric
        self.on_step = on_step
        self.train_set = train_set
        preset = getattr(model, "preset", None)
        self.amp_dtype = autocast_dtype(config.amp, self.device)
        self.use_amp = self.amp_dtype is not None
        self.precision = precision_name(self.amp_dtype)
        self.meta = {"preset": dataclasses.asdict(preset) if preset is not None else None,
                     "train": dataclasses.asdict(config), "precision": self.precision,
                     **(meta or {})}
        if config.sync_bn and self.context.distributed:
            if self.device.type != "cuda":
                raise BadInputError("sync_bn needs GPUs (PyTorch's SyncBatchNorm does not run "
                                    "on the CPU)")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        self.model = model.to(self.device)
        self.criterion = build_loss(config.use_target_weight, config.ohkm, config.ohkm_topk)
        self.sampler = DistributedSampler(train_set, num_replicas=self.context.world_size,
                                          rank=self.context.rank, shuffle=config.shuffle,
                                          seed=config.seed)
        self.loader = DataLoader(train_set, batch_size=config.batch_size, sampler=self.sampler,
                                 num_workers=config.workers,
                                 pin_memory=self.device.type == "cuda")
        if len(self.loader) == 0:
            raise BadInputError("the training set is empty")
        self.optimizer = _make_optimizer(self.model.parameters(), config)
        self.scheduler = WarmupMultiStepLR(self.optimizer, config.lr_steps, len(self.loader),
                                           config.lr_factor, config.warmup_iters,
                                           config.warmup_ratio)
        # float16 needs gradient scaling; bfloat16 has float32's range and does not
        self.scaler = torch.amp.GradScaler("cuda", enabled=self.amp_dtype == torch.float16)
        self.network = (DistributedDataParallel(
            self.model, device_ids=[self.device] if self.device.type == "cuda" else None)
            if self.context.distributed else self.model)

    # --- training states ---------------------------------------------------------------------
    def _state(self, epoch: int, best: Optional[dict]) -> TrainingState:
        return {"state_dict": self.model.state_dict(), "optimizer": self.optimizer.state_dict(),
                "scheduler": self.scheduler.state_dict(),
                "scaler": self.scaler.state_dict() if self.scaler.is_enabled() else None,
                "epoch": epoch, "best": best, "rng": rng_state(), "meta": self.meta}

    def _restore(self, path: Union[str, Path]) -> Tuple[int, Optional[dict]]:
        state = load_training_state(path)
        saved = (state.get("meta") or {}).get("train") or {}
        changed = sorted(k for k, v in dataclasses.asdict(self.config).items()
                         if k not in RESUMABLE_CHANGES and k in saved
                         and _plain(saved[k]) != _plain(v))
        if changed:
            warnings.warn(f"resuming {path} with other settings than it was trained with "
                          f"({', '.join(changed)}): the schedule keeps the saved ones and the run "
                          "is not an exact continuation", stacklevel=3)
        self.model.load_state_dict(state["state_dict"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler.is_enabled() and state.get("scaler"):
            self.scaler.load_state_dict(state["scaler"])
        if state.get("rng"):
            set_rng_state(state["rng"])
        return int(state["epoch"]), state.get("best")

    # --- one epoch ---------------------------------------------------------------------------
    def _batch_accuracy(self, output: torch.Tensor, target: torch.Tensor) -> Tuple[float, int]:
        """The official accuracy ``(average, count)`` of the global batch: per-joint counts of
        every process added up (:func:`.metrics.accuracy_from_counts`)."""
        hits, counted, _ = joint_hits(output.detach().float().cpu().numpy(), target.numpy(),
                                      ACCURACY_THRESHOLD)
        counts = torch.as_tensor(np.stack([hits, counted]), device=self.device)
        counts = self.context.sum(counts).cpu().numpy()
        _, average, count = accuracy_from_counts(counts[0], counts[1])
        return average, count

    @torch.enable_grad()  # whatever the caller's grad mode (a benchmark may have turned it off)
    def _train_epoch(self, epoch: int, log: Optional[MetricsLog] = None) -> Dict[str, float]:
        """One epoch; returns ``{"train/loss": mean loss, "train/acc": official average
        accuracy}``."""
        config = self.config
        self.sampler.set_epoch(epoch)
        if hasattr(self.train_set, "set_epoch"):
            self.train_set.set_epoch(epoch)
        self.network.train()
        if config.freeze_bn:
            _freeze_batch_norm(self.network)
        total, steps = 0.0, 0
        acc_sum, acc_count = 0.0, 0
        bar = tqdm(self.loader, desc=f"epoch {epoch + 1}/{config.epochs}", unit="step",
                   disable=not (config.progress and self.context.is_main), leave=False)
        for step, (inputs, target_cpu, weight) in enumerate(bar):
            rate = self.optimizer.param_groups[0]["lr"]
            inputs = inputs.to(self.device, non_blocking=True)
            target = target_cpu.to(self.device, non_blocking=True)
            weight = weight.to(self.device, non_blocking=True)
            with torch.autocast(device_type=self.device.type, dtype=self.amp_dtype,
                                enabled=self.use_amp):
                output = self.network(inputs)
            loss = self.criterion(output.float(), target, weight)
            if not torch.isfinite(loss):
                raise FloatingPointError(f"the loss is {loss.item()} at epoch {epoch + 1}, step "
                                         f"{step + 1}: lower the learning rate or enable "
                                         "gradient clipping")
            self.optimizer.zero_grad(set_to_none=True)
            self.scaler.scale(loss).backward()
            if config.grad_clip is not None:
                self.scaler.unscale_(self.optimizer)
                nn.utils.clip_grad_norm_(self.model.parameters(), config.grad_clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
            self.scheduler.step()
            value = float(self.context.mean(loss.detach()))
            total, steps = total + value, steps + 1
            acc, count = self._batch_accuracy(output, target_cpu)
            acc_sum, acc_count = acc_sum + acc * count, acc_count + count
            bar.set_postfix(loss=f"{value:.3g}",
                            acc=f"{acc_sum / acc_count if acc_count else 0:.3f}",
                            lr=f"{rate:.2e}")
            if log is not None and config.log_interval and (step + 1) % config.log_interval == 0:
                log.log(epoch + 1, epoch * len(self.loader) + step + 1,
                        {"iter/loss": value, "iter/acc": acc, "iter/lr": rate})
            if self.on_step is not None:
                self.on_step(epoch, step, value)
        bar.close()
        return {"train/loss": total / max(steps, 1),
                "train/acc": acc_sum / acc_count if acc_count else 0.0}

    def _validate(self, epoch: int) -> Dict[str, float]:
        metrics: Dict[str, float] = {}
        if self.context.is_main:
            self.model.eval()
            with torch.no_grad():
                metrics = {k: float(v) for k, v in self.evaluate(self.model, epoch).items()}
            self.model.train()
            if self.metric not in metrics:
                raise KeyError(f"the evaluator returned {sorted(metrics)} but not the metric "
                               f"{self.metric!r} that selects the best checkpoint")
        self.context.barrier()
        return metrics

    def _due_for_validation(self, epoch: int) -> bool:
        interval = self.config.val_interval
        last = epoch + 1 == self.config.epochs
        return self.evaluate is not None and (last or (interval > 0 and (epoch + 1) % interval
                                                       == 0))

    # --- the run -----------------------------------------------------------------------------
    def fit(self, resume: Optional[Union[str, Path]] = None) -> TrainResult:
        """Trains until ``config.epochs``; ``resume``: a ``last.pt`` to continue from."""
        start, best = self._restore(resume) if resume is not None else (0, None)
        result = TrainResult(start, best=best, last_checkpoint=self.output_dir / "last.pt")
        if (self.output_dir / "best.pt").is_file() and best is not None:
            result.best_checkpoint = self.output_dir / "best.pt"
        log = MetricsLog(self.output_dir, start if resume is not None else None) \
            if self.context.is_main else None
        iters = len(self.loader)
        try:
            for epoch in range(start, self.config.epochs):
                began = time.perf_counter()
                row = self._train_epoch(epoch, log)
                row.update({"train/lr": self.scheduler.get_last_lr()[0],
                            "train/seconds": time.perf_counter() - began})
                if self._due_for_validation(epoch):
                    metrics = self._validate(epoch)
                    row.update({f"val/{k}": v for k, v in metrics.items()})
                    value = metrics.get(self.metric, -math.inf)
                    if self.context.is_main and (best is None or value > best["value"]):
                        best = {"metric": self.metric, "value": value, "epoch": epoch + 1}
                        save_atomic({"state_dict": self.model.state_dict(), "epoch": epoch + 1,
                                     "metrics": metrics, "meta": self.meta},
                                    self.output_dir / "best.pt")
                        result.best_checkpoint = self.output_dir / "best.pt"
                if self.context.is_main:
                    save_atomic(self._state(epoch + 1, best), result.last_checkpoint)
                    log.log(epoch + 1, (epoch + 1) * iters, row)
                    self._print_epoch(epoch, row)
                self.context.barrier()
                result.epochs, result.best = epoch + 1, best
                result.history.append({"epoch": epoch + 1, **row})
        finally:
            if log is not None:
                log.close()
        return result

    def _print_epoch(self, epoch: int, row: Mapping[str, float]) -> None:
        if not self.config.progress:
            return
        values = "  ".join(f"{k} {v:.4g}" for k, v in row.items())
        print(f"epoch {epoch + 1}/{self.config.epochs}  {values}", flush=True)
