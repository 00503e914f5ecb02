"""Several videos in one ``hrtrack track`` run: the inputs (files, folders of videos), one output
pair per video in ``--output-dir``, and which of them are complete already.

Every video ``NAME.ext`` gets ``DIR/NAME.json`` and, unless ``--no-video``, ``DIR/NAME.mp4``. Two
inputs with the same name would write the same outputs: they are refused before any work. A video
is complete when its outputs exist and its JSON says the run reached the end of the video
(``info["complete"]``: not after Ctrl-C or a video that broke off); a run skips it unless
``--overwrite``.
"""
from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence

from pose.errors import BadInputError, MissingFileError

from .posetrack_json import is_complete

VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".avi", ".webm", ".mpg", ".mpeg", ".ts",
                  ".mts", ".wmv", ".flv")

ONE_FILE_OPTIONS = (("--output-video", "output_video"), ("--output-json", "output_json"),
                    ("--snapshot", "snapshot"))


@dataclass(frozen=True)
class VideoJob:
    """One input video and its outputs (``output_video`` None: JSON only)."""

    video: str
    output_json: Path
    output_video: Optional[Path]

    @property
    def outputs(self) -> List[Path]:
        return [p for p in (self.output_json, self.output_video) if p is not None]

    def complete(self) -> bool:
        """Whether a run finished this video: every output exists and the JSON says so."""
        return all(path.is_file() for path in self.outputs) and is_complete(self.output_json)

    def options(self, args: argparse.Namespace) -> argparse.Namespace:
        """A copy of ``args`` for this video alone."""
        single = argparse.Namespace(**vars(args))
        single.video, single.output_json = self.video, str(self.output_json)
        single.output_video = None if self.output_video is None else str(self.output_video)
        return single


def several_videos(args: argparse.Namespace) -> bool:
    """Whether the options ask for the several-videos form: ``--output-dir``, more than one
    input, or a folder."""
    return (args.output_dir is not None or len(args.videos) > 1
            or Path(args.videos[0]).is_dir())


def input_videos(inputs: Sequence[str]) -> List[str]:
    """The videos of ``inputs``: files and URLs as given, folders as their video files (by
    :data:`VIDEO_SUFFIXES`, sorted by name, not recursive)."""
    videos = []
    for text in inputs:
        path = Path(text)
        if path.is_dir():
            found = sorted(str(p) for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)
            if not found:
                raise MissingFileError(f"{path}: a folder without videos (files ending in "
                                       f"{', '.join(VIDEO_SUFFIXES)})")
            videos += found
        elif "://" in text or path.is_file():
            videos.append(text)
        else:
            raise MissingFileError(f"video not found: {text}")
    return videos


def plan_jobs(args: argparse.Namespace) -> List[VideoJob]:
    """Every input video with its outputs in ``--output-dir``; refuses options that name one
    file and two videos that would write the same outputs."""
    if args.output_dir is None:
        raise BadInputError("several videos (or a folder) need --output-dir DIR: each video's "
                            "outputs are DIR/<video name>.json and .mp4")
    for flag, name in ONE_FILE_OPTIONS:
        if getattr(args, name) is not None:
            raise BadInputError(f"{flag} names one file; with --output-dir each video's outputs "
                                "are DIR/<video name>.json and .mp4")
    folder = Path(args.output_dir)
    if folder.exists() and not folder.is_dir():
        raise BadInputError(f"--output-dir {folder} is a file; give a folder (created if "
                            "missing)")
    if getattr(args, "detector", None) == "file":
        raise BadInputError("--detector file reads the detections of one video: track the "
                            "videos one at a time, or with another detector")
    jobs: List[VideoJob] = []
    names: Dict[str, str] = {}
    for video in input_videos(args.videos):
        stem = Path(video).stem or "video"
        if stem in names:
            raise BadInputError(f"{names[stem]} and {video} would both write "
                                f"{folder / stem}.json: rename one, or run them "
                                "with different --output-dir")
        names[stem] = video
        jobs.append(VideoJob(video, folder / f"{stem}.json",
                             None if args.no_video else folder / f"{stem}.mp4"))
    return jobs
