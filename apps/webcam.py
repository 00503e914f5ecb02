"""Live pose tracking from a camera (or a stream, or a video file standing in for one).

    python apps/webcam.py [--camera 0|URL|FILE] [--output-video OUT.mp4] [--output-json OUT.json]
        [--no-display] [--max-frames N] [model and tracking options as apps/track_video.py]

Frames are captured by OpenCV in a background thread that keeps only the newest one: when
processing is slower than the camera, frames are dropped rather than queued, so what is shown
stays live. A video file given as ``--camera`` is played at its own frame rate, exactly as a
camera would deliver it. Skeletons, ids and the processing rate are shown in a window (``q`` or
Esc quits; Ctrl-C too); ``--no-display`` runs headless.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from pathlib import Path
from typing import Iterator, List, Optional, Tuple

import cv2
import numpy as np

from apps.components import build_components, layout_name
from apps.models import fetch_model_files
from apps.options import add_app_arguments, check_model_options, model_files, parse_app_arguments
from apps.posetrack_json import PoseTrackJsonWriter, partial_path
from apps.frame_loop import Frame, FrameLoop, View, interrupted, open_outputs
from apps.video_io import VideoError, VideoWriter
from pose.errors import report_errors
from pose.safe_output import check_outputs, partial_name

WINDOW = "hrtrack"


class LiveCapture:
    """Captures frames continuously; :meth:`latest` returns the newest frame not yet taken.

    Args:
        source: camera index, stream URL or video file.
        pace: deliver a file's frames no faster than its frame rate (as a camera would);
            False: deliver every frame of a file, as fast as they are taken.
    """

    def __init__(self, source, pace: bool = True) -> None:
        self.source = source
        self._capture = cv2.VideoCapture(source)
        if not self._capture.isOpened():
            what = "camera" if isinstance(source, int) else "camera/stream/file"
            raise VideoError(f"cannot open the {what} {source!r}")
        ok, first = self._capture.read()
        if not ok:
            self._capture.release()
            raise VideoError(f"{source!r} delivers no frames (no camera there, or no decodable "
                             "video)")
        fps = self._capture.get(cv2.CAP_PROP_FPS)
        self.fps = float(fps) if fps and 0 < fps < 1000 else 30.0
        self.width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self.is_file = isinstance(source, str) and Path(source).is_file()
        self.pace = pace and self.is_file
        self._first = first if self.is_file else None  # a camera's would be stale by start()
        self.captured = 0
        self.delivered = 0
        self.ended = False
        self._frame: Optional[Tuple[int, np.ndarray]] = None
        self._fresh = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capture", daemon=True)

    def start(self) -> None:
        """Starts capturing (open first, load the models, then start: nothing is missed)."""
        self._thread.start()

    def _run(self) -> None:
        start = time.perf_counter()
        bgr, self._first = self._first, None
        while not self._stop.is_set():
            if bgr is None:
                ok, bgr = self._capture.read()
                if not ok:
                    break
            if self.pace:  # a file plays at its frame rate
                due = start + self.captured / self.fps
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
            with self._fresh:
                if self.is_file and not self.pace:  # lossless: wait until the frame is taken
                    self._fresh.wait_for(lambda: self._frame is None or self._stop.is_set())
                self._frame = (self.captured, cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
                self.captured += 1
                self._fresh.notify_all()
            bgr = None
        with self._fresh:
            self.ended = True
            self._fresh.notify_all()

    def latest(self, timeout: float = 10.0) -> Optional[Tuple[int, np.ndarray]]:
        """The newest frame ``(index, RGB [H, W, 3])`` not returned before (waits for one);
        None when the source has ended or delivered nothing within ``timeout`` seconds."""
        with self._fresh:
            if self._frame is None and not self.ended:
                self._fresh.wait_for(lambda: self._frame is not None or self.ended, timeout)
            frame, self._frame = self._frame, None
            self._fresh.notify_all()
        if frame is not None:
            self.delivered += 1
        return frame

    @property
    def dropped(self) -> int:
        return self.captured - self.delivered

    def close(self) -> None:
        self._stop.set()
        with self._fresh:
            self._fresh.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        self._capture.release()


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Live pose tracking from a camera.")
    parser.add_argument("--camera", default="0",
                        help="camera index (0), stream URL or video file (default 0)")
    parser.add_argument("--output-video", default=None, help="also record the rendered frames")
    parser.add_argument("--output-json", default=None, help="also write PoseTrack18 JSON")
    parser.add_argument("--no-display", action="store_true", help="headless: no window")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="stop after processing this many frames")
    parser.add_argument("--no-pace", action="store_true",
                        help="read a video file as fast as possible (no frames dropped)")
    add_app_arguments(parser)
    return parse_app_arguments(parser, argv)


def camera_source(text: str):
    """``"0"`` -> camera 0; URLs and files stay strings (a missing file is an error)."""
    if text.isdigit():
        return int(text)
    if "://" not in text and not Path(text).exists():
        raise VideoError(f"--camera {text}: no such camera index, URL or file")
    return text


class Window(View):
    """The live window: every frame is shown; ``q`` or Esc ends the loop."""

    def show(self, index: int, image) -> bool:
        cv2.imshow(WINDOW, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
        return cv2.waitKey(1) & 0xFF not in (ord("q"), 27)


def live_frames(capture: LiveCapture, max_frames: Optional[int]) -> Iterator[Frame]:
    """The capture's newest frames as ``(index, None, frame)`` (their time is the index at the
    camera's rate), up to ``max_frames``, until the source ends."""
    taken = 0
    while max_frames is None or taken < max_frames:
        item = capture.latest()
        if item is None:
            return
        taken += 1
        yield item[0], None, item[1]


def run(args: argparse.Namespace) -> int:
    display = not args.no_display
    if display and sys.platform.startswith("linux") and not os.environ.get("DISPLAY") \
            and not os.environ.get("WAYLAND_DISPLAY"):
        print("no display found: running headless (--no-display)", file=sys.stderr)
        display = False
    check_model_options(args)
    source = camera_source(args.camera)
    outputs = []
    if args.output_json:
        outputs += [("--output-json", args.output_json),
                    ("--output-json", partial_path(args.output_json))]
    if args.output_video:
        outputs += [("--output-video", args.output_video),
                    ("--output-video", partial_name(args.output_video))]
    inputs = [("--camera", source)] if isinstance(source, str) and "://" not in source else []
    check_outputs(outputs, inputs + model_files(args))
    capture = LiveCapture(source, pace=not args.no_pace)
    try:
        fetch_model_files(args)
        components = build_components(args, fps=capture.fps, detect_every=args.detect_every)
        print(f"hrtrack live: {args.camera} ({capture.width}x{capture.height}, "
              f"{capture.fps:.1f} fps) with {components.description}", file=sys.stderr)
        video, json_writer = open_outputs(
            (lambda: VideoWriter(args.output_video, capture.fps, capture.width, capture.height))
            if args.output_video else None,
            (lambda: PoseTrackJsonWriter(args.output_json, f"camera_{args.camera}",
                                         layout_name(components), capture.width,
                                         capture.height, capture.fps))
            if args.output_json else None)
        loop = FrameLoop(components.pipeline, components.keypoint_set, json_writer, video,
                         views=[Window()] if display else [], draw_boxes=args.draw_boxes,
                         caption_rate=True)
        capture.start()
        done = loop.run(live_frames(capture, args.max_frames))
    finally:
        capture.close()
        if display:
            cv2.destroyAllWindows()
    print(f"processed {done.processed} of {capture.captured} captured frames "
          f"({capture.dropped} dropped to stay live) in {done.seconds:.1f} s, "
          f"{len(done.identities)} identities", file=sys.stderr)
    if video is not None and video.error:
        print(f"error: {video.error}", file=sys.stderr)
        return 1
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    return report_errors(lambda: run(args), on_interrupt=interrupted,
                         stop_on_sigterm=True)


if __name__ == "__main__":
    sys.exit(main())
