"""Detection ahead: the next frames are fetched and detected while frame t's poses are
estimated.

The per-frame pipeline (:mod:`apps.pipeline`) asks its detector for a frame's boxes before it
crops, runs the pose network, decodes and tracks. Detection needs nothing but the frame, so
:class:`DetectAhead` runs it in a worker thread on the frames that come next: the worker takes
frames from the source (the video reader) and detects the ones the pipeline will detect
(every ``detect_every``-th, counting from the first), at most ``depth`` frames ahead, through a
bounded queue (memory stays flat). The main loop iterates over the :class:`DetectAhead` instead
of the source, and the pipeline's detector is replaced by it: called with the frame just
delivered, it returns the boxes found ahead.

- Order: frames come out in the source's order, each with its own boxes (one worker, one FIFO).
- Results: the same detector on the same frames, so the same boxes as without overlap.
- Errors: an error of the detector is raised where the pipeline asks for that frame's boxes;
  an error of the source where the frame would have come; the worker stops after either.
- Shutdown: :meth:`DetectAhead.close` (also at the end of the iteration, and after Ctrl-C
  through the caller's ``finally``) stops the worker, which closes the source.

On two CPU cores the detector then runs beside the pose network; on a GPU it also frees the main
thread from the detector's Python and CPU work (letterboxing, NMS, tiling).
"""
from __future__ import annotations

import queue
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Optional, Tuple

import numpy as np

_END = object()


class _Failed:
    """An exception of the worker, delivered in order."""

    def __init__(self, error: BaseException) -> None:
        self.error = error


class DetectAhead:
    """Iterates over ``frames`` (tuples whose last element is the frame, e.g. the video
    reader's ``(index, seconds, frame)``) with ``detector`` run ahead in a worker thread; see the
    module doc. The items come out unchanged.

    Args:
        frames: the frame source: an iterable of tuples ending with an RGB uint8 ``[H, W, 3]``.
        detector: ``frame -> boxes [N, 5]`` (a :class:`detectors.Detector`).
        detect_every: the pipeline's ``detect_every``: frames 0, K, 2K, ... of the source are
            detected ahead.
        depth: frames held ready ahead of the consumer (besides the one the worker works on).

    Use it as the pipeline's detector (``pipeline.detector = ahead``): ``ahead(frame)`` returns
    the boxes of the frame last delivered (found ahead), or runs ``detector`` on any other frame.
    :attr:`busy_seconds` is the worker's detection time.
    """

    def __init__(self, frames: Iterable[Tuple[Any, ...]],
                 detector: Callable[[np.ndarray], np.ndarray], detect_every: int = 1,
                 depth: int = 2) -> None:
        if detect_every < 1:
            raise ValueError(f"detect_every must be at least 1, got {detect_every}")
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.detector = detector
        self.detect_every = detect_every
        self.busy_seconds = 0.0
        self._source = iter(frames)
        self._queue: "queue.Queue" = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._current: Optional[Tuple[np.ndarray, Any]] = None  # (frame, boxes or _Failed)
        self._thread = threading.Thread(target=self._work, name="detect-ahead", daemon=True)
        self._started = False
        self._closed = False

    def _work(self) -> None:
        position = 0
        try:
            for item in self._source:
                if self._stop.is_set():
                    break
                frame, result = item[-1], None
                if position % self.detect_every == 0:
                    started = time.perf_counter()
                    try:
                        result = self.detector(frame)
                    except Exception as error:  # delivered with its frame
                        result = _Failed(error)
                    self.busy_seconds += time.perf_counter() - started
                position += 1
                if not self._put((item, result)) or isinstance(result, _Failed):
                    break
        except BaseException as error:  # the source failed: delivered in its place
            self._put(_Failed(error))
        finally:
            close = getattr(self._source, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:  # noqa: BLE001 - closing a source that already failed
                    pass
            self._put(_END)

    def _put(self, item) -> bool:
        """Queues ``item`` unless stopped; False when stopped."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def __iter__(self) -> Iterator[Tuple[Any, ...]]:
        if self._started:
            raise RuntimeError("a DetectAhead can be iterated once")
        self._started = True
        self._thread.start()
        try:
            while True:
                item = self._queue.get()
                if item is _END:
                    return
                if isinstance(item, _Failed):
                    raise item.error
                item, result = item
                self._current = (item[-1], result)
                yield item
        finally:
            self.close()

    def __call__(self, frame: np.ndarray) -> np.ndarray:
        """The boxes of ``frame``: found ahead for the frame last delivered, else detected
        now."""
        current, self._current = self._current, None
        if current is not None and current[0] is frame and current[1] is not None:
            if isinstance(current[1], _Failed):
                raise current[1].error
            return current[1]
        return self.detector(frame)

    def close(self, timeout: float = 30.0) -> None:
        """Stops the worker (which closes the source) and waits for it to finish the frame it
        works on (at most ``timeout`` seconds: it is a daemon thread)."""
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        if self._started and self._thread is not threading.current_thread():
            deadline = time.monotonic() + timeout
            while self._thread.is_alive() and time.monotonic() < deadline:
                try:  # make room, in case the worker waits to queue
                    self._queue.get_nowait()
                except queue.Empty:
                    pass
                self._thread.join(timeout=0.05)
