"""List the pose presets and the published checkpoints.

    python -m pose presets
    python -m pose checkpoints [--dataset coco|posetrack18|mpii|crowdpose|aic]
"""
from __future__ import annotations

import argparse
import sys
from typing import List, Optional

from .registry import get_preset, list_presets
from .zoo import get_published, list_published


def _print_presets() -> None:
    print(f"{'preset':26s} {'input HxW':>10s} {'joints':>6s}  default weights")
    for name in list_presets():
        p = get_preset(name)
        print(f"{name:26s} {p.input_size[0]:>5d}x{p.input_size[1]:<4d} {p.num_joints:>6d}  "
              f"{p.default_weights or '-'}")
    print("\nAlso: any hrnet_w<N> and pose_resnet_<18|34|50|101|152> (COCO 256x192).")


def _print_published(dataset: Optional[str]) -> None:
    print(f"{'checkpoint':40s} {'input':>8s} {'J':>3s} {'format':>10s} {'ch':>3s}  reported")
    for name in list_published(dataset):
        c = get_published(name)
        metrics = "; ".join(f"{what} {value:.1f}" for what, value in c.metrics)
        print(f"{name:40s} {c.input_size[0]:>4d}x{c.input_size[1]:<3d} {c.num_joints:>3d} "
              f"{c.format:>10s} {c.color:>3s}  {metrics}")
    print("\nLoad with pose.pretrained(NAME) or pose.load_checkpoint(model, NAME | URL | PATH). "
          "'official' files have no direct link: download them from the official repositories' "
          "Google Drive folders and pass the path.")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pose", description="List presets and "
                                     "published checkpoints.")
    sub = parser.add_subparsers(dest="what", required=True)
    sub.add_parser("presets", help="architecture presets")
    checkpoints = sub.add_parser("checkpoints", help="published checkpoints")
    checkpoints.add_argument("--dataset", choices=["coco", "posetrack18", "mpii", "crowdpose",
                                                   "aic"])
    args = parser.parse_args(argv)
    if args.what == "presets":
        _print_presets()
    else:
        _print_published(args.dataset)
    return 0


if __name__ == "__main__":
    sys.exit(main())
