"""Speed and memory of the whole video pipeline (``apps/track_video.py``) on a real video.

    python -m benchmarks.pipeline_speed [--video PATH] [--frames 100] [--pose-model hrnet_w32]
        [--pose-weights PATH] [--device cpu|cuda] [--json OUT.json]

Runs the app as users run it (real ONNX YOLOX detector, the pose network, DIS flow, tracker,
rendering and H.264 encoding) and reports frames/s, the time of every stage per frame, and the
fraction of wall time spent outside the detector and pose-network forwards. Without
``--pose-weights`` the network has random weights (saved to a temporary checkpoint): its speed is
that of the real one. ``--memory`` also compares the peak RSS of a run over ``--frames`` frames
with one over ten times as many (each in its own process).

Stage names: ``decode (wait)`` / ``encode (wait)`` are the time the main loop waited on the
decoding and encoding threads; ``decode (thread)`` / ``encode (thread)`` the time those threads
worked (overlapping the rest).
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import List, Optional

import torch

from benchmarks.shared_data import SHARED_DATA
from pose.inference import ENGINES, resolve_engine

NETWORK_STAGES = ("detect", "network")
DETECTOR = "detectors/yolox_nano_8xb8-300e_humanart-40f6f0d0.onnx"
VIDEO = "videos/mmpose_body3d_demo.mp4"


def random_checkpoint(pose_model: str, folder: Path) -> Path:
    """A checkpoint file of ``pose_model`` with random weights (the app refuses to run without
    weights)."""
    import pose

    path = folder / f"{pose_model}_random.pth"
    torch.manual_seed(0)
    torch.save(pose.build_model(pose_model).state_dict(), path)
    return path


def app_arguments(video: Path, frames: int, folder: Path, pose_model: str, pose_weights: Path,
                  device: str, random_weights: bool = False,
                  pose_backend: str = "auto") -> List[str]:
    """The app's command line; with ``random_weights`` every detected person is tracked
    (``--min-joints 0``: a random network's joint scores are too weak to start tracks, and the
    tracker and flow are part of what is measured)."""
    return [str(video), "--end", str(frames), "--output-video", str(folder / "out.mp4"),
            "--output-json", str(folder / "out.json"), "--quiet", "--detector", "yolox",
            "--detector-weights", str(SHARED_DATA / DETECTOR), "--pose-model", pose_model,
            "--pose-weights", str(pose_weights), "--device", device,
            "--pose-backend", pose_backend,
            *(["--min-joints", "0"] if random_weights else [])]


def pipeline_figures(video: Path, frames: int, pose_model: str, pose_weights: Optional[Path],
                     device: str, pose_backend: str = "auto") -> dict:
    """Runs the app once and returns its figures (see the module doc)."""
    from apps import track_video

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = pose_weights or random_checkpoint(pose_model, folder)
        report: dict = {}
        args = track_video.parse_args(app_arguments(video, frames, folder, pose_model, weights,
                                                    device, random_weights=not pose_weights,
                                                    pose_backend=pose_backend))
        code = track_video.run(args, report)
        if code != 0:
            raise RuntimeError(f"the app failed with exit code {code}")
    n = report["frames"]
    wall = report["seconds"]
    networks = sum(report["stages"].get(k, 0.0) for k in NETWORK_STAGES)
    return {"video": str(video), "frames": n, "pose_model": pose_model, "device": device,
            "pose_backend": resolve_engine(pose_backend, device),
            "frames_per_second": n / wall, "wall_seconds": wall,
            "ms_per_frame": {k: 1000 * v / n for k, v in report["stages"].items()},
            "outside_networks_fraction": 1 - networks / wall,
            "people_per_frame": report["people"] / max(n, 1)}


def peak_rss_bytes() -> int:
    """This process's peak resident memory in bytes: ``VmHWM`` of ``/proc/self/status`` on
    Linux. Not ``getrusage``'s ``ru_maxrss``: Linux carries the parent's peak into a child
    started by fork and exec, so a child of a big process (the speed benchmark, with its models
    and matmul buffers) would report the parent's peak, not its own."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024  # kB
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # macOS: bytes, else kilobytes


def _child_peak_rss(argv: List[str]) -> int:
    """Runs the app in this process and prints its peak RSS (bytes) as JSON."""
    from apps import track_video

    code = track_video.main(argv)
    print(json.dumps({"exit": code, "peak_rss": peak_rss_bytes()}))
    return code


def memory_figures(video: Path, frames: int, pose_model: str, pose_weights: Optional[Path],
                   device: str, pose_backend: str = "auto") -> dict:
    """Peak RSS of a run over ``frames`` frames and over ``10 * frames``, each in a fresh
    process."""
    out = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = pose_weights or random_checkpoint(pose_model, folder)
        for name, count in (("short", frames), ("long", 10 * frames)):
            argv = app_arguments(video, count, folder, pose_model, weights, device,
                                 random_weights=not pose_weights, pose_backend=pose_backend)
            done = subprocess.run([sys.executable, "-m", "benchmarks.pipeline_speed",
                                   "--child", *argv], capture_output=True, text=True)
            if done.returncode != 0:
                raise RuntimeError(f"the {name} run failed: {done.stderr[-2000:]}")
            result = json.loads(done.stdout.strip().splitlines()[-1])
            out[f"{name}_frames"] = count
            out[f"{name}_peak_rss_mb"] = result["peak_rss"] / 2 ** 20
    out["long_over_short"] = out["long_peak_rss_mb"] / out["short_peak_rss_mb"]
    return out


def print_figures(figures: dict) -> None:
    p = figures["pipeline"]
    print(f"pipeline: {p['frames']} frames of {Path(p['video']).name}, {p['pose_model']} on "
          f"{p['device']} ({p['pose_backend']}): {p['frames_per_second']:.2f} frames/s, "
          f"{p['people_per_frame']:.1f} tracked people per frame")
    for stage, ms in p["ms_per_frame"].items():
        print(f"  {stage:18s} {ms:8.1f} ms/frame")
    print(f"  outside the detector and pose-network forwards: "
          f"{100 * p['outside_networks_fraction']:.1f}% of wall time")
    if "memory" in figures:
        m = figures["memory"]
        print(f"memory: peak RSS {m['short_peak_rss_mb']:.0f} MB over {m['short_frames']} frames, "
              f"{m['long_peak_rss_mb']:.0f} MB over {m['long_frames']} "
              f"(x{m['long_over_short']:.3f})")


def main(argv: Optional[List[str]] = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--child"]:
        return _child_peak_rss(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, default=SHARED_DATA / VIDEO)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--pose-model", default="hrnet_w32")
    parser.add_argument("--pose-weights", type=Path, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pose-backend", choices=("auto", *ENGINES),
                        default="auto", help="as the app's (default auto: onnxruntime on CPU "
                        "when installed)")
    parser.add_argument("--memory", action="store_true",
                        help="also compare peak memory of --memory-frames and 10x as many")
    parser.add_argument("--memory-frames", type=int, default=39,
                        help="frames of the short memory run (default 39: the long run then "
                             "covers the 390 of the 399-frame default video)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    figures = {"pipeline": pipeline_figures(args.video, args.frames, args.pose_model,
                                            args.pose_weights, args.device,
                                            args.pose_backend)}
    if args.memory:
        figures["memory"] = memory_figures(args.video, args.memory_frames, args.pose_model,
                                           args.pose_weights, args.device, args.pose_backend)
    print_figures(figures)
    if args.json:
        from pose.safe_output import write_json_atomic

        write_json_atomic(figures, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
