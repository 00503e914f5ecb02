"""The frame loop of the apps: frames -> pipeline -> JSON, rendered video and views.

Frames come as ``(index, seconds, frame)``: the frame's index in its source, its presentation time
(None: ``index / fps``, a live camera's frames at the nominal rate) and the RGB image ``[H, W, 3]``.
Each frame's tracked people are appended to the JSON writer, its rendering to the video writer and
to the views (a window, a snapshot file) that want it. Ctrl-C ends the loop with every output
finished over the frames done; any other failure keeps the partial files (or removes them when no
frame was done), says what they hold, and propagates.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence, Set, Tuple

import numpy as np

from pose.keypoints import KeypointSet
from pose.safe_output import OutputError

from .pipeline import PoseTrackingPipeline
from .posetrack_json import PoseTrackJsonWriter
from .render import draw_poses
from .video_io import VideoWriter

Frame = Tuple[int, Optional[float], np.ndarray]


class View:
    """Something that shows rendered frames: :meth:`wants` says which, :meth:`show` gets them
    (returning False ends the loop, e.g. the user closed the window)."""

    def wants(self, index: int) -> bool:
        return True

    def show(self, index: int, image: np.ndarray) -> bool:
        raise NotImplementedError


@dataclass
class LoopResult:
    """What the loop did: frames processed, tracked poses over all frames, the identities seen,
    whether Ctrl-C ended it, its wall time (``started`` on ``time.perf_counter``'s clock, to
    the outputs finished) and where the JSON is."""

    processed: int = 0
    people: int = 0
    identities: Set[int] = field(default_factory=set)
    interrupted: bool = False
    started: float = 0.0
    seconds: float = 0.0
    json_path: Optional[Path] = None


def open_outputs(video: Optional[Callable[[], VideoWriter]],
                 json: Optional[Callable[[], PoseTrackJsonWriter]]
                 ) -> Tuple[Optional[VideoWriter], Optional[PoseTrackJsonWriter]]:
    """Opens the video writer, then the JSON writer (each factory may be None); when the JSON
    writer fails, the video's partial file is removed: a run that fails here leaves nothing."""
    writer = video() if video is not None else None
    try:
        return writer, json() if json is not None else None
    except BaseException:
        if writer is not None:
            writer.discard()
        raise


class FrameLoop:
    """Runs frames through ``pipeline`` into the outputs.

    Args:
        pipeline: the pose tracking pipeline (its ``timer`` receives the loop's stages).
        keypoint_set: joint layout of the poses to draw (None: boxes alone).
        json_writer, video: the outputs (either may be None); finished by :meth:`run`.
        views: further consumers of the rendered frames.
        draw_boxes: outline the person boxes (always when there are no poses).
        caption_rate: write the processing rate (frames per second) on the rendered frames.
        progress: a tqdm bar to advance (or None).
        wait_stage: the timer stage of the time spent waiting for the next frame.
        finished: whether the frames that ran are all the source was to give (called at the
            end unless Ctrl-C ended the loop); stored as the JSON's ``info["complete"]``
            (None: not stored).
    """

    def __init__(self, pipeline: PoseTrackingPipeline, keypoint_set: Optional[KeypointSet],
                 json_writer: Optional[PoseTrackJsonWriter] = None,
                 video: Optional[VideoWriter] = None, views: Sequence[View] = (),
                 draw_boxes: bool = False, caption_rate: bool = False, progress=None,
                 wait_stage: str = "decode (wait)",
                 finished: Optional[Callable[["LoopResult"], bool]] = None) -> None:
        self.pipeline, self.keypoint_set = pipeline, keypoint_set
        self.json_writer, self.video, self.views = json_writer, video, list(views)
        self.draw_boxes, self.caption_rate = draw_boxes, caption_rate
        self.progress, self.wait_stage, self.finished = progress, wait_stage, finished
        self.rate = 0.0  # frames per second of the pipeline, smoothed

    def run(self, frames: Iterable[Frame]) -> LoopResult:
        """Processes every frame of ``frames`` (until a view ends the loop or Ctrl-C), then
        finishes the outputs."""
        result = LoopResult(started=time.perf_counter())
        try:
            self._process(iter(frames), result)
        except KeyboardInterrupt:
            result.interrupted = True
        except BaseException as exc:
            self._keep_partial_files(exc, result)
            raise
        finally:
            if self.progress is not None:
                self.progress.close()
        timer = self.pipeline.timer
        if self.video is not None:
            with timer("encode (wait)"):
                self.video.close()
        if self.json_writer is not None:
            complete = (None if self.finished is None
                        else not result.interrupted and self.finished(result))
            result.json_path = self.json_writer.close(complete)
        result.seconds = time.perf_counter() - result.started
        return result

    def _process(self, frames: Iterator[Frame], result: LoopResult) -> None:
        timer = self.pipeline.timer
        waited = time.perf_counter()
        for index, seconds, frame in frames:
            timer.add(self.wait_stage, time.perf_counter() - waited)
            tick = time.perf_counter()
            out = self.pipeline.process(frame, index)
            elapsed = time.perf_counter() - tick
            self.rate = (1.0 / max(elapsed, 1e-6) if self.rate == 0
                         else 0.9 * self.rate + 0.1 / max(elapsed, 1e-6))
            if self.json_writer is not None:
                with timer("json"):
                    self.json_writer.add_frame(index, out.poses, out.boxes, out.track_ids,
                                               seconds)
            views = [view for view in self.views if view.wants(index)]
            image = None
            if self.video is not None or views:
                with timer("render"):
                    outline = self.draw_boxes or out.poses is None  # boxes only
                    image = draw_poses(frame, out.poses, out.track_ids, self.keypoint_set,
                                       out.boxes if outline else None,
                                       text=f"{self.rate:.1f} fps" if self.caption_rate else None)
            if self.video is not None:  # at the frame's time: dropped frames leave gaps
                with timer("encode (wait)"):
                    self.video.write(image, index=index, seconds=seconds)
            tracked = out.track_ids[out.track_ids >= 0]
            result.identities.update(int(t) for t in tracked)
            result.people += len(tracked)
            result.processed += 1
            if self.progress is not None:
                self.progress.update(1)
                self.progress.set_postfix(people=len(tracked), ids=len(result.identities),
                                          refresh=False)
            if not all([view.show(index, image) for view in views]):
                return
            waited = time.perf_counter()

    def _keep_partial_files(self, exc: BaseException, result: LoopResult) -> None:
        """After a failure: the partial files stay with the frames done (none done: removed);
        the finished outputs are untouched. An :class:`OutputError` (a write that failed) is
        raised again as one line saying what is kept."""
        outputs = [w for w in (self.video, self.json_writer) if w is not None]
        if result.processed == 0:
            for writer in outputs:
                writer.discard()
            return
        kept = [str(self.video.close(commit=False))] if self.video is not None else []
        if self.json_writer is not None:
            kept.append(str(self.json_writer.abandon()))
        finals = " and ".join(str(w.path) for w in reversed(outputs))
        what = (f"the run stopped after {result.processed} frames: {' and '.join(kept)} hold "
                f"them; {finals} {'were' if len(outputs) > 1 else 'was'} not changed")
        if isinstance(exc, OutputError):  # one line: the write that failed, then what is kept
            raise OutputError(f"{exc} ({what})") from None
        print(what, file=sys.stderr)


def interrupted() -> int:
    """Ctrl-C (or ``kill``) outside the frame loop (which finishes the outputs itself), e.g.
    while the models load: exit code 130."""
    print("interrupted", file=sys.stderr)
    return 130
