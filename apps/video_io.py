"""Video decoding and encoding with PyAV, each in a background thread.

Frames are RGB uint8 arrays ``[H, W, 3]``. :class:`VideoReader` decodes ahead into a small bounded
queue (so the networks never wait on decoding, and memory stays flat on long videos);
:class:`VideoWriter` encodes behind through another bounded queue. Both turn PyAV's errors into
:class:`VideoError` with a message that says what is wrong with which file.
"""
from __future__ import annotations

import os
import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import av
import numpy as np

from pose.errors import BadInputError, UnreadableFileError
from pose.safe_output import claim, partial_name

PathLike = Union[str, Path]
_END = object()


class VideoError(UnreadableFileError):
    """A video that cannot be read or written; the message names the file and the cause."""


def parse_position(text: Optional[str], fps: float) -> Optional[int]:
    """``--start``/``--end`` values: a frame index (``"120"``) or a time in seconds (``"4.5s"``)
    or ``[hh:]mm:ss[.f]``; returns a frame index (None stays None)."""
    if text is None:
        return None
    text = str(text).strip()
    try:
        if text.endswith("s"):
            seconds = float(text[:-1])
        elif ":" in text:
            seconds = 0.0
            for part in text.split(":"):
                seconds = seconds * 60 + float(part)
        else:
            value = int(text)
            if value < 0:
                raise ValueError
            return value
    except ValueError:
        raise BadInputError(f"cannot read the position {text!r}: give a frame index (120), "
                            "seconds (4.5s) or mm:ss") from None
    if seconds < 0:
        raise BadInputError(f"position {text!r} is negative")
    return int(round(seconds * fps))


class VideoReader:
    """Decodes the first video stream of a file (any container and codec PyAV reads).

    Iterating yields ``(index, frame)`` for frames ``start <= index < end`` (frame indices count
    decoded frames from 0); :meth:`timed` yields ``(index, seconds, frame)`` with each frame's
    presentation time from the container (variable frame rates stay exact). Frames before
    ``start`` are decoded and dropped (exact for any stream). If decoding breaks off part-way,
    iteration ends and :attr:`error` tells where and why; frames decoded before that are all
    delivered.

    Args:
        path: video file (or any URL PyAV/FFmpeg opens).
        start, end: frame range (``end`` exclusive; None = to the end).
        prefetch: decoded frames held ahead in the queue.
    """

    def __init__(self, path: PathLike, start: int = 0, end: Optional[int] = None,
                 prefetch: int = 8) -> None:
        self.path = str(path)
        if "://" not in self.path and not Path(self.path).is_file():
            raise VideoError(f"video not found: {self.path}")
        try:
            self._container = av.open(self.path)
        except av.error.FFmpegError as exc:
            raise VideoError(f"cannot open {self.path} as a video ({exc}); is it a video file "
                             "FFmpeg can read?") from None
        if not self._container.streams.video:
            self._container.close()
            raise VideoError(f"{self.path} has no video stream")
        self._stream = self._container.streams.video[0]
        self._stream.thread_type = "AUTO"
        rate = self._stream.average_rate or self._stream.guessed_rate or Fraction(25)
        self.frame_rate: Fraction = Fraction(rate)
        self.time_base: Optional[Fraction] = self._stream.time_base  # of the frames' pts
        self._frames_in_header = int(self._stream.frames or 0)  # read now: invalid once closed
        self.width = int(self._stream.codec_context.width)
        self.height = int(self._stream.codec_context.height)
        self.start, self.end = int(start), end
        self.prefetch = prefetch
        self.frames_read = 0
        self.busy_seconds = 0.0  # time the decoding thread worked
        self.error: Optional[str] = None
        self._queue: "queue.Queue" = queue.Queue(maxsize=max(1, prefetch))
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    @property
    def fps(self) -> float:
        return float(self.frame_rate)

    @property
    def frame_count(self) -> Optional[int]:
        """Frames in the stream according to the container (None when it does not say)."""
        return self._frames_in_header or None

    @property
    def expected_frames(self) -> Optional[int]:
        """Frames the iteration should deliver, when the container tells the total."""
        total = self.frame_count
        end = total if self.end is None else (self.end if total is None else min(self.end, total))
        return None if end is None else max(0, end - self.start)

    def _decode(self) -> None:
        index = 0
        try:
            started = time.perf_counter()
            for frame in self._container.decode(self._stream):
                if self._stop.is_set() or (self.end is not None and index >= self.end):
                    break
                if index >= self.start:
                    rgb = frame.to_ndarray(format="rgb24")
                    seconds = frame.time if frame.time is not None else index / self.fps
                    self.busy_seconds += time.perf_counter() - started
                    self._put((index, float(seconds), rgb))
                    started = time.perf_counter()
                index += 1
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self.error = f"decoding stopped at frame {index} ({exc})"
        finally:
            self._put(_END)

    def _put(self, item) -> None:
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    def __iter__(self) -> Iterator[Tuple[int, np.ndarray]]:
        for index, _, frame in self.timed():
            yield index, frame

    def timed(self) -> Iterator[Tuple[int, float, np.ndarray]]:
        """``(index, seconds, frame)``: the frames with their presentation times (seconds on
        the container's clock; ``index / fps`` for streams without timestamps)."""
        if self._thread is not None:
            raise RuntimeError("a VideoReader can be iterated once")
        self._thread = threading.Thread(target=self._decode, name="video-decode", daemon=True)
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                self.frames_read += 1
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._container.close()

    def __enter__(self) -> "VideoReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _pick_codec(path: Path) -> str:
    if path.suffix.lower() in (".mp4", ".mov", ".mkv", ".m4v") and "libx264" in av.codecs_available:
        return "libx264"
    return "mpeg4"


KEYFRAME_SECONDS = 2.0  # a keyframe (and, in MP4/MOV, a fragment) at least this often


class VideoWriter:
    """Encodes RGB frames into a video file in a background thread.

    While writing, the video grows under its partial name (``out.partial.mp4``, see
    :func:`pose.safe_output.partial_name`), claimed so that a second run writing the same output
    is refused; :meth:`close` finishes it and renames it to ``path``. MP4/MOV outputs are
    fragmented (``frag_keyframe+empty_moov``) with a keyframe every :data:`KEYFRAME_SECONDS` of
    *presentation time* (also when frames are dropped or the rate varies), so the partial file of
    a run that is killed plays up to its last few seconds. Odd frame sizes are padded by one black
    row/column (the encoders need even sizes).

    Args:
        path: the finished video; its folder must exist.
        frame_rate: nominal frames per second (a Fraction keeps e.g. 30000/1001 exact).
        width, height: frame size of the frames that will be written.
        codec: FFmpeg encoder name; default libx264 (mpeg4 when unavailable or for .avi).
        crf: libx264 quality (lower is better).
        queue_size: frames waiting for the encoder.
        time_base: clock of the frame times given to :meth:`write` (e.g. the source video's, so
            that its timing is kept exactly); default ``1 / frame_rate``. libx264 only.
    """

    def __init__(self, path: PathLike, frame_rate: Union[Fraction, float], width: int, height: int,
                 codec: Optional[str] = None, crf: int = 20, queue_size: int = 8,
                 time_base: Optional[Fraction] = None) -> None:
        self.path = Path(path)
        self.partial = partial_name(self.path)
        if not self.path.parent.is_dir():
            raise VideoError(f"cannot write {self.path}: the folder {self.path.parent} does not "
                             "exist")
        rate = Fraction(frame_rate).limit_denominator(100000)
        codec = codec or _pick_codec(self.path)
        self._period = 1 / rate
        self._time_base = Fraction(time_base) if time_base and codec == "libx264" else self._period
        self._first_time: Optional[float] = None
        self._last_pts = -1
        self._last_key: Optional[float] = None
        options = {}
        if self.path.suffix.lower() in (".mp4", ".mov", ".m4v"):
            options["movflags"] = "frag_keyframe+empty_moov"
        options["flush_packets"] = "1"  # to disk as written: a kill loses no buffered data
        self._claim = claim(self.partial, f"--output-video {self.path}")
        try:
            self._container = av.open(str(self.partial), mode="w", options=options)
            self._stream = self._container.add_stream(codec, rate=rate)
            self._stream.codec_context.time_base = self._time_base
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self._claim.release()
            self.partial.unlink(missing_ok=True)
            raise VideoError(f"cannot write the video {self.path} ({exc})") from None
        self.width, self.height = width + width % 2, height + height % 2
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        gop = max(1, int(round(4 * KEYFRAME_SECONDS * float(rate))))  # the encoder's own limit
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(gop),
                                   "bf": "0"}  # no reordering: frames keep their exact times
        else:
            self._stream.bit_rate = max(2_000_000, self.width * self.height * 8)
            self._stream.codec_context.gop_size = gop
        self.frames_written = 0
        self.busy_seconds = 0.0  # time the encoding thread worked
        self.error: Optional[str] = None
        self._queue: "queue.Queue" = queue.Queue(maxsize=max(1, queue_size))
        self._thread = threading.Thread(target=self._encode, name="video-encode", daemon=True)
        self._thread.start()
        self._closed = False

    def _pad(self, frame: np.ndarray) -> np.ndarray:
        h, w = frame.shape[:2]
        if (h, w) == (self.height, self.width):
            return frame
        out = np.zeros((self.height, self.width, 3), np.uint8)
        out[:min(h, self.height), :min(w, self.width)] = frame[:self.height, :self.width]
        return out

    def _timestamp(self, video_frame: av.VideoFrame, seconds: Optional[float]) -> None:
        """Sets the frame's pts (strictly increasing) and forces a keyframe when the last one
        is :data:`KEYFRAME_SECONDS` old."""
        if seconds is None:
            seconds = self.frames_written * float(self._time_base)
        pts = max(int(round(seconds / self._time_base)), self._last_pts + 1)
        self._last_pts = pts
        video_frame.pts, video_frame.time_base = pts, self._time_base
        shown = pts * float(self._time_base)
        if self._last_key is None or shown - self._last_key >= KEYFRAME_SECONDS - 1e-6:
            video_frame.pict_type = av.video.frame.PictureType.I
            self._last_key = shown

    def _encode(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                break
            if self.error:
                continue
            frame, seconds = item
            try:
                started = time.perf_counter()
                video_frame = av.VideoFrame.from_ndarray(self._pad(frame), format="rgb24")
                self._timestamp(video_frame, seconds)
                for packet in self._stream.encode(video_frame):
                    self._container.mux(packet)
                self.frames_written += 1
                self.busy_seconds += time.perf_counter() - started
            except (av.error.FFmpegError, ValueError, OSError) as exc:
                self.error = (f"encoding {self.partial} failed at frame {self.frames_written} "
                              f"({exc})")

    def write(self, frame: np.ndarray, index: Optional[int] = None,
              seconds: Optional[float] = None) -> None:
        """Queues one RGB uint8 frame ``[H, W, 3]`` (blocks while the queue is full).

        Each frame is shown from its time until the next one's: ``seconds`` (on any clock: the
        first frame written is time 0) or ``index`` (the frame's number at the nominal rate, for
        a live camera whose frames are dropped), so the video plays at the real speed. Without
        either, frames follow each other at the nominal rate."""
        if self.error:
            raise VideoError(self.error)
        if seconds is None and index is not None:
            seconds = index * float(self._period)
        if seconds is not None:
            self._first_time = seconds if self._first_time is None else self._first_time
            seconds -= self._first_time
        self._queue.put((np.ascontiguousarray(frame), seconds))

    def close(self, commit: bool = True) -> Path:
        """Encodes what is queued, flushes the encoder and finishes the file; with ``commit``
        (and no encoding error) it is then renamed to :attr:`path`, else it stays at
        :attr:`partial`. Returns where the video is."""
        if self._closed:
            return self.path if self._committed else self.partial
        self._closed, self._committed = True, False
        self._queue.put(_END)
        self._thread.join()
        try:
            if not self.error:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self.error = f"finishing {self.partial} failed ({exc})"
        finally:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError) as exc:
                self.error = self.error or f"finishing {self.partial} failed ({exc})"
        try:
            if commit and not self.error:
                os.replace(self.partial, self.path)
                self._committed = True
        finally:
            self._claim.release()
        return self.path if self._committed else self.partial

    def discard(self) -> None:
        """Stops writing and removes the partial file (a run that failed before its first
        frame)."""
        self.close(commit=False)
        self.partial.unlink(missing_ok=True)

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def count_frames(path: PathLike) -> int:
    """Frames of a video counted by decoding (exact, also for fragmented files)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))
