"""PoseTrack18 evaluation with the official poseval numbers (AP and MOTA), built in.

    python -m benchmarks.posetrack18.evaluate --gt GT_DIR --pred PRED_DIR [--json OUT.json]
        [--per-sequence]

GT_DIR holds the official per-video PoseTrack18 JSON files, PRED_DIR one prediction file per video
with the same name. Folder paths need no trailing '/'. See :mod:`.poseval` for what is computed.
"""
from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import List, Optional

from pose.errors import report_errors
from pose.safe_output import check_outputs, write_json_atomic

from .poseval import COLUMNS, evaluate_folders


def _fmt(value: float) -> str:
    return f"{value:6.1f}" if not math.isnan(value) else "   nan"


def print_tables(tables) -> None:
    print("Average Precision (AP) metric:")
    print(" ".join(f"{c:>6s}" for c in COLUMNS))
    print(" ".join(_fmt(tables["AP"][c]) for c in COLUMNS))
    print("\nMultiple Object Tracking (MOT) metrics:")
    header = [f"{c:>6s}" for c in COLUMNS] + ["  MOTP", "  Prec", "   Rec"]
    print(" ".join(header))
    values = [_fmt(tables["MOTA"][c]) for c in COLUMNS]
    values += [_fmt(tables[k]["Total"]) for k in ("MOTP", "Prec", "Rec")]
    print(" ".join(values))
    print("(MOTA columns; MOTP, Prec, Rec: Total. MOTP is the matched-pairs MOTP, see "
          "benchmarks/posetrack18/poseval.py)")


def _clean(value: float):
    return None if math.isnan(value) else round(value, 4)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gt", type=Path, required=True, help="folder of GT JSON files")
    parser.add_argument("--pred", type=Path, required=True, help="folder of prediction files")
    parser.add_argument("--json", type=Path, help="write the tables here")
    parser.add_argument("--per-sequence", action="store_true",
                        help="also print AP and MOTA (Total) of each sequence")
    parser.add_argument("--tie-order", choices=["numpy1", "numpy"], default="numpy1",
                        help="order of equal scores in the AP ranking: as poseval under numpy 1.x "
                        "(default, the official numbers) or as the installed numpy")
    args = parser.parse_args(argv)
    return report_errors(lambda: _evaluate(args))


def _evaluate(args: argparse.Namespace) -> int:
    """The evaluation ``main`` asked for: prints (and writes) the tables; returns the exit code."""
    start = time.perf_counter()
    if args.json is not None:  # checked before the work: never over a GT or prediction file
        inputs = [("--gt", p) for p in sorted(args.gt.glob("*.json"))] + \
            [("--pred", p) for p in sorted(args.pred.glob("*.json"))]
        check_outputs([("--json", args.json)], inputs, create_folders=True)
    result = evaluate_folders(args.gt, args.pred, per_sequence=args.per_sequence,
                              progress=sys.stderr.isatty(),
                              legacy_ties=args.tie_order == "numpy1")
    tables = result.tables()
    print(f"{len(result.sequences)} sequences evaluated in {time.perf_counter() - start:.1f} s\n")
    print_tables(tables)
    if result.per_sequence:
        print(f"\n{'sequence':40s} {'frames':>6s} {'AP':>6s} {'MOTA':>6s}")
        for name, row in result.per_sequence.items():
            print(f"{name:40s} {row['frames']:6d} {_fmt(row['AP'])} {_fmt(row['MOTA'])}")
    if args.json:
        out = {k: {c: _clean(v) for c, v in row.items()} for k, row in tables.items()}
        if result.per_sequence:
            out["per_sequence"] = {n: {k: (_clean(v) if isinstance(v, float) else v)
                                       for k, v in row.items()}
                                   for n, row in result.per_sequence.items()}
        write_json_atomic(out, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
