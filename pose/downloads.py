"""Fetching the files hrtrack downloads (published weights), once, into a local cache.

Every download goes through :func:`fetch`:

- a file already at its place in the cache is used as it is, without any network access (this is
  how machines without internet are served: put the file there by hand);
- otherwise the URL is read into a temporary file beside the target (with a tqdm progress bar),
  checked, and renamed onto the target in one step; on any failure nothing is left in the cache;
- the check: the file's SHA-256 must start with the expected digest (a full hex digest or a
  prefix, such as the 8 characters in torch hub's ``name-<hash>.pth`` file names,
  :func:`hash_prefix_from_name`);
- an archive (``archive_member``): the URL is a zip file; the one member of that name is
  extracted and kept (the archive is not), and the check applies to the extracted file.

A download that fails (no network, unknown host, HTTP error, wrong hash, not a zip archive)
raises :class:`pose.errors.MissingWeightsError`, one line naming the URL, the file and where to
put a copy fetched by hand.

The cache is ``<torch.hub.get_dir()>/checkpoints`` (:func:`cache_dir`), torch hub's own place for
downloaded weights.
"""
from __future__ import annotations

import hashlib
import http.client
import os
import re
import shutil
import sys
import urllib.error
import urllib.parse
import zipfile
from pathlib import Path
from typing import Optional, Union
from urllib.request import Request, urlopen

import torch
from tqdm import tqdm

from .errors import BadInputError, MissingWeightsError
from .safe_output import atomic_path

TIMEOUT_S = 60  # a connection that sends nothing for this long is given up
CHUNK = 1 << 20
BY_HAND = "or pass the path of the downloaded file instead of the URL"

_HASH_IN_NAME = re.compile(r"-([0-9a-f]{8,64})(?:_\d{8})?\.[A-Za-z0-9]+$")
# What reading a URL raises when the network, the server or the URL fails.
_NETWORK_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException, ValueError)


def cache_dir() -> Path:
    """Where downloaded files live: ``<torch.hub.get_dir()>/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def hash_prefix_from_name(filename: str) -> Optional[str]:
    """The SHA-256 prefix embedded in a published file name (torch hub's ``name-<hash>.pth``,
    mmpose's ``name-<hash8>_<yyyymmdd>.pth``), or None."""
    match = _HASH_IN_NAME.search(filename)
    return match.group(1) if match else None


def file_sha256(path: Union[str, os.PathLike]) -> str:
    """SHA-256 of a file's bytes, as 64 hex digits."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


class _Unreachable(Exception):
    """The URL could not be read; ``args[0]`` is the reason."""


def _reason(exc: BaseException) -> str:
    return str(getattr(exc, "reason", None) or exc or type(exc).__name__)


def _download(url: str, dest: Path, progress: bool) -> None:
    """Copies the bytes at ``url`` into ``dest``; :class:`_Unreachable` when reading fails
    (errors writing ``dest`` propagate as they are)."""
    try:
        response = urlopen(Request(url, headers={"User-Agent": "hrtrack"}), timeout=TIMEOUT_S)
    except _NETWORK_ERRORS as exc:
        raise _Unreachable(_reason(exc)) from None
    with response, open(dest, "wb") as out:
        size = response.headers.get("Content-Length") if response.headers else None
        with tqdm(total=int(size) if size and size.isdigit() else None, unit="B",
                  unit_scale=True, unit_divisor=1024, desc=Path(dest).name, file=sys.stderr,
                  disable=not progress) as bar:
            while True:
                try:
                    block = response.read(CHUNK)
                except _NETWORK_ERRORS as exc:
                    raise _Unreachable(_reason(exc)) from None
                if not block:
                    return
                out.write(block)
                bar.update(len(block))


def _extract(archive: Path, member: str, dest: Path) -> int:
    """Writes the members of the zip file ``archive`` named ``member`` (in any folder) to
    ``dest``; returns how many there were (only one is written)."""
    with zipfile.ZipFile(archive) as zf:
        found = [m for m in zf.namelist() if m.rsplit("/", 1)[-1] == member]
        if len(found) == 1:
            with zf.open(found[0]) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, CHUNK)
    return len(found)


def fetch(url: str, target: Union[str, os.PathLike], sha256: Optional[str] = None, *,
          progress: bool = True, archive_member: Optional[str] = None,
          by_hand: str = BY_HAND) -> Path:
    """The local file ``target``, downloaded from ``url`` if it is not there yet.

    Args:
        url: http(s) or file URL.
        target: where the file is kept (normally under :func:`cache_dir`).
        sha256: the file's SHA-256 (hex) or a prefix of it; None: no check.
        progress: show a progress bar on stderr.
        archive_member: the URL is a zip archive; keep its member of this file name.
        by_hand: the end of the offline message: another way to provide the file.

    Raises:
        MissingWeightsError: the download failed or the file failed its check; nothing was kept.
    """
    target = Path(target)
    if target.is_file():
        return target
    what = f"its {archive_member}" if archive_member else "it"
    unzip = ", unzip it" if archive_member else ""
    how = (f"Download {url} on a machine with internet access{unzip} and put {what} at "
           f"{target} (it is then found without downloading), {by_hand}.")
    with atomic_path(target) as temporary:
        try:
            _download(url, temporary, progress)
        except _Unreachable as exc:
            raise MissingWeightsError(f"could not download {url} ({exc.args[0]}). {how}") \
                from None
        if archive_member:
            archive = temporary.with_name(temporary.name + ".zip")
            os.replace(temporary, archive)
            try:
                count = _extract(archive, archive_member, temporary)
            except zipfile.BadZipFile:
                raise MissingWeightsError(f"{url} did not give a zip archive. {how}") from None
            finally:
                archive.unlink()
            if count != 1:
                raise MissingWeightsError(f"{url} holds {count} files named {archive_member}, "
                                          f"expected one. {how}")
        if sha256:
            digest = file_sha256(temporary)
            if not digest.startswith(sha256.lower()):
                raise MissingWeightsError(
                    f"the file downloaded from {url} failed its SHA-256 check ({digest[:16]}..., "
                    f"expected a hash starting with {sha256[:16]}): the download was corrupted "
                    "or the file has changed. Nothing was kept; try again, or download it "
                    f"yourself and put it at {target}.")
    return target


def fetch_to_cache(url: str, sha256: Optional[str] = None, progress: bool = True) -> Path:
    """:func:`fetch` into :func:`cache_dir` under the URL's file name; ``sha256`` defaults to
    the hash prefix in that name (:func:`hash_prefix_from_name`), if any."""
    filename = os.path.basename(urllib.parse.urlparse(url).path)
    if not filename:
        raise BadInputError(f"cannot tell a file name from the URL {url!r}")
    return fetch(url, cache_dir() / filename, sha256 or hash_prefix_from_name(filename),
                 progress=progress)
