"""Parameters and GFLOPs of every pose preset, next to the published figures.

    python -m benchmarks.model_complexity [--presets hrnet_w32 pose_resnet_50 ...] [--json OUT]

GFLOPs are counted as the official HRNet repository counts them (multiply-adds of conv, deconv and
linear layers per image / 1024**3, transposed convolutions at their output size; see
:mod:`pose.complexity`). "true" charges transposed convolutions at their input size, i.e. the
multiply-adds really executed.
"""
from __future__ import annotations

import argparse
import sys
from typing import Dict, List, Optional, Tuple

import torch

from pose.safe_output import write_json_atomic
from pose import build_model, list_presets
from pose.complexity import count_complexity

# Published (params, GFLOPs): official HRNet README (which also lists the SimpleBaselines).
PUBLISHED: Dict[str, Tuple[int, float]] = {
    "hrnet_w32": (28_536_113, 7.1),
    "hrnet_w32_384x288": (28_536_113, 16.0),
    "hrnet_w48": (63_595_745, 14.6),
    "hrnet_w48_384x288": (63_595_745, 32.9),
    "pose_resnet_50": (33_999_697, 8.9),
    "pose_resnet_50_384x288": (33_999_697, 20.0),
    "pose_resnet_101": (52_991_825, 12.4),
    "pose_resnet_101_384x288": (52_991_825, 27.9),
    "pose_resnet_152": (68_635_473, 15.7),
    "pose_resnet_152_384x288": (68_635_473, 35.3),
}


def measure(names: List[str]) -> List[dict]:
    rows = []
    for name in names:
        model = build_model(name)
        size = model.preset.input_size
        official = count_complexity(model, size)
        true = count_complexity(model, size, official=False)
        published = PUBLISHED.get(name)
        rows.append({
            "preset": name, "input": f"{size[0]}x{size[1]}", "joints": model.preset.num_joints,
            "params": official.params, "gflops": round(official.gflops, 3),
            "gflops_true": round(true.gflops, 3),
            "published_params": published[0] if published else None,
            "published_gflops": published[1] if published else None,
        })
        del model
    return rows


def print_table(rows: List[dict]) -> None:
    header = (f"{'preset':26s} {'input':>8s} {'J':>3s} {'params':>12s} {'published':>12s} "
              f"{'GFLOPs':>7s} {'published':>9s} {'true':>7s}")
    print(header)
    print("-" * len(header))
    for r in rows:
        pub_p = f"{r['published_params']:,}" if r["published_params"] else "-"
        pub_g = f"{r['published_gflops']:.1f}" if r["published_gflops"] else "-"
        print(f"{r['preset']:26s} {r['input']:>8s} {r['joints']:3d} {r['params']:12,} "
              f"{pub_p:>12s} {r['gflops']:7.2f} {pub_g:>9s} {r['gflops_true']:7.2f}")
    print("\nGFLOPs: multiply-adds per image / 1024^3, deconvolutions at their output size as in "
          "the official count; 'true': deconvolutions at their input size.")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", nargs="+", default=None,
                        help="presets to count (default: all registered presets)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)
    names = args.presets or list_presets()
    try:
        with torch.no_grad():
            rows = measure(names)
    except KeyError as exc:
        parser.error(str(exc.args[0]))
    print_table(rows)
    if args.json:
        write_json_atomic(rows, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
