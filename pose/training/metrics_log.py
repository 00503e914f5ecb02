"""Training logs: a CSV file and a JSON-lines file always, TensorBoard as well when installed.

``metrics.csv`` has one row per value: ``epoch, iteration, name, value`` (names such as
``iter/loss``, ``train/acc``, ``train/lr``, ``val/AP``), so that validation columns need not be
known in advance and a resumed run simply appends. ``metrics.jsonl`` has one JSON object per
logging call: ``{"epoch": 3, "iteration": 3510, "train/loss": ..., "train/acc": ..., ...}``.
``epoch`` is 1-based: the epoch the values belong to (during it, or at its end).
"""
from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Mapping, Optional

FIELDS = ("epoch", "iteration", "name", "value")


def _epoch_of(line: str, unreadable: int) -> int:
    """The epoch of a JSON-lines entry (``unreadable`` for a line cut short by a killed run)."""
    try:
        return int(json.loads(line)["epoch"])
    except (ValueError, KeyError, TypeError):
        return unreadable


class MetricsLog:
    """Appends to ``<folder>/metrics.csv``, ``<folder>/metrics.jsonl`` (and
    ``<folder>/tensorboard`` if available).

    Args:
        folder: output folder.
        resume_epoch: drop rows of epochs after this one (an interrupted epoch that is redone);
            None starts a new file.
        tensorboard: also write TensorBoard events when ``torch.utils.tensorboard`` imports.
    """

    def __init__(self, folder: Path, resume_epoch: Optional[int] = None,
                 tensorboard: bool = True) -> None:
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        self.path = folder / "metrics.csv"
        self.json_path = folder / "metrics.jsonl"
        kept, kept_lines = [], []
        if resume_epoch is not None and self.path.is_file():
            with open(self.path, newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["epoch"]) <= resume_epoch]
        if resume_epoch is not None and self.json_path.is_file():
            with open(self.json_path) as f:
                kept_lines = [line for line in f if _epoch_of(line, resume_epoch + 1)
                              <= resume_epoch]
        with open(self.path, "w", newline="") as f:
            writer = csv.DictWriter(f, FIELDS)
            writer.writeheader()
            writer.writerows(kept)
        with open(self.json_path, "w") as f:
            f.writelines(kept_lines)
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
        with open(self.json_path, "a") as f:
            f.write(json.dumps({"epoch": epoch, "iteration": iteration,
                                **{k: float(v) for k, v in values.items()}}) + "\n")
        if self.writer is not None:
            for name, value in values.items():
                self.writer.add_scalar(name, float(value), iteration)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
