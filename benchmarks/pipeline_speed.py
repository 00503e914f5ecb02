"""Speed and memory of the whole video pipeline (``apps/track_video.py``) on a real video.

    python -m benchmarks.pipeline_speed [--video PATH] [--frames 100] [--pose-model hrnet_w32]
        [--pose-weights PATH] [--device cpu|cuda] [--pose-backend auto|torch|...] [--loop N]
        [--compare-overlap] [--rounds 2] [--compare-device cpu] [--json OUT.json]
        [-- APP OPTIONS]

Runs the app as users run it (real ONNX YOLOX detector, the pose network, DIS flow, tracker,
rendering and H.264 encoding) and reports frames/s, the time of every stage per frame, and the
fraction of wall time spent outside the detector and pose-network forwards. Without
``--pose-weights`` the network has random weights (saved to a temporary checkpoint): its speed is
that of the real one. ``--memory`` also compares the peak RSS of a run over ``--frames`` frames
with one over ten times as many (each in its own process). Options after ``--`` go to the app
(e.g. ``-- --flow none``).

``--loop N`` runs a video made of N passes over the input, forth and back (a short clip such as
the 8-frame crowd video then gives enough frames to time). ``--compare-overlap`` runs the app
with the detector running ahead in its own thread (the default, :mod:`apps.overlap`) and with
``--no-overlap``, in turns, ``--rounds`` times each: frames/s of both, their ratio (of the
medians), and whether the outputs (boxes, track ids, keypoints) are identical.
``--compare-device cpu`` runs the same frames once more on the CPU and compares the outputs
(identities, keypoints) with the first device's.

Stage names: ``decode (wait)`` / ``encode (wait)`` are the time the main loop waited on the
decoding and encoding threads (``decode + detect (wait)`` when the detector runs ahead);
``decode (thread)`` / ``encode (thread)`` / ``detect (thread)`` the time those threads worked
(overlapping the rest).
"""
from __future__ import annotations

import argparse
import json
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import numpy as np
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
                  pose_backend: str = "auto", extra: Sequence[str] = ()) -> List[str]:
    """The app's command line; with ``random_weights`` every detected person is tracked
    (``--min-joints 0``: a random network's joint scores are too weak to start tracks, and the
    tracker and flow are part of what is measured). ``extra``: more app options."""
    return [str(video), "--end", str(frames), "--output-video", str(folder / "out.mp4"),
            "--output-json", str(folder / "out.json"), "--quiet", "--detector", "yolox",
            "--detector-weights", str(SHARED_DATA / DETECTOR), "--pose-model", pose_model,
            "--pose-weights", str(pose_weights), "--device", device,
            "--pose-backend", pose_backend,
            *(["--min-joints", "0"] if random_weights else []), *extra]


def pipeline_figures(video: Path, frames: int, pose_model: str, pose_weights: Optional[Path],
                     device: str, pose_backend: str = "auto", extra: Sequence[str] = (),
                     keep_json: Optional[Path] = None) -> dict:
    """Runs the app once and returns its figures (see the module doc); ``keep_json``: where
    to copy the app's JSON output."""
    from apps import track_video

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        weights = pose_weights or random_checkpoint(pose_model, folder)
        report: dict = {}
        args = track_video.parse_args(app_arguments(video, frames, folder, pose_model, weights,
                                                    device, random_weights=not pose_weights,
                                                    pose_backend=pose_backend, extra=extra))
        code = track_video.run(args, report)
        if code != 0:
            raise RuntimeError(f"the app failed with exit code {code}")
        if keep_json is not None:
            shutil.copyfile(folder / "out.json", keep_json)
    n = report["frames"]
    wall = report["seconds"]
    networks = sum(report["stages"].get(k, 0.0) for k in NETWORK_STAGES)
    return {"video": str(video), "frames": n, "pose_model": pose_model, "device": device,
            "pose_backend": resolve_engine(pose_backend, device),
            "overlap": "--no-overlap" not in extra, "app_options": list(extra),
            "frames_per_second": n / wall, "wall_seconds": wall,
            "load_seconds": report["load_seconds"],
            "ms_per_frame": {k: 1000 * v / n for k, v in report["stages"].items()},
            "outside_networks_fraction": 1 - networks / wall,
            "people_per_frame": report["people"] / max(n, 1),
            "identities": report["identities"]}


def looped_video(video: Path, passes: int, path: Path) -> Path:
    """Writes ``passes`` passes over ``video``'s frames, forth and back (0..n-1, n-2..1, ...:
    the people keep moving smoothly), to ``path`` (H.264, the video's frame rate)."""
    from apps.video_io import VideoReader, VideoWriter

    reader = VideoReader(video)
    frames = [frame for _, frame in reader]
    if not frames:
        raise ValueError(f"{video}: no frames")
    n = len(frames)
    period = max(2 * (n - 1), 1)
    order = [t % period if t % period < n else period - t % period
             for t in range(n + (passes - 1) * (n - 1))] if n > 1 else [0] * passes
    with VideoWriter(path, reader.frame_rate, reader.width, reader.height) as writer:
        for i in order:
            writer.write(frames[i])
    return path


def _annotations(path: Path) -> Dict[int, List[dict]]:
    """The app's JSON annotations per frame index."""
    data = json.loads(Path(path).read_text())
    frames: Dict[int, List[dict]] = {im["id"]: [] for im in data["images"]}
    for a in data["annotations"]:
        frames[a["image_id"]].append(a)
    return frames


def compare_outputs(a: Path, b: Path) -> dict:
    """How far two runs' JSON outputs agree: ``identical`` (same frames, persons, boxes, track
    ids and keypoints exactly), ``same_persons`` (same number of persons in every frame),
    ``same_track_ids`` (and the same track ids in the same order), the fraction of persons whose
    track id agrees (matched by order), and the median / 95th percentile / largest joint
    distance in pixels between matched persons."""
    ra, rb = _annotations(a), _annotations(b)
    same_persons = ra.keys() == rb.keys() and all(len(ra[k]) == len(rb[k]) for k in ra)
    ids_a = [x["track_id"] for k in sorted(ra) for x in ra[k]]
    ids_b = [x["track_id"] for k in sorted(rb) for x in rb.get(k, [])]
    distances, agree, pairs = [], 0, 0
    for k in sorted(ra.keys() & rb.keys()):
        for x, y in zip(ra[k], rb[k]):
            pa = np.array(x["keypoints"], np.float64).reshape(-1, 3)[:, :2]
            pb = np.array(y["keypoints"], np.float64).reshape(-1, 3)[:, :2]
            distances.append(np.linalg.norm(pa - pb, axis=1))
            agree += x["track_id"] == y["track_id"]
            pairs += 1
    d = np.concatenate(distances) if distances else np.zeros(0)
    identical = same_persons and all(
        x["track_id"] == y["track_id"] and x["bbox"] == y["bbox"]
        and x["keypoints"] == y["keypoints"] for k in ra for x, y in zip(ra[k], rb[k]))
    return {"identical": bool(identical), "same_persons": bool(same_persons),
            "same_track_ids": bool(same_persons and ids_a == ids_b),
            "track_ids_agreeing": agree / max(pairs, 1), "persons_compared": pairs,
            "joint_distance_px_median": float(np.median(d)) if len(d) else 0.0,
            "joint_distance_px_p95": float(np.percentile(d, 95)) if len(d) else 0.0,
            "joint_distance_px_max": float(d.max()) if len(d) else 0.0}


def overlap_figures(video: Path, frames: int, pose_model: str, pose_weights: Optional[Path],
                    device: str, pose_backend: str = "auto", extra: Sequence[str] = (),
                    rounds: int = 2) -> dict:
    """The app with the detector running ahead and with ``--no-overlap``, in turns
    (``rounds`` runs each, in the order AB BA AB ..., so that a machine that slows down or
    speeds up steadily favours neither): frames/s of every run, the ratio of the medians, and
    the comparison of the first runs' outputs (:func:`compare_outputs`)."""
    runs: Dict[str, List[dict]] = {"overlapped": [], "serial": []}
    with tempfile.TemporaryDirectory() as tmp:
        outputs = {name: Path(tmp) / f"{name}.json" for name in runs}
        for r in range(rounds):
            for name in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                options = list(extra) + (["--no-overlap"] if name == "serial" else [])
                keep = outputs[name] if r == 0 else None
                runs[name].append(pipeline_figures(video, frames, pose_model, pose_weights,
                                                   device, pose_backend, options, keep))
                print(f"  {name:10s} {runs[name][-1]['frames_per_second']:.2f} frames/s",
                      flush=True)
        outputs_agree = compare_outputs(outputs["overlapped"], outputs["serial"])
    fps = {name: [f["frames_per_second"] for f in figures] for name, figures in runs.items()}
    return {"rounds": rounds,
            "frames_per_second": fps,
            "speedup_of_medians": statistics.median(fps["overlapped"])
            / statistics.median(fps["serial"]),
            "speedup_per_round": [a / b for a, b in zip(fps["overlapped"], fps["serial"])],
            "outputs": outputs_agree,
            "overlapped": runs["overlapped"][-1], "serial": runs["serial"][-1]}


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


def print_pipeline(p: dict, title: str = "pipeline") -> None:
    print(f"{title}: {p['frames']} frames of {Path(p['video']).name}, {p['pose_model']} on "
          f"{p['device']} ({p['pose_backend']}{', detector ahead' if p['overlap'] else ''}): "
          f"{p['frames_per_second']:.2f} frames/s, {p['people_per_frame']:.1f} tracked people "
          f"per frame, {p['identities']} identities")
    for stage, ms in p["ms_per_frame"].items():
        print(f"  {stage:24s} {ms:8.1f} ms/frame")
    print(f"  outside the detector and pose-network forwards: "
          f"{100 * p['outside_networks_fraction']:.1f}% of wall time")


def print_figures(figures: dict) -> None:
    if "pipeline" in figures:
        print_pipeline(figures["pipeline"])
    if "overlap" in figures:
        o = figures["overlap"]
        print_pipeline(o["overlapped"], "overlapped (last run)")
        print_pipeline(o["serial"], "serial (last run)")
        print(f"overlap: frames/s overlapped {o['frames_per_second']['overlapped']}, serial "
              f"{o['frames_per_second']['serial']}: x{o['speedup_of_medians']:.3f} (medians), "
              f"per round {[round(x, 3) for x in o['speedup_per_round']]}; "
              f"outputs {o['outputs']}")
    if "device_comparison" in figures:
        print(f"against {figures['device_comparison']['device']}: "
              f"{figures['device_comparison']['outputs']}")
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
    parser.add_argument("--loop", type=int, default=1, metavar="N",
                        help="run N passes over the video, forth and back (default 1)")
    parser.add_argument("--pose-model", default="hrnet_w32")
    parser.add_argument("--pose-weights", type=Path, default=None)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--pose-backend", choices=("auto", *ENGINES),
                        default="auto", help="as the app's (default auto: cudagraph on CUDA, "
                        "onnxruntime on CPU when installed)")
    parser.add_argument("--compare-overlap", action="store_true",
                        help="time the app with and without the detector running ahead, in "
                             "turns, and compare their outputs")
    parser.add_argument("--rounds", type=int, default=2,
                        help="runs of each with --compare-overlap (default 2)")
    parser.add_argument("--compare-device", default=None, metavar="DEVICE",
                        help="also run on DEVICE (e.g. cpu) and compare the outputs")
    parser.add_argument("--memory", action="store_true",
                        help="also compare peak memory of --memory-frames and 10x as many")
    parser.add_argument("--memory-frames", type=int, default=39,
                        help="frames of the short memory run (default 39: the long run then "
                             "covers the 390 of the 399-frame default video)")
    parser.add_argument("--json", type=Path, default=None)
    args, extra = parser.parse_known_args(argv)
    extra = [a for a in extra if a != "--"]
    if args.loop < 1 or args.rounds < 1 or args.frames < 1:
        parser.error("--loop, --rounds and --frames must be at least 1")
    with tempfile.TemporaryDirectory() as tmp:
        video = args.video
        if args.loop > 1:
            video = looped_video(args.video, args.loop, Path(tmp) / f"looped{args.video.suffix}")
        common = (args.pose_model, args.pose_weights, args.device, args.pose_backend)
        figures: dict = {}
        if args.compare_overlap:
            figures["overlap"] = overlap_figures(video, args.frames, *common, extra=extra,
                                                 rounds=args.rounds)
        else:
            keep = Path(tmp) / "first.json"
            figures["pipeline"] = pipeline_figures(video, args.frames, *common, extra=extra,
                                                   keep_json=keep)
            if args.compare_device:
                other = Path(tmp) / "other.json"
                pipeline_figures(video, args.frames, args.pose_model, args.pose_weights,
                                 args.compare_device, "auto", extra, other)
                figures["device_comparison"] = {"device": args.compare_device,
                                                "outputs": compare_outputs(keep, other)}
        if args.memory:
            figures["memory"] = memory_figures(video, args.memory_frames, *common)
    print_figures(figures)
    if args.json:
        from pose.safe_output import write_json_atomic

        write_json_atomic(figures, args.json, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
