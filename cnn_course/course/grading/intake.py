"""Intake: from a folder or an LMS zip to one notebook per student and assignment notebook.

Accepted layouts:

- a folder of student folders, ``DIR/<student_id>/<notebook>.ipynb`` (nested one more
  level, e.g. ``DIR/<student_id>/01_convolution/…``, is fine too);
- a zip of the same, or a flat zip as learning-management systems export it, where
  each file name carries the student: Canvas ``<login>_<id>_<id>_<file>`` (also with
  ``_late_``) and Moodle ``<Full Name>_<id>_assignsubmission_file_/<file>`` are
  recognised, like nbgrader's ``zip_collect``.

File names are normalised: LMS re-submission suffixes (``-1``, `` (2)``), case and
spaces are ignored. A student's only notebook is accepted under another name if its
answer cells belong to the assignment; a notebook of another assignment is refused.
Nothing here runs student code.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import nbformat

MAX_ZIP_BYTES = 2 * 2**30  # all files of a zip, uncompressed
MAX_NOTEBOOK_BYTES = 20 * 2**20  # one notebook
LMS_PATTERNS = (
    # Canvas: smithjane_12345_67890_01_convolution.ipynb (name, user id, submission id),
    # also with _late_ after the name
    re.compile(r"^(?P<name>[A-Za-z0-9.@+-]+?)_(?:late_)?(?P<user>\d+)_\d+_(?P<file>.+)$"),
    # Moodle: Jane Smith_12345_assignsubmission_file_/01_convolution.ipynb
    re.compile(r"^(?P<name>[^/]+?)_(?P<user>\d+)_assignsubmission_file_/(?P<file>.+)$"),
)


class IntakeError(Exception):
    """This student's files cannot be graded; the message is the CSV reason."""


@dataclass
class Submission:
    """One student's notebooks, read but not trusted."""

    student_id: str
    notebooks: dict[str, nbformat.NotebookNode] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    error: str | None = None
    source_files: list[Path] = field(default_factory=list)


def normalise_name(name: str) -> str:
    """``01_Convolution (2).ipynb`` and ``01_convolution-1.ipynb`` -> ``01_convolution.ipynb``."""
    stem = PurePosixPath(name).name
    stem = re.sub(r"\.ipynb$", "", stem, flags=re.I)
    stem = re.sub(r"(\s*\(\d+\)|-\d+|_copy\d*|\s+copy\d*)$", "", stem, flags=re.I)
    stem = re.sub(r"[\s-]+", "_", stem.strip()).lower()
    return f"{stem}.ipynb"


def _safe_extract(archive: Path, target: Path) -> None:
    """Extract a zip without escaping ``target``, links or zip bombs."""
    with zipfile.ZipFile(archive) as zf:
        total = 0
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or not parts or parts[0] in ("__MACOSX",) \
                    or any(p in ("..", "") or p.startswith(".") for p in parts) \
                    or info.filename.startswith("/"):
                continue
            if (info.external_attr >> 16) & 0o170000 == 0o120000:  # a symlink
                continue
            total += info.file_size
            if total > MAX_ZIP_BYTES:
                raise IntakeError(f"{archive.name} unpacks to more than {MAX_ZIP_BYTES} bytes")
            dest = target.joinpath(*parts)
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as out:
                shutil.copyfileobj(src, out, length=2**20)


def _student_folders_from_flat(files: list[Path], root: Path, target: Path
                               ) -> dict[str, str]:
    """Sort LMS-named files into ``target/<key>/<file>``; return key -> shown name.

    The key holds the LMS's user id as well as the name, so two students with the
    same name stay apart.
    """
    names = {}
    for path in files:
        rel = path.relative_to(root).as_posix()
        for pattern in LMS_PATTERNS:
            match = pattern.match(rel)
            if match:
                name, user = match["name"], match["user"]
                key = hashlib.sha256(f"{name}\0{user}".encode()).hexdigest()[:16]
                names[key] = f"{name}_{user}"
                dest = target / key / PurePosixPath(match["file"]).name
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.move(str(path), dest)
                break
    return names


@dataclass
class Entry:
    """One submission as found: a name to show, a safe id to grade under, its files."""

    name: str  # as the submission names the student (folder name, or LMS name and id)
    student_id: str  # letters, digits and . _ @ + - only, at most 64 characters
    folder: Path | None
    error: str | None = None  # why it cannot be graded (a link, a clash, ...)


SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@+-]{0,63}$")


def safe_id(name: str) -> str:
    """A gradebook id for ``name``: itself when safe, else a slug plus a hash of it.

    Any folder name works (250 characters, odd bytes, a leading ``-``, ``=1+1``); two
    different names never share an id.
    """
    if SAFE_ID.match(name):
        return name
    raw = os.fsencode(name)
    slug = re.sub(r"[^A-Za-z0-9_.@+-]+", "_", raw.decode("utf-8", "replace"))
    slug = slug.strip("._-+@")[:40] or "student"
    return f"{slug}-{hashlib.sha256(raw).hexdigest()[:10]}"


def shown(name: str) -> str:
    """A name as text that can be printed (undecodable bytes as escapes)."""
    return os.fsencode(name).decode("utf-8", "backslashreplace")


def _entry(name: str, folder: Path | None) -> Entry:
    entry = Entry(shown(name), safe_id(name), folder)
    if folder is not None and folder.is_symlink():
        entry.error = f"{entry.name} is a link: links are refused, submit the files"
    elif folder is not None and not folder.is_dir():
        entry.error = f"{entry.name} is a file, not a student's folder"
    return entry


def _refuse_clashes(entries: list[Entry]) -> list[Entry]:
    """Two different students with one id: grade neither, name both."""
    by_id: dict[str, list[Entry]] = {}
    for entry in entries:
        by_id.setdefault(entry.student_id, []).append(entry)
    for group in by_id.values():
        names = sorted({e.name for e in group})
        if len(names) > 1:
            for entry in group:
                others = ", ".join(repr(n) for n in names if n != entry.name)
                entry.error = (f"{entry.name!r} and {others} map to the same student id "
                               f"{entry.student_id}: grade them by hand")
    return entries


def student_entries(submissions: Path, work: Path) -> list[Entry]:
    """Every submission in a folder or a zip (unpacked under ``work``), one entry each."""
    if submissions.is_file() and zipfile.is_zipfile(submissions):
        unpacked = work / "unzipped"
        shutil.rmtree(unpacked, ignore_errors=True)
        _safe_extract(submissions, unpacked)
        top_files = [p for p in unpacked.rglob("*") if p.is_file()]
        lms = any(pat.match(p.relative_to(unpacked).as_posix())
                  for p in top_files for pat in LMS_PATTERNS)
        if lms:
            sorted_dir = work / "by_student"
            shutil.rmtree(sorted_dir, ignore_errors=True)
            names = _student_folders_from_flat(top_files, unpacked, sorted_dir)
            return _refuse_clashes([Entry(shown(name), safe_id(name), sorted_dir / key)
                                    for key, name in sorted(names.items(),
                                                            key=lambda kv: kv[1])])
        folders = [p for p in unpacked.iterdir() if p.is_dir()]
        if len(folders) == 1 and not [p for p in unpacked.iterdir() if p.is_file()]:
            unpacked = folders[0]  # a zip of one folder that holds the student folders
        submissions = unpacked
    return _refuse_clashes([_entry(p.name, p) for p in sorted(submissions.iterdir())
                            if not p.name.startswith(".")])


def _notebooks_in(folder: Path) -> tuple[list[Path], list[str]]:
    """Notebooks under ``folder`` (links not followed), and the links found instead."""
    found, links = [], []
    for top, dirs, files in os.walk(folder, followlinks=False):
        dirs[:] = [d for d in dirs if d != ".ipynb_checkpoints"]
        for name in files:
            path = Path(top) / name
            if not name.lower().endswith(".ipynb"):
                continue
            if path.is_symlink():
                links.append(shown(str(path.relative_to(folder))))
            elif path.is_file():
                found.append(path)
        links += [shown(d) for d in dirs if (Path(top) / d).is_symlink()]
    return sorted(found), links


def _answer_ids(nb: nbformat.NotebookNode) -> set[str]:
    return {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.get("metadata", {}).get("nbgrader", {}).get("solution")}


def _read(path: Path) -> nbformat.NotebookNode:
    if path.stat().st_size > MAX_NOTEBOOK_BYTES:
        raise IntakeError(f"{path.name} is larger than {MAX_NOTEBOOK_BYTES // 2**20} MiB")
    try:
        return nbformat.read(path, as_version=4)
    except Exception as err:  # JSON errors, wrong nbformat, binary junk
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:160]
        raise IntakeError(f"{path.name} is not a valid notebook: {first}") from None


def read_submission(folder: Path, releases: dict[str, nbformat.NotebookNode],
                    assignment: str) -> Submission:
    """Find and read this student's notebook for each release notebook."""
    sub = Submission(folder.name)
    try:
        found, links = _notebooks_in(folder)
        if links:
            raise IntakeError(f"{links[0]} is a link: links are refused, submit the file")
        sub.source_files = found
        for name, release in releases.items():
            exact = [p for p in found if p.name == name]
            similar = [p for p in found if normalise_name(p.name) == normalise_name(name)]
            if exact or similar:
                path = (exact or similar)[0]
            elif len(found) == 1 and len(releases) == 1:
                path = found[0]  # the only notebook: accept it if it is this assignment
            else:
                names = ", ".join(p.name for p in found) or "no notebook"
                raise IntakeError(f"expected {name}, found {names}")
            nb = _read(path)
            theirs, ours = _answer_ids(nb), _answer_ids(release)
            if not theirs & ours:
                raise IntakeError(
                    f"{path.name} is not {assignment}: none of its answer cells belong to "
                    f"this assignment (another assignment's notebook?)"
                )
            if path.name != name:
                sub.notes.append(f"graded {path.name} as {name}")
            sub.notebooks[name] = nb
    except IntakeError as err:
        sub.error = str(err)
    return sub
