"""Where data files live, how they are checked, and how missing ones are fetched.

Lectures: ``lectures/08_lenet.ipynb`` (MNIST), ``lectures/09_overfitting.ipynb`` and
``lectures/11_transfer_learning.ipynb`` (CIFAR-10), through the loaders of
:mod:`cnn_course.data`.

Where the files come from, in order:

1. the ``root`` argument of the loader, if given;
2. else the ``CNN_COURSE_DATA`` environment variable;
3. else the per-user cache, :func:`cache_dir` (``$XDG_CACHE_HOME/cnn_course``,
   by default ``~/.cache/cnn_course``).

A loader reads the data root but never writes into it unless it is writable and a
file has to be downloaded (a shared, read-only root stays untouched: the download
then goes to the cache); anything derived (the extracted CIFAR-10 JPEGs, decoded
arrays) goes into the cache. Every file's md5 is checked before it is read.
Downloads go through ``pooch``: a progress bar, a temporary file in the target
folder, renamed into place only after its md5 matches, so an interrupted or
corrupted download leaves nothing behind.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pooch

from ..errors import CourseError

__all__ = [
    "DataError", "RemoteFile", "Downloader", "cache_dir", "data_root", "md5sum",
    "check_md5", "download", "fetch", "extract_once",
]


class DataError(CourseError, RuntimeError):
    """A data file is missing, corrupted or cannot be downloaded.

    The message says which file, where it was looked for and what to do.
    """


# ----------------------------------------------------------------------------------
# Where data lives
# ----------------------------------------------------------------------------------


def cache_dir(cache: str | os.PathLike | None = None) -> Path:
    """The per-user cache folder (created on demand).

    ``cache`` if given, else ``$XDG_CACHE_HOME/cnn_course``, else
    ``~/.cache/cnn_course``.
    """
    if cache is not None:
        folder = Path(cache)
    else:
        base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
        folder = Path(base) / "cnn_course"
    return folder.expanduser()


def data_root(root: str | os.PathLike | None = None,
              cache: str | os.PathLike | None = None) -> Path:
    """The data root: ``root``, else ``$CNN_COURSE_DATA``, else :func:`cache_dir`."""
    if root is not None:
        return Path(root).expanduser()
    from_env = os.environ.get("CNN_COURSE_DATA")
    if from_env:
        return Path(from_env).expanduser()
    return cache_dir(cache)


def _writable(folder: Path) -> bool:
    """True when ``folder`` exists and we may create files in it, or can create it."""
    probe = folder
    while not probe.exists():
        if probe.parent == probe:
            return False
        probe = probe.parent
    return probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)


# ----------------------------------------------------------------------------------
# Checksums
# ----------------------------------------------------------------------------------


def md5sum(path: str | os.PathLike) -> str:
    """The md5 of a file, as 32 hex digits (pooch reads it in chunks)."""
    return pooch.file_hash(str(path), alg="md5")


# md5s already checked in this process, keyed by (path, size, mtime): MNIST is read
# many times by the tests and a lecture, but hashed once.
_VERIFIED: dict[tuple[str, int, int], str] = {}


def check_md5(path: Path, md5: str | None, url: str | None = None) -> None:
    """Raise :class:`DataError` unless the file at ``path`` has the md5 ``md5``.

    The message names the file, both md5s and what to do; ``url`` is where a good
    copy can be downloaded again. ``md5=None`` checks nothing.
    """
    if md5 is None:
        return
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if _VERIFIED.get(key) == md5:
        return
    got = md5sum(path)
    if got != md5:
        again = f", or download it again from {url}" if url else ""
        raise DataError(
            f"{path} is corrupted or incomplete: md5 {got}, expected {md5} "
            f"({stat.st_size:,} bytes). It was not read. Delete it{again}."
        )
    _VERIFIED[key] = md5


# ----------------------------------------------------------------------------------
# Downloads, through pooch
# ----------------------------------------------------------------------------------


class Downloader(Protocol):
    """pooch's downloader protocol: write what ``url`` holds into ``output_file``."""

    def __call__(self, url: str, output_file: str, pooch: Any) -> None: ...


def _copy_local(url: str, output_file: str, pooch: Any) -> None:
    """A downloader for ``file://`` URLs (a local mirror), which pooch lacks."""
    source = urllib.request.url2pathname(urllib.parse.urlparse(url).path)
    shutil.copyfile(source, output_file)


def _downloader_for(url: str, progress: bool, timeout: float) -> Downloader:
    if url.startswith("file:"):
        return _copy_local
    if url.startswith(("http:", "https:")):
        return pooch.HTTPDownloader(progressbar=progress, chunk_size=1 << 16,
                                    timeout=timeout)
    return pooch.choose_downloader(url, progressbar=progress)  # ftp, doi, ...


def download(url: str, path: str | os.PathLike, md5: str | None = None, *,
             downloader: Downloader | None = None, progress: bool = True,
             timeout: float = 30.0) -> Path:
    """Download ``url`` to ``path`` with a progress bar, checking its md5.

    ``pooch.retrieve`` writes the bytes to a temporary file in the same folder and
    renames it to ``path`` only after the md5 matches; on any failure the
    temporary file is removed and :class:`DataError` is raised, so nothing
    half-written is left. ``downloader(url, output_file, pooch)`` fetches the bytes
    (default: pooch's HTTP downloader; ``file://`` URLs are copied).
    """
    path = Path(path)
    if downloader is None:
        downloader = _downloader_for(url, progress, timeout)
    try:
        pooch.retrieve(url, known_hash=f"md5:{md5}" if md5 else None,
                       fname=path.name, path=path.parent, downloader=downloader,
                       progressbar=progress)
    except ValueError as err:
        if "does not match the known hash" in str(err):  # pooch's md5 check
            raise DataError(
                f"download of {url} is corrupted or incomplete ({err}); nothing "
                f"was saved to {path}"
            ) from err
        raise DataError(f"could not download {url}: {err}") from err
    except OSError as err:  # requests' errors are OSErrors too
        raise DataError(f"could not download {url}: {err}") from err
    return path


@dataclass(frozen=True)
class RemoteFile:
    """One dataset file: its name, md5 and the official URLs (mirrors after)."""

    name: str
    md5: str
    urls: tuple[str, ...]


def fetch(remote: RemoteFile, folder: str, root: str | os.PathLike | None = None, *,
          cache: str | os.PathLike | None = None, download_missing: bool = True,
          downloader: Downloader | None = None, progress: bool = True) -> Path:
    """Find ``folder/remote.name`` under the data root (or the cache), md5-checked.

    When it is in neither place and ``download_missing``, download it into the data
    root if that is writable, else into the cache. When that fails too, raise
    :class:`DataError` naming the file, the URL and the folder to put it in.
    """
    base = data_root(root, cache)
    places = [base / folder / remote.name]
    cached = cache_dir(cache) / folder / remote.name
    if cached not in places:
        places.append(cached)
    for path in places:
        if path.is_file():
            check_md5(path, remote.md5, remote.urls[0])
            return path

    target = places[0] if _writable(base) else cached
    errors = []
    if download_missing:
        for url in remote.urls:
            try:
                return download(url, target, remote.md5, downloader=downloader,
                                progress=progress)
            except DataError as err:
                errors.append(str(err))
    why = "; ".join(errors) if errors else "downloads are switched off"
    raise DataError(
        f"{remote.name} not found in {places[0].parent}"
        + (f" nor in {cached.parent}" if cached != places[0] else "")
        + f" ({why}). Download it from {remote.urls[0]} and put it in "
        f"{target.parent} (or point CNN_COURSE_DATA at a folder holding "
        f"{folder}/{remote.name})."
    )


def extract_once(tarball: Path, target: Path) -> Path:
    """Extract ``tarball`` into ``target`` (a cache folder) unless already done.

    Extraction goes to a temporary sibling folder that is renamed at the end, so a
    half-finished extraction is never mistaken for a finished one. (pooch's
    ``Untar`` extracts next to the archive, which may be a read-only data root.)
    """
    if target.is_dir():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
        # the tarball holds train/ and test/ at its top (or under one folder)
        inner = tmp if (tmp / "train").is_dir() else next(tmp.iterdir())
        os.chmod(inner, 0o755)
        os.replace(inner, target)
    except (tarfile.TarError, EOFError, OSError, StopIteration) as err:
        if target.is_dir():  # another process finished the same extraction first
            return target
        raise DataError(f"cannot extract {tarball}: {err}") from err
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target
