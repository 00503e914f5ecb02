"""Training logs: a CSV file always, TensorBoard as well when it is installed.

``metrics.csv`` has one row per value: ``epoch, iteration, name, value`` (names such as
``train/loss``, ``train/lr``, ``val/AP``), so that validation columns need not be known in advance
and a resumed run simply appends.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Mapping

FIELDS = ("epoch", "iteration", "name", "value")


class MetricsLog:
    """Appends to ``<folder>/metrics.csv`` (and ``<folder>/tensorboard`` if available).

    Args:
        folder: output folder.
        resume_epoch: drop rows of epochs after this one (an interrupted epoch that is redone);
            None starts a new file.
        tensorboard: also write TensorBoard events when ``torch.utils.tensorboard`` imports.
    """

    def __init__(self, folder: Path, resume_epoch: int = None, tensorboard: bool = True) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "metrics.csv"
        kept = []
        if resume_epoch is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["epoch"]) <= resume_epoch]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        self.writer = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # tensorboard is optional
                SummaryWriter = None
            if SummaryWriter is not None:
                self.writer = SummaryWriter(str(folder / "tensorboard"))

    def log(self, epoch: int, iteration: int, values: Mapping[str, float]) -> None:
        with open(self.path, "a", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            for name, value in values.items():
                writer.writerow({"epoch": epoch, "iteration": iteration, "name": name,
                                 "value": repr(float(value))})
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, float(value), iteration)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
