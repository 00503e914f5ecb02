"""Detect, estimate and track everyone in videos; write a rendered video and PoseTrack18 JSON each.

    python apps/track_video.py VIDEO [--output-video OUT.mp4] [--output-json OUT.json]
        [--detector NAME] [--detector-weights PATH] [--pose-model NAME] [--pose-weights PATH]
        [--device cpu|cuda] [--no-flip] [--detect-every K] [--start S] [--end E]
    python apps/track_video.py VIDEO VIDEO ...|FOLDER --output-dir DIR [--overwrite] [options]

Outputs (default: ``<video name>.hrtrack.mp4`` / ``.json`` in the current folder) are written
while the video is processed, under partial names: the video is encoded frame by frame into
``<name>.partial.mp4`` (fragmented MP4, playable even if the run is killed) and the frames'
results are appended to ``<name>.json.partial.jsonl``. At the end, also after Ctrl-C or when the
input breaks off (frames up to that point are kept; the message says where it stopped), the JSON
is written and the video renamed into place. Before any work, every option is checked: an output
that would overwrite an input or another output is refused (see ``docs/safety.md``).

Several videos, or folders of videos, go to ``--output-dir`` (:mod:`apps.video_jobs`): the
models load once, videos whose outputs are complete are skipped (a stopped run resumes where it
was), and under ``torchrun --nproc_per_node=N`` each process takes its share of the videos
(:func:`pose.distributed.shard`) on its own GPU.
"""
from __future__ import annotations

import argparse
import itertools
import sys
import time
from pathlib import Path
from typing import List, Optional

import cv2
from tqdm import tqdm

from apps.components import build_components, layout_name
from apps.models import fetch_model_files
from apps.options import add_app_arguments, check_model_options, model_files, parse_app_arguments
from apps.overlap import DetectAhead
from apps.posetrack_json import PoseTrackJsonWriter, partial_path
from apps.frame_loop import FrameLoop, View, interrupted, open_outputs
from apps.video_io import VideoError, VideoReader, VideoWriter, parse_position
from apps.video_jobs import plan_jobs, several_videos
from pose.distributed import rank_device, rank_info, shard
from pose.errors import BadInputError, report_errors
from pose.safe_output import check_outputs, partial_name, write_bytes_atomic


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Track the poses of everyone in videos (rendered video + PoseTrack18 JSON "
                    "each). Several videos, folders, resuming and torchrun: docs/cli.md.")
    parser.add_argument("videos", nargs="+", metavar="VIDEO",
                        help="input videos (any format FFmpeg/PyAV reads) or folders of videos; "
                             "several need --output-dir")
    parser.add_argument("--output-video", default=None,
                        help="rendered video (default: <video name>.hrtrack.mp4 here)")
    parser.add_argument("--output-json", default=None,
                        help="PoseTrack18-format results (default: <video name>.hrtrack.json)")
    parser.add_argument("--output-dir", default=None, metavar="DIR",
                        help="one output pair per video: DIR/<video name>.json and .mp4 "
                             "(needed for several videos or a folder; under torchrun the "
                             "videos are shared out over the processes)")
    parser.add_argument("--overwrite", action="store_true",
                        help="with --output-dir: also redo the videos whose outputs are complete "
                             "(by default they are skipped, so a stopped run resumes)")
    parser.add_argument("--no-video", action="store_true", help="write only the JSON")
    parser.add_argument("--start", default=None,
                        help="first frame: index (120), seconds (4.5s) or mm:ss")
    parser.add_argument("--end", default=None, help="stop before this frame (same forms)")
    parser.add_argument("--snapshot", default=None, metavar="IMAGE",
                        help="also save one rendered frame as an image (e.g. frame.jpg)")
    parser.add_argument("--snapshot-frame", type=int, default=None, metavar="N",
                        help="the frame index saved by --snapshot (default: the first one "
                             "processed)")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    parser.add_argument("--no-overlap", action="store_true",
                        help="detect each frame in the main loop (by default the next frames "
                             "are decoded and detected in a second thread while this one's "
                             "poses are estimated; the results are the same)")
    add_app_arguments(parser)
    args = parse_app_arguments(parser, argv)
    if args.overwrite and args.output_dir is None:
        parser.error("--overwrite applies to --output-dir (one video's outputs are always "
                     "rewritten)")
    args.video = args.videos[0]
    return args


def default_outputs(args: argparse.Namespace) -> None:
    stem = Path(args.video).stem or "video"
    if args.no_video:
        args.output_video = None
    elif args.output_video is None:
        args.output_video = f"{stem}.hrtrack.mp4"
    if args.output_json is None:
        args.output_json = f"{stem}.hrtrack.json"


def check_options(args: argparse.Namespace, models: bool = True) -> None:
    """Everything that can be checked before the video is opened: model names and files
    (unless ``models`` is False), the snapshot format, and outputs that are writable and
    overwrite no input (nor each other)."""
    if models:
        check_model_options(args)
    if args.snapshot and not cv2.haveImageWriter(args.snapshot):
        raise VideoError(f"--snapshot {args.snapshot}: OpenCV cannot write images of this kind; "
                         "use .png or .jpg")
    outputs = [("--output-json", args.output_json),
               ("--output-json", partial_path(args.output_json)), ("--snapshot", args.snapshot)]
    if args.output_video:
        outputs += [("--output-video", args.output_video),
                    ("--output-video", partial_name(args.output_video))]
    check_outputs(outputs, [("the input video", args.video), *model_files(args)],
                  create_folders=args.output_dir is not None)


def save_image(path: str, image_rgb) -> None:
    ok, data = cv2.imencode(Path(path).suffix, cv2.cvtColor(image_rgb, cv2.COLOR_RGB2BGR))
    if not ok:
        raise VideoError(f"--snapshot {path}: OpenCV could not encode the image")
    write_bytes_atomic(data.tobytes(), path)


class Snapshot(View):
    """``--snapshot``: saves the rendering of frame ``index`` as an image."""

    def __init__(self, path: str, index: int) -> None:
        self.path, self.index, self.saved = path, index, False

    def wants(self, index: int) -> bool:
        return index == self.index

    def show(self, index: int, image) -> bool:
        save_image(self.path, image)
        self.saved = True
        return True


def open_video(args: argparse.Namespace) -> VideoReader:
    """The input video with the ``--start``/``--end`` range, checked to hold frames there (and
    the ``--snapshot-frame``)."""
    reader = VideoReader(args.video)
    reader.start = parse_position(args.start, reader.fps) or 0
    reader.end = parse_position(args.end, reader.fps)
    if reader.end is not None and reader.end <= reader.start:
        raise BadInputError(f"--end ({args.end}) must come after --start ({args.start or 0})")
    if args.snapshot_frame is None:
        args.snapshot_frame = reader.start
    if args.snapshot and not (reader.start <= args.snapshot_frame
                              and (reader.end is None or args.snapshot_frame < reader.end)):
        last = "the end" if reader.end is None else reader.end - 1
        raise BadInputError(f"--snapshot-frame {args.snapshot_frame} is not among the frames "
                            f"to process ({reader.start} to {last})")
    return reader


def track(args: argparse.Namespace) -> int:
    """One video (:func:`run`) or several (:func:`run_jobs`), as the options ask."""
    return run_jobs(args) if several_videos(args) else run(args)


def run_jobs(args: argparse.Namespace) -> int:
    """Tracks every video of the options into ``--output-dir``: all checked first, then this
    process's share (torchrun) of those not complete, one after the other with the models
    loaded once. A video that cannot be read is reported and the next one runs (any other
    error stops the run); the exit code is the worst of the videos' (Ctrl-C stops at once,
    130)."""
    jobs = plan_jobs(args)
    check_model_options(args)
    for job in jobs:
        check_options(job.options(args), models=False)
    info = rank_info()
    mine = shard(jobs, info)
    todo = [job for job in mine if args.overwrite or not job.complete()]
    where = (f" ({len(mine)} for process {info.rank} of {info.world_size})"
             if info.distributed else "")
    print(f"hrtrack: {len(jobs)} videos{where}, {len(mine) - len(todo)} complete already, "
          f"{len(todo)} to track", file=sys.stderr)
    if not todo:
        return 0
    Path(args.output_dir).mkdir(parents=True, exist_ok=True)
    args.device = rank_device(args.device, info)  # one GPU per process
    loaded: dict = {}
    worst = 0
    for number, job in enumerate(todo, 1):
        print(f"[{number}/{len(todo)}] {job.video}", file=sys.stderr)
        try:
            code = run(job.options(args), loaded=loaded)
        except VideoError as exc:  # this video's own problem: the others may run
            print(f"error: {exc}", file=sys.stderr)
            code = 2
        if code == 130:
            return code
        worst = max(worst, code)
    return worst


def run(args: argparse.Namespace, report: Optional[dict] = None,
        loaded: Optional[dict] = None) -> int:
    """Runs the app on ``args.video``; ``report`` (a dict), if given, receives the run's figures:
    ``frames``, ``seconds`` (processing loop wall time), ``load_seconds``, ``stages`` (seconds
    per stage), ``people``, ``identities``. ``loaded`` (a dict), if given, keeps the models
    loaded for the next video: filled on the first call, reused on the others."""
    default_outputs(args)
    check_options(args)
    reader = open_video(args)
    frames = reader.timed()
    first = next(frames, None)
    if first is None:
        reader.close()
        why = f": {reader.error}" if reader.error else ""
        raise VideoError(f"{args.video}: no decodable video frames in the requested range{why}")

    started = time.perf_counter()
    try:
        components = (loaded or {}).get("components")
        if components is None:
            fetch_model_files(args)
            components = build_components(args, fps=reader.fps, detect_every=args.detect_every)
            if loaded is not None:
                loaded["components"] = components
        else:
            components.next_video(reader.fps)
        writer, json_writer = open_outputs(  # the video first: a failure leaves no partial file
            (lambda: VideoWriter(args.output_video, reader.frame_rate, reader.width,
                                 reader.height, time_base=reader.time_base))
            if args.output_video else None,
            lambda: PoseTrackJsonWriter(
                args.output_json, Path(args.video).stem, layout_name(components), reader.width,
                reader.height, reader.fps, reader.frame_count,
                info={"pose_model": args.pose_model, "detector": args.detector,
                      "detect_every": args.detect_every, "flip": not args.no_flip}))
    except BaseException:
        reader.close()
        raise
    pipeline, timer = components.pipeline, components.pipeline.timer
    detector = pipeline.detector  # back in place after the video (a next one may follow)
    source, ahead, wait_stage = itertools.chain([first], frames), None, "decode (wait)"
    if pipeline.detector is not None and not args.no_overlap:  # detect the next frames ahead
        ahead = DetectAhead(source, pipeline.detector, args.detect_every)
        pipeline.detector, source = ahead, iter(ahead)
        wait_stage = "decode + detect (wait)"
    print(f"hrtrack: {args.video} ({reader.width}x{reader.height}, {reader.fps:.2f} fps) with "
          f"{components.description}", file=sys.stderr)
    snapshot = Snapshot(args.snapshot, args.snapshot_frame) if args.snapshot else None
    loop = FrameLoop(pipeline, components.keypoint_set, json_writer, writer,
                     views=[snapshot] if snapshot else [], draw_boxes=args.draw_boxes,
                     progress=tqdm(total=reader.expected_frames, unit="frame",
                                   disable=args.quiet, dynamic_ncols=True),
                     wait_stage=wait_stage,
                     finished=lambda done: not reader.error and not (
                         reader.expected_frames and done.processed < reader.expected_frames))
    try:
        done = loop.run(source)
    finally:
        if ahead is not None:  # before the reader: the worker may be waiting for a frame
            ahead.close()
            pipeline.detector = detector
        reader.close()
    processed, last = done.processed, reader.start + done.processed - 1
    timer.add("decode (thread)", reader.busy_seconds)
    if ahead is not None:
        timer.add("detect (thread)", ahead.busy_seconds)
    if writer is not None:
        timer.add("encode (thread)", writer.busy_seconds)
    expected = reader.expected_frames
    if not done.interrupted and not reader.error and expected and processed < expected:
        reader.error = (f"the stream ended after frame {last} although the file announces "
                        f"{expected} frames")
    if report is not None:
        report.update(frames=processed, seconds=done.seconds,
                      load_seconds=done.started - started, stages=dict(timer.seconds),
                      people=done.people, identities=len(done.identities))
    print(f"{processed} frames in {done.seconds:.1f} s ({processed / max(done.seconds, 1e-9):.2f} "
          f"frames/s; models loaded in {done.started - started:.1f} s), {done.people} tracked "
          f"people over all frames, {len(done.identities)} identities", file=sys.stderr)
    print(f"time per frame: {timer.summary(processed)}", file=sys.stderr)
    video_ok = writer is not None and not writer.error
    print(f"wrote {done.json_path}" + (f" and {args.output_video}" if video_ok else ""),
          file=sys.stderr)
    if writer is not None and writer.error:
        print(f"error: {writer.error}; what was encoded is in {writer.partial}", file=sys.stderr)
        return 1
    if snapshot is not None and not snapshot.saved and not done.interrupted:
        print(f"error: --snapshot-frame {args.snapshot_frame} was not reached (the video ended "
              f"after frame {last}); no snapshot written", file=sys.stderr)
        return 1
    if done.interrupted:
        print(f"interrupted: the outputs hold frames {reader.start}..{last}", file=sys.stderr)
        return 130
    if reader.error:
        print(f"warning: the video broke off: {reader.error}; the outputs hold the "
              f"{processed} frames before that", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return report_errors(lambda: track(args), on_interrupt=interrupted,
                         stop_on_sigterm=True)


if __name__ == "__main__":
    sys.exit(main())
