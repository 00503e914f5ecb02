"""Video decoding and encoding with PyAV, each in a background thread.

Frames are RGB uint8 arrays ``[H, W, 3]``. :class:`VideoReader` decodes ahead into a small bounded
queue (so the networks never wait on decoding, and memory stays flat on long videos);
:class:`VideoWriter` encodes behind through another bounded queue. Both turn PyAV's errors into
:class:`VideoError` with a message that says what is wrong with which file.
"""
from __future__ import annotations

import queue
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Iterator, Optional, Tuple, Union

import av
import numpy as np

PathLike = Union[str, Path]
_END = object()


class VideoError(RuntimeError):
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
        raise ValueError(f"cannot read the position {text!r}: give a frame index (120), seconds "
                         "(4.5s) or mm:ss") from None
    if seconds < 0:
        raise ValueError(f"position {text!r} is negative")
    return int(round(seconds * fps))


class VideoReader:
    """Decodes the first video stream of a file (any container and codec PyAV reads).

    Iterating yields ``(index, frame)`` for frames ``start <= index < end`` (frame indices count
    decoded frames from 0). Frames before ``start`` are decoded and dropped (exact for any
    stream). If decoding breaks off part-way, iteration ends and :attr:`error` tells where and
    why; frames decoded before that are all delivered.

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
                    self.busy_seconds += time.perf_counter() - started
                    self._put((index, rgb))
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


class VideoWriter:
    """Encodes RGB frames into a video file in a background thread.

    MP4/MOV outputs are written fragmented (``frag_keyframe+empty_moov``, a keyframe every two
    seconds), so a run that is killed still leaves a playable file of all but the last seconds. Odd frame sizes are padded
    by one black row/column (the encoders need even sizes).

    Args:
        path: output file; its folder must exist.
        frame_rate: frames per second (a Fraction keeps e.g. 30000/1001 exact).
        width, height: frame size of the frames that will be written.
        codec: FFmpeg encoder name; default libx264 (mpeg4 when unavailable or for .avi).
        crf: libx264 quality (lower is better).
        queue_size: frames waiting for the encoder.
    """

    def __init__(self, path: PathLike, frame_rate: Union[Fraction, float], width: int, height: int,
                 codec: Optional[str] = None, crf: int = 20, queue_size: int = 8) -> None:
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise VideoError(f"cannot write {self.path}: the folder {self.path.parent} does not "
                             "exist")
        rate = Fraction(frame_rate).limit_denominator(100000)
        self._time_base = 1 / rate
        self._first_index: Optional[int] = None
        codec = codec or _pick_codec(self.path)
        options = {}
        if self.path.suffix.lower() in (".mp4", ".mov", ".m4v"):
            options["movflags"] = "frag_keyframe+empty_moov"
        try:
            self._container = av.open(str(self.path), mode="w", options=options)
            self._stream = self._container.add_stream(codec, rate=rate)
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            raise VideoError(f"cannot write the video {self.path} ({exc})") from None
        self.width, self.height = width + width % 2, height + height % 2
        self._stream.width, self._stream.height = self.width, self.height
        self._stream.pix_fmt = "yuv420p"
        gop = max(1, int(round(2 * float(rate))))  # a keyframe (and fragment) every 2 s
        if codec == "libx264":
            self._stream.options = {"crf": str(crf), "preset": "veryfast", "g": str(gop)}
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

    def _encode(self) -> None:
        while True:
            item = self._queue.get()
            if item is _END:
                break
            if self.error:
                continue
            frame, index = item
            try:
                started = time.perf_counter()
                video_frame = av.VideoFrame.from_ndarray(self._pad(frame), format="rgb24")
                if index is not None:  # shown from its own time on, until the next one's
                    video_frame.pts, video_frame.time_base = index, self._time_base
                for packet in self._stream.encode(video_frame):
                    self._container.mux(packet)
                self.frames_written += 1
                self.busy_seconds += time.perf_counter() - started
            except (av.error.FFmpegError, ValueError, OSError) as exc:
                self.error = f"encoding {self.path} failed at frame {self.frames_written} ({exc})"

    def write(self, frame: np.ndarray, index: Optional[int] = None) -> None:
        """Queues one RGB uint8 frame ``[H, W, 3]`` (blocks while the queue is full).

        ``index``: the frame's number at the video's frame rate, for sources whose frames are
        not all written (a live camera whose frames are dropped): each frame then keeps its
        time and the video plays at the real speed. Without it, frames follow each other."""
        if self.error:
            raise VideoError(self.error)
        if index is not None:
            self._first_index = index if self._first_index is None else self._first_index
            index -= self._first_index
        self._queue.put((np.ascontiguousarray(frame), index))

    def close(self) -> None:
        """Encodes what is queued, flushes the encoder and finalises the file."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_END)
        self._thread.join()
        try:
            if not self.error:
                for packet in self._stream.encode():
                    self._container.mux(packet)
        except (av.error.FFmpegError, ValueError, OSError) as exc:
            self.error = f"finishing {self.path} failed ({exc})"
        finally:
            self._container.close()

    def __enter__(self) -> "VideoWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def count_frames(path: PathLike) -> int:
    """Frames of a video counted by decoding (exact, also for fragmented files)."""
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def check_writable(path: Optional[str], flag: str) -> None:
    """Fails before the models load when ``path`` cannot be written (tried by creating it)."""
    if path is None:
        return
    target = Path(path)
    folder = target.resolve().parent
    if not folder.is_dir():
        raise VideoError(f"{flag} {path}: the folder {folder} does not exist")
    if target.is_dir():
        raise VideoError(f"{flag} {path} is a folder; give a file name")
    existed = target.exists()
    try:
        open(target, "ab").close()
    except OSError as exc:
        raise VideoError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    if not existed:
        target.unlink()
