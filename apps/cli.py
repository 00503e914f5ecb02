"""``hrtrack``: one command for every tool of the project.

    hrtrack track VIDEO [VIDEO ...|FOLDER] [options]    hrtrack evaluate coco|posetrack18|mot ...
    hrtrack webcam [--camera 0|URL|FILE] [options]     hrtrack train coco|posetrack18 ...
    hrtrack models                                      hrtrack COMMAND --help

Each command hands the rest of the command line to its tool's ``main(argv)``, imported only when
the command runs (so ``hrtrack --help`` answers at once). ``python -m apps.cli`` is the same
command. The commands report a problem the user can fix as one ``error:`` line with exit code 2
(:func:`pose.errors.report_errors`).
"""
from __future__ import annotations

import contextlib
import importlib
import sys
from dataclasses import dataclass
from typing import Dict, Iterator, List, Optional, Union


@dataclass(frozen=True)
class Command:
    """A subcommand: ``module.function(argv) -> exit code``, imported when it runs."""

    module: str
    summary: str
    function: str = "main"

    def run(self, prog: str, argv: List[str]) -> int:
        main = getattr(importlib.import_module(self.module), self.function)
        with _program_name(prog):
            return main(argv)


COMMANDS: Dict[str, Union[Command, Dict[str, Command]]] = {
    "track": Command("apps.track_video", "track everyone in videos: rendered video + "
                                         "PoseTrack18 JSON each"),
    "webcam": Command("apps.webcam", "live tracking from a camera, a stream or a video file"),
    "models": Command("apps.cli", "pose models and detectors: input sizes, where the weights "
                                  "come from", "list_models"),
    "evaluate": {
        "coco": Command("benchmarks.coco.evaluate", "COCO keypoint AP of a pose model"),
        "posetrack18": Command("benchmarks.posetrack18.evaluate",
                               "PoseTrack18 AP and MOTA of prediction files (poseval's numbers)"),
        "mot": Command("benchmarks.mot.run", "track MOTChallenge sequences (boxes alone) and "
                                             "score MOTA, IDF1"),
    },
    "posetrack18-run": Command("benchmarks.posetrack18.run", "the whole system over a "
                                                             "PoseTrack18 split, scored"),
    "retrack": Command("tracker.retrack", "re-assign the track ids of PoseTrack18 prediction "
                                          "files"),
    "finalize": Command("apps.posetrack_json", "write the JSON of a killed run from its "
                                               ".partial.jsonl"),
    "export": Command("pose.export", "export a pose network to ONNX and check it"),
    "train": {
        "coco": Command("benchmarks.coco.train", "train on COCO keypoints (official recipes)"),
        "posetrack18": Command("benchmarks.posetrack18.finetune",
                               "fine-tune on PoseTrack18 from COCO weights"),
    },
    "speed": Command("benchmarks.speed", "how fast hrtrack runs on this machine"),
}

PROG = "hrtrack"


@contextlib.contextmanager
def _program_name(prog: str) -> Iterator[None]:
    """``sys.argv[0]`` set to ``prog`` (``hrtrack track``), which argparse shows as the usage's
    program name."""
    saved = sys.argv[0] if sys.argv else None
    if sys.argv:
        sys.argv[0] = prog
    else:
        sys.argv.append(prog)
    try:
        yield
    finally:
        if saved is None:
            sys.argv.pop(0)
        else:
            sys.argv[0] = saved


def _listing(commands: Dict[str, Union[Command, Dict[str, Command]]], prefix: str = "") -> str:
    rows = []
    for name, entry in commands.items():
        kinds = entry.items() if isinstance(entry, dict) else [("", entry)]
        for kind, command in kinds:
            rows.append((f"{prefix}{name} {kind}".strip(), command.summary))
    width = max(len(name) for name, _ in rows) + 2
    return "\n".join(f"  {name:{width}s}{summary}" for name, summary in rows)


def help_text() -> str:
    return (f"usage: {PROG} COMMAND [ARGS ...]\n\n"
            "Top-down multi-person pose estimation and tracking in videos (HRNet, "
            "SimpleBaseline).\n\n"
            f"commands:\n{_listing(COMMANDS)}\n\n"
            f"'{PROG} COMMAND --help' shows the options of a command.")


def main(argv: Optional[List[str]] = None) -> int:
    """Runs ``hrtrack COMMAND [KIND] ARGS``; returns the exit code."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(help_text(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    if argv[0] == "--version":
        from importlib.metadata import PackageNotFoundError, version

        try:
            print(f"{PROG} {version('hrtrack')}")
        except PackageNotFoundError:
            print(f"{PROG} (not installed as a package)")
        return 0
    name, rest = argv[0], argv[1:]
    entry = COMMANDS.get(name)
    if entry is None:
        print(f"error: unknown command {name!r}; commands: {', '.join(COMMANDS)} (see "
              f"{PROG} --help)", file=sys.stderr)
        return 2
    if isinstance(entry, Command):
        return entry.run(f"{PROG} {name}", rest)
    if rest[:1] in (["-h"], ["--help"]):
        print(f"usage: {PROG} {name} {{{','.join(entry)}}} [ARGS ...]\n\n"
              f"{_listing(entry, name + ' ')}\n\n'{PROG} {name} KIND --help' shows the options.")
        return 0
    if not rest or rest[0] not in entry:
        given = f"unknown {rest[0]!r}" if rest else "nothing"
        print(f"error: {PROG} {name} takes one of {', '.join(entry)} ({given} given)",
              file=sys.stderr)
        return 2
    return entry[rest[0]].run(f"{PROG} {name} {rest[0]}", rest[1:])


def list_models(argv: Optional[List[str]] = None) -> int:
    """``hrtrack models``: the published pose checkpoints (default first), the architecture
    presets and the person detectors."""
    import argparse

    parser = argparse.ArgumentParser(description="The pose models and person detectors hrtrack "
                                     "can use: names, input sizes, where the weights come from.")
    parser.add_argument("--dataset", choices=("coco", "posetrack18", "mpii", "crowdpose", "aic"),
                        help="only the checkpoints trained on this dataset")
    args = parser.parse_args(argv)

    import detectors
    from pose import zoo
    from pose.registry import get_preset, list_presets

    from .models import DEFAULT_DETECTOR, DEFAULT_POSE_MODEL

    def table(title: str, rows: list, last: str) -> None:
        """``rows``: (name, (height, width), joints, weights source)."""
        print(f"{title}\n  {'name':42s} {'input HxW':>9s} {'joints':>6s}  {last}")
        for name, (height, width), joints, source in rows:
            print(f"  {name:42s} {height:>4d}x{width:<4d} {joints:>6d}  {source}")

    names = sorted(zoo.list_published(args.dataset), key=lambda n: n != DEFAULT_POSE_MODEL)
    entries = [zoo.get_published(name) for name in names]
    table(f"Pose models with published weights (--pose-model NAME; default "
          f"{DEFAULT_POSE_MODEL}):",
          [(e.name + (" (default)" if e.name == DEFAULT_POSE_MODEL else ""), e.input_size,
            e.num_joints, f"downloaded once from {e.url}" if e.url else
            f"by hand from {e.page} (pass the file with --pose-weights)") for e in entries],
          "weights")
    presets = [get_preset(name) for name in list_presets()]
    table("\nArchitecture presets (--pose-model PRESET --pose-weights PATH|URL|NAME):",
          [(p.name, p.input_size, p.num_joints, p.default_weights or "none: pass --pose-weights")
           for p in presets], "default weights")
    print("  also any hrnet_w<N> and pose_resnet_<18|34|50|101|152> (COCO 256x192)")
    print(f"\nPerson detectors (--detector NAME; default {DEFAULT_DETECTOR['cpu']} on CPU, "
          f"{DEFAULT_DETECTOR['cuda']} on CUDA; weights downloaded once, or --detector-weights):")
    print("  " + ", ".join(detectors.list_detectors()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
