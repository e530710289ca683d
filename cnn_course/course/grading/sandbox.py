"""Run student code in an OS-level sandbox: bubblewrap, an unprivileged user, cgroups.

Threat model. A submission is hostile code that runs with whatever the grader gives
it. It tries to read what the host keeps private (``/etc/shadow``, the solutions, the
gradebook, other students), to plant something the host later runs or trusts (a
setuid-root binary, a rewritten kernel connection file), to reach the network, and to
exhaust the grading machine (memory, processes, disk, CPU). Each layer below stops
one of these:

- **An unprivileged user.** Student code runs as uid/gid 65534 (``nobody``), with no
  supplementary groups, no capabilities and ``no_new_privs``, even when the grader is
  root: a root grader starts bubblewrap through ``setpriv``, which drops to 65534
  first. Files the host keeps private are then unreadable, and every file the
  sandbox creates in a writable host folder belongs to 65534. Such a file can at most
  be made setuid to 65534 itself: making it setuid *root* needs ``chown`` to 0, which
  takes ``CAP_CHOWN`` in the host's user namespace, and the sandbox has no
  capabilities there (uid 0 is not even mapped into its user namespace). This closes
  the attack where a root sandbox rewrote a root-owned file into a setuid-root copy
  of ``id``. (A grader that is not root runs the sandbox as its own uid; then, as
  before, nothing in a writable bind may ever be run or trusted by the grader.)
- **Nothing the host trusts is writable.** Host folders appear read-only unless a
  caller binds them writable; every mount inside is ``nosuid`` (bubblewrap mounts each
  bind so) and the sandbox cannot create user namespaces of its own, so it cannot
  mount anything either. The kernel's connection file sits in its own read-only
  bind; only the folder of its ZMQ sockets is writable, and a root grader seals it
  (root-owned, 0755) as soon as the sockets exist. The host-side folders live inside
  a root-only (0700) temporary folder, so no other host user can even reach what the
  sandbox left there; root stages them for bubblewrap in a private mount namespace
  (:class:`_Stage`), which changes nothing on the host.
- **Nothing else of the host.** New mount, PID, network, IPC, UTS and cgroup
  namespaces: the system (``/usr``, ``/etc``) and Python read-only, no network, its
  own process tree (it cannot see or signal the grader), a cleared environment (the
  grader's variables may hold secrets). The grader's own runner gets a smaller
  Python still (:func:`runner_environment`): the standard library and the packages
  the assignment allows, nothing else of any site-packages.
- **Limits per sandbox, not per process.** One cgroup per sandbox caps memory (every
  process together, and the tmpfs pages of ``/tmp``, home and ``/dev/shm`` too: the
  kernel charges tmpfs pages to the cgroup of the process that writes them) and the
  number of processes, and counts CPU time (:meth:`Sandbox.cpu_seconds`). cgroup v2
  (``memory.max``, ``pids.max``, ``cpu.stat``) and v1 (``memory.limit_in_bytes`` under
  the grader's own memory cgroup, ``pids.max``, ``cpuacct.usage``) both work. Where no
  cgroup can be made, per-process ``setrlimit`` limits are the fallback: then three
  processes may each use the whole memory limit. The rlimits apply in every case
  (CPU seconds, file size, open files, address space, no core dumps).
- **Every writable filesystem is size-capped.** ``/tmp`` and home are tmpfs of
  ``Limits.tmp_bytes``, ``/dev/shm`` a tmpfs of ``Limits.shm_bytes``, the rest of
  ``/dev`` and the sandbox's root are read-only. Host folders bound writable are the
  caller's to cap (the kernel's socket folder is sealed; ``RLIMIT_FSIZE`` caps a file).

Where bubblewrap is missing, user namespaces are disabled, or a root grader lacks
``setpriv``, :func:`detect` says why, and the grader refuses to run student code
unless the instructor passes ``--allow-unsandboxed``.

Public API: :class:`Limits`, :class:`Sandbox`, :func:`runner_environment` and
:class:`RunnerEnv`, :func:`detect` and :class:`Isolation`,
:class:`SandboxKernelManager` and :func:`prepare_kernel_manager`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.metadata
import os
import queue
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
import weakref
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from jupyter_client.asynchronous import AsyncKernelClient
from jupyter_client.manager import AsyncKernelManager
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from traitlets import Type

SANDBOX_UID = 65534  # "nobody": the user student code runs as when the grader is root
HOME = "/home/student"  # the sandbox's working folder: a size-capped tmpfs
MiB = 2**20
# The only variables of the grader's environment a sandbox sees (the rest may hold
# tokens or passwords): the course's own switches, e.g. CNN_COURSE_FAST and the
# kernel's per-cell CPU limit.
PASS_ENV_PREFIX = "CNN_COURSE_"


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandbox, and what each protects.

    Per sandbox where a cgroup can be made (see :class:`Sandbox`), per process
    (``setrlimit``) always.
    """

    # All processes together (cgroup), tmpfs pages included; also each process's
    # address space (RLIMIT_AS), the only memory limit where no cgroup exists.
    # torch alone maps ~1.5 GiB of address space.
    memory_bytes: int = 4 * 2**30
    # A fork bomb: all processes together (cgroup pids.max); RLIMIT_NPROC counts the
    # sandbox user's processes in the sandbox's own user namespace (Linux 5.14+).
    processes: int = 64
    # RLIMIT_CPU per process: a hard stop even if signals are ignored. The whole
    # sandbox's CPU time is counted by the cgroup (Sandbox.cpu_seconds).
    cpu_seconds: int = 600
    file_bytes: int = 64 * MiB  # RLIMIT_FSIZE: the largest file it may write
    open_files: int = 256  # RLIMIT_NOFILE
    tmp_bytes: int = 64 * MiB  # size of each private tmpfs: /tmp and home
    shm_bytes: int = 16 * MiB  # size of /dev/shm (the rest of /dev is read-only)

    def prlimit_args(self) -> list[str]:
        """``prlimit ... --``: the per-process limits, set inside the sandbox."""
        return [
            "prlimit",
            f"--as={self.memory_bytes}",
            f"--nproc={self.processes}",
            f"--cpu={self.cpu_seconds}",
            f"--fsize={self.file_bytes}",
            f"--nofile={self.open_files}",
            "--core=0",  # no core dumps: they would reach the host's crash handler
            "--",
        ]


# --- cgroups ------------------------------------------------------------------------

# What a sandbox cgroup does, by v1 controller: cap memory, cap processes, count CPU.
CONTROLLERS = {"memory": "memory", "pids": "pids", "cpuacct": "cpu"}


@dataclass(frozen=True)
class _Hierarchy:
    """One mounted cgroup hierarchy, and the grader's own cgroup in it."""

    version: int  # 1 or 2
    own: Path  # the grader's cgroup folder: sandbox cgroups are made below it
    jobs: frozenset[str]  # "memory", "pids", "cpu": what a child of ``own`` can do


def _unescape(path: str) -> str:
    """mountinfo writes spaces and the like as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), path)


def _v2_jobs(base: Path, enable: bool) -> frozenset[str]:
    """What a sandbox cgroup below ``base`` can do in a cgroup v2 tree.

    ``cpu.stat`` exists in every v2 cgroup. ``memory`` and ``pids`` must be enabled
    in ``base``'s ``cgroup.subtree_control``; with ``enable`` this tries to (which
    fails, EBUSY, when ``base`` holds processes and is not the root).
    """
    control = base / "cgroup.subtree_control"
    try:
        available = set((base / "cgroup.controllers").read_text().split())
        for name in ("memory", "pids"):
            if enable and name in available and name not in control.read_text().split():
                try:
                    control.write_text(f"+{name}")
                except OSError:
                    pass
        enabled = set(control.read_text().split()) & {"memory", "pids"}
    except OSError:
        return frozenset()
    return frozenset(enabled | {"cpu"})


def _v2_hierarchy(own: Path, root: Path) -> _Hierarchy:
    """Where sandbox cgroups go in a v2 tree: below the grader's own cgroup where it
    delegates memory and pids (a systemd unit with ``Delegate=yes``, a container
    whose processes sit in a leaf), else below the tree's root (a root grader in a
    login session, whose session scope holds processes and cannot delegate)."""
    best = _Hierarchy(2, own, frozenset())
    for base in dict.fromkeys([own, root]):
        # Only the grader's own cgroup is asked to enable controllers; the root is
        # used as the system set it up.
        jobs = _v2_jobs(base, base == own) if os.access(base, os.W_OK) else frozenset()
        if len(jobs) > len(best.jobs):
            best = _Hierarchy(2, base, jobs)
    return best


def _parse_hierarchies(mountinfo: str, cgroup: str) -> tuple[_Hierarchy, ...]:
    """The hierarchies a sandbox uses, from ``/proc/self/mountinfo`` and ``.../cgroup``.

    Each job comes from one hierarchy: v1 where it is mounted (hybrid systems), else
    v2.
    """
    own: dict[str, str] = {}  # controller name ("" for v2) -> the grader's cgroup
    for line in cgroup.splitlines():
        _, names, path = line.split(":", 2)
        for name in names.split(",") if names else [""]:
            own[name] = path
    found: list[_Hierarchy] = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if len(fields) < 5 or len(tail) < 3 or tail[0] not in ("cgroup", "cgroup2"):
            continue
        root, mountpoint = _unescape(fields[3]).rstrip("/"), Path(_unescape(fields[4]))
        names = [n for n in CONTROLLERS if n in tail[2].split(",")]
        if tail[0] == "cgroup":
            path = own.get(names[0]) if names else None
        else:
            path = own.get("")
        if path is None or not (path + "/").startswith(root + "/"):
            continue  # not our hierarchy, or our cgroup lies outside this mount
        folder = mountpoint / path[len(root):].lstrip("/")
        if not os.access(folder, os.W_OK):
            continue
        if tail[0] == "cgroup":
            jobs = frozenset(CONTROLLERS[n] for n in names)
            found.append(_Hierarchy(1, folder, jobs))
        else:
            found.append(_v2_hierarchy(folder, mountpoint))
    chosen, taken = [], set()
    for hierarchy in sorted(found, key=lambda h: h.version):
        jobs = hierarchy.jobs - taken
        if jobs:
            chosen.append(_Hierarchy(hierarchy.version, hierarchy.own, frozenset(jobs)))
            taken |= jobs
    return tuple(chosen)


@functools.lru_cache(maxsize=1)
def _hierarchies() -> tuple[_Hierarchy, ...]:
    """The grader's cgroup hierarchies (cached: they do not change while it runs)."""
    try:
        return _parse_hierarchies(Path("/proc/self/mountinfo").read_text(),
                                  Path("/proc/self/cgroup").read_text())
    except OSError:
        return ()


class _Cgroup:
    """The cgroup folders of one sandbox, one per hierarchy, with its limits written.

    A job whose folder or limit cannot be made is left out; ``jobs`` says what is in
    force, and the per-process rlimits remain the fallback.
    """

    def __init__(self, limits: Limits, hierarchies: Sequence[_Hierarchy] | None = None):
        self.owner = os.getpid()
        self.name = f"sbx-{self.owner}-{uuid.uuid4().hex[:12]}"
        self.folders: dict[str, Path] = {}  # job -> folder
        for hierarchy in _hierarchies() if hierarchies is None else hierarchies:
            folder = hierarchy.own / "cnn_course" / self.name
            try:
                self._make(folder, hierarchy)
                for job in hierarchy.jobs:
                    self._limit(folder, job, hierarchy.version, limits)
            except OSError:
                _remove(folder)
                continue
            for job in hierarchy.jobs:
                self.folders[job] = folder

    @staticmethod
    def _make(folder: Path, hierarchy: _Hierarchy) -> None:
        folder.parent.mkdir(exist_ok=True)
        if hierarchy.version == 2:  # let the shared parent pass its controllers on
            wanted = hierarchy.jobs & {"memory", "pids"}
            control = folder.parent / "cgroup.subtree_control"
            missing = wanted - set(control.read_text().split())
            if missing:
                control.write_text(" ".join(f"+{n}" for n in sorted(missing)))
        folder.mkdir()

    @staticmethod
    def _limit(folder: Path, job: str, version: int, limits: Limits) -> None:
        if job == "pids":
            (folder / "pids.max").write_text(str(limits.processes))
        elif job == "memory" and version == 1:
            (folder / "memory.limit_in_bytes").write_text(str(limits.memory_bytes))
            _try_write(folder / "memory.memsw.limit_in_bytes", limits.memory_bytes)
        elif job == "memory":
            (folder / "memory.max").write_text(str(limits.memory_bytes))
            _try_write(folder / "memory.swap.max", 0)  # swap would dodge the limit

    @property
    def jobs(self) -> frozenset[str]:
        return frozenset(self.folders)

    def procs_files(self) -> list[Path]:
        return [f / "cgroup.procs" for f in sorted(set(self.folders.values()))]

    def cpu_seconds(self) -> float | None:
        folder = self.folders.get("cpu")
        if folder is None:
            return None
        try:
            if (folder / "cpuacct.usage").exists():  # v1: nanoseconds
                return int((folder / "cpuacct.usage").read_text()) / 1e9
            stats = dict(line.split() for line in (folder / "cpu.stat").read_text()
                         .splitlines())
            return int(stats["usage_usec"]) / 1e6
        except (OSError, KeyError, ValueError):
            return None

    def members(self) -> set[int]:
        pids = set()
        for procs in self.procs_files():
            try:
                pids |= {int(p) for p in procs.read_text().split()}
            except OSError:
                pass
        return pids

    def kill(self, wait: float = 5.0) -> None:
        """SIGKILL every process in the sandbox, until none is left (or ``wait`` s)."""
        deadline = time.monotonic() + wait
        while (pids := self.members()) and time.monotonic() < deadline:
            for folder in set(self.folders.values()):
                if (folder / "cgroup.kill").exists():  # v2, Linux 5.14+: all at once
                    _try_write(folder / "cgroup.kill", 1)
            for pid in pids:
                _kill_member(pid, self.name)
            time.sleep(0.01)

    def close(self) -> None:
        """Kill what is left, then remove the folders (only in the process that made
        them: a forked child must not clean up its parent's sandbox)."""
        if os.getpid() == self.owner:
            self.kill()
            self.remove()

    def remove(self, wait: float = 5.0) -> None:
        deadline = time.monotonic() + wait
        for folder in set(self.folders.values()):
            while not _remove(folder) and time.monotonic() < deadline:
                time.sleep(0.02)  # killed processes leave the cgroup a moment later
        self.folders = {}


def counting_cgroup() -> _Cgroup | None:
    """For benchmarks: a new cgroup that only counts CPU, or None where none can be made.

    Write a process's pid into its ``procs_files()``; ``cpu_seconds()`` then counts
    that process and everything it starts, its sandboxes included (they are made
    below the cgroup their grader is in), even processes nobody waits for, which
    ``getrusage(RUSAGE_CHILDREN)`` misses (a sandboxed kernel is killed, not waited
    for). ``close()`` it afterwards. On cgroup v2 a sandbox made below it may lose its
    memory and process caps (a cgroup that holds processes cannot pass them on).
    """
    counting = [_Hierarchy(h.version, h.own, frozenset({"cpu"}))
                for h in _hierarchies() if "cpu" in h.jobs]
    group = _Cgroup(Limits(), hierarchies=counting) if counting else None
    return group if group is not None and "cpu" in group.jobs else None


def _try_write(path: Path, value: object) -> bool:
    try:
        path.write_text(str(value))
        return True
    except OSError:
        return False


def _remove(folder: Path) -> bool:
    """rmdir a cgroup folder and the cgroups below it (a grader's sandboxes, where a
    grader ran inside it: see counting_cgroup); True when it is gone."""
    try:
        for child in folder.iterdir():
            if child.is_dir():
                _remove(child)
        folder.rmdir()
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return True


def _kill_member(pid: int, cgroup_name: str) -> None:
    """SIGKILL ``pid`` if it is still in the sandbox's cgroup.

    A pidfd pins the process, so a pid reused by an unrelated process between reading
    ``cgroup.procs`` and the kill is never signalled.
    """
    try:
        pidfd = os.pidfd_open(pid)
    except (AttributeError, OSError):
        pidfd = None
    try:
        if cgroup_name not in Path(f"/proc/{pid}/cgroup").read_text():
            return
        if pidfd is None:
            os.kill(pid, signal.SIGKILL)
        else:
            signal.pidfd_send_signal(pidfd, signal.SIGKILL)
    except OSError:
        pass  # already gone
    finally:
        if pidfd is not None:
            os.close(pidfd)


# --- the sandbox --------------------------------------------------------------------

def _python_roots() -> list[Path]:
    """Folders the full Python environment needs: interpreter, venv, cnn_course."""
    import cnn_course

    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(cnn_course.__file__).parent}
    for entry in sys.path:  # e.g. extra site folders; skip the repository root
        path = Path(entry or ".").resolve()
        if path.is_dir() and "site-packages" in path.parts:
            roots.add(path)
    return _outermost(roots)


def _outermost(paths) -> list[Path]:
    """``paths`` resolved, without those inside another one."""
    kept: list[Path] = []
    for path in sorted({Path(p).resolve() for p in paths}, key=lambda p: len(p.parts)):
        if not any(path.is_relative_to(k) for k in kept):
            kept.append(path)
    return kept


def _system_binds() -> list[str]:
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "lib", "lib32", "lib64", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    return args


def drops_privileges() -> bool:
    """True when the grader is root, so that the sandbox runs as SANDBOX_UID."""
    return os.geteuid() == 0


def _setpriv() -> list[str]:
    """Drop root to the sandbox user before bubblewrap starts (none when not root)."""
    if not drops_privileges():
        return []
    return ["setpriv", f"--reuid={SANDBOX_UID}", f"--regid={SANDBOX_UID}",
            "--clear-groups", "--no-new-privs", "--inh-caps=-all",
            "--bounding-set=-all", "--"]


def _permits(info: os.stat_result, bits: str) -> bool:
    """Does the sandbox user (uid and only group 65534) have ``bits`` ("rwx") here?"""
    if info.st_uid == SANDBOX_UID:
        shift = 6
    elif info.st_gid == SANDBOX_UID:
        shift = 3
    else:
        shift = 0
    need = sum({"r": 4, "w": 2, "x": 1}[b] for b in bits) << shift
    return info.st_mode & need == need


def _check_usable(path: Path, writable: bool) -> None:
    """Fail early, with the reason, when the sandbox user could not use ``path``."""
    if not drops_privileges():
        return
    info = path.stat()
    bits = ("rw" if writable else "r") + ("x" if stat.S_ISDIR(info.st_mode) else "")
    if not _permits(info, bits):
        raise PermissionError(
            f"the sandbox runs as uid {SANDBOX_UID}, which needs {bits!r} on {path} "
            f"(mode {stat.filemode(info.st_mode)}, owner uid {info.st_uid}): make it "
            f"{'0o777' if writable else '0o755'}, inside a folder only root can enter")


STAGE = "/dev/shm"  # where, in a private mount namespace, hidden sources are staged


class _Stage:
    """Host paths the sandbox user cannot reach, staged for bubblewrap by root.

    bubblewrap runs as the sandbox user, so it can only bind what that user can reach
    on the host; the interpreter may live under ``/root`` (0700), and the sandboxes'
    host folders sit in root-only (0700) temporary folders on purpose. For those,
    root first enters a private mount namespace, mounts a small tmpfs on ``STAGE``
    (the host's own ``/dev/shm`` is untouched) and binds each source there; bubblewrap
    then binds from the staged copy. The mounts vanish with the namespace: nothing on
    the host changes, and no other host user gains a path to these folders.
    """

    def __init__(self) -> None:
        self.paths: list[Path] = []

    def source(self, path: Path) -> str:
        """The path bubblewrap should bind from for host ``path``."""
        path = path.resolve()
        if not drops_privileges() or all(_permits(p.stat(), "x") for p in path.parents):
            return str(path)
        if path not in self.paths:
            self.paths.append(path)
        return f"{STAGE}/{self.paths.index(path)}"

    def prefix(self) -> list[str]:
        if not self.paths:
            return []
        steps = [f"mount -t tmpfs -o size=64k,mode=0755,nosuid,nodev,noexec "
                 f"cnn-course-stage {STAGE}"]
        for i, path in enumerate(self.paths):
            staged = f"{STAGE}/{i}"
            steps.append(f"mkdir {staged}" if path.is_dir() else f": > {staged}")
            steps.append(f"mount --bind {shlex.quote(str(path))} {staged}")
        script = " && ".join([*steps, 'exec "$@"'])
        return ["unshare", "--mount", "--propagation", "private", "--",
                "/bin/sh", "-c", script, "cnn-course-stage"]


class Sandbox:
    """One sandbox: a cgroup, and the command prefix that starts processes inside it.

    ::

        box = Sandbox(limits, readonly=[job], writable=[ipc], binds={target: host})
        argv = box.command([python, "-I", "script.py"])  # run it with subprocess
        box.cpu_seconds()  # CPU time of everything in the sandbox so far
        box.close()        # kill what is left, remove the cgroup

    ``readonly`` and ``writable`` host paths are bound at their own paths (writable
    ones are on the host's disk: the caller caps them). ``binds`` maps a path in the
    sandbox to a host path bound read-only over it (to add or replace files, e.g. a
    stub package), or to ``None`` for an empty read-only folder that hides what is
    there; they are applied in order, after the Python environment. ``full_python``
    binds the grader's interpreter, virtual environment and ``cnn_course`` read-only;
    without it the caller brings an interpreter through ``binds`` (see
    :func:`runner_environment`). ``pid1`` runs the command as the PID namespace's
    init, which nothing else in the sandbox can signal.

    Several commands may run in one sandbox; they share its limits.
    """

    def __init__(self, limits: Limits = Limits(), *, readonly: Sequence[Path] = (),
                 writable: Sequence[Path] = (),
                 binds: Mapping[str | Path, str | Path | None] | None = None,
                 pid1: bool = False, full_python: bool = True):
        self.limits = limits
        self.readonly = [Path(p) for p in readonly]
        self.writable = [Path(p) for p in writable]
        self.binds = {Path(t): (None if h is None else Path(h))
                      for t, h in (binds or {}).items()}
        self.pid1 = pid1
        self.full_python = full_python
        self._cgroup: _Cgroup | None = _Cgroup(limits)
        # A sandbox that is never closed is still cleaned up when it is collected,
        # or when the grader exits.
        self._finalizer = weakref.finalize(self, self._cgroup.close)

    @property
    def per_sandbox(self) -> frozenset[str]:
        """What the cgroup enforces here: some of "memory", "pids", "cpu"."""
        return self._cgroup.jobs if self._cgroup else frozenset()

    def command(self, argv: Sequence[str]) -> list[str]:
        """``argv``, to be run inside the sandbox.

        The prefix is: a root shell joins the cgroup (before anything else runs);
        root stages the sources the sandbox user cannot reach (:class:`_Stage`);
        ``setpriv`` drops to the sandbox user; ``bwrap`` builds the sandbox;
        ``prlimit`` sets the per-process limits and runs ``argv``.
        """
        for path in self.readonly:
            _check_usable(path, writable=False)
        for path in self.writable:
            _check_usable(path, writable=True)
        stage = _Stage()
        bwrap = self._bwrap(stage.source)
        return [*self._join(), *stage.prefix(), *_setpriv(), *bwrap,
                *self.limits.prlimit_args(), *map(str, argv)]

    def _join(self) -> list[str]:
        procs = self._cgroup.procs_files() if self._cgroup else []
        if not procs:
            return []
        joins = [f"echo $$ > {shlex.quote(str(p))}" for p in procs]
        script = " && ".join([*joins, 'exec "$@"'])
        return ["/bin/sh", "-c", script, "cnn-course-sandbox"]

    def _bwrap(self, source) -> list[str]:
        limits = self.limits
        # The private tmpfs mounts come first: binds below may live under /tmp or
        # /home (a checkout in /tmp, say) and must not be hidden by them.
        args = ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns",
                "--die-with-parent", "--new-session", "--cap-drop", "ALL",
                "--dev", "/dev", "--size", str(limits.shm_bytes), "--tmpfs", "/dev/shm",
                "--remount-ro", "/dev", "--proc", "/proc",
                "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
                "--size", str(limits.tmp_bytes), "--tmpfs", HOME,
                *_system_binds()]
        if self.full_python:
            for root in _python_roots():
                args += ["--ro-bind", source(root), str(root)]
        hidden = []
        for target, host in self.binds.items():
            if host is None:  # an empty folder, read-only once the binds below are in
                args += ["--size", str(MiB), "--tmpfs", str(target)]
                hidden.append(str(target))
            else:
                args += ["--ro-bind", source(host), str(target)]
        for path in self.readonly:
            args += ["--ro-bind", source(path), str(path)]
        for path in self.writable:
            args += ["--bind", source(path), str(path)]
        for target in hidden:
            args += ["--remount-ro", target]
        # bubblewrap's own root is a tmpfs without a size limit: read-only, so the
        # only writable places are the capped tmpfs mounts and the writable binds.
        args += ["--remount-ro", "/"]
        if self.pid1:
            args.append("--as-pid-1")
        return args + ["--chdir", HOME, "--clearenv", *self._env(), "--"]

    def _env(self) -> list[str]:
        path = ["/usr/local/bin", "/usr/bin", "/bin"]
        if self.full_python:
            path.insert(0, str(Path(sys.prefix) / "bin"))
        env = {"PATH": ":".join(path), "HOME": HOME, "TMPDIR": "/tmp",
               "LANG": "C.UTF-8", "IPYTHONDIR": "/tmp/.ipython",
               "MPLCONFIGDIR": "/tmp/.matplotlib", "MPLBACKEND": "Agg",
               "OMP_NUM_THREADS": "1"}
        env.update({k: v for k, v in os.environ.items()
                    if k.startswith(PASS_ENV_PREFIX)})
        return [a for k, v in env.items() for a in ("--setenv", k, v)]

    def cpu_seconds(self) -> float | None:
        """CPU seconds used so far by everything in the sandbox, finished processes
        included; ``None`` where no cgroup counts them. Safe to ask from another
        thread while the sandbox closes."""
        group = self._cgroup  # read once: close() may clear it meanwhile
        return group.cpu_seconds() if group else None

    def kill(self) -> None:
        """SIGKILL everything in the sandbox (needs a cgroup; without one, killing
        the process that ``command`` started ends its PID namespace and the rest)."""
        if self._cgroup is not None:
            self._cgroup.kill()

    def close(self) -> None:
        """Kill whatever is left and remove the cgroup. Safe to call twice."""
        if self._cgroup is not None:
            self._finalizer()  # _Cgroup.close, once
            self._cgroup = None

    def __enter__(self) -> Sandbox:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# --- a minimal Python for the grader's runner ---------------------------------------

@dataclass(frozen=True)
class RunnerEnv:
    """A Python in the sandbox that sees the standard library and chosen packages only.

    Pass ``binds`` to ``Sandbox(..., binds=env.binds, full_python=False)`` and start
    scripts with :meth:`argv` (``python -I -S``: no site-packages, no environment
    variables, no script folder; ``sys_path`` is added by a bootstrap). The other
    site-packages folders (the venv's, the base interpreter's, the system's) are
    hidden by empty folders, so ``sys.path.append`` cannot reach them either.
    """

    python: str  # the base interpreter, at its own path
    sys_path: tuple[str, ...]  # site folders holding the allowed packages
    binds: dict[str, str | None]  # sandbox path -> host path (None: hidden)
    distributions: tuple[str, ...]  # the allowed packages' closure, by name

    def argv(self, script: str | Path, *args: object) -> list[str]:
        """``python -I -S`` running ``script`` with ``args`` as ``sys.argv[1:]``."""
        boot = (f"import runpy, sys; sys.path.extend({list(self.sys_path)!r}); "
                "del sys.argv[0]; runpy.run_path(sys.argv[0], run_name='__main__')")
        return [self.python, "-I", "-S", "-c", boot, str(script), *map(str, args)]


def _site_folders_to_hide() -> list[Path]:
    """Every site-packages-like folder a sandbox could see: base, venv, system."""
    found = set()
    for prefix in {sys.base_prefix, sys.prefix}:
        scheme = {"base": prefix, "platbase": prefix}
        for key in ("purelib", "platlib"):
            found.add(Path(sysconfig.get_paths(vars=scheme)[key]))
    for pattern in ("usr/lib/python3*/*-packages", "usr/lib64/python3*/*-packages",
                    "usr/local/lib/python3*/*-packages"):
        found.update(Path("/").glob(pattern))
    return sorted(p.resolve() for p in found if p.is_dir())


def _dists_by_name(path: Sequence[str]) -> dict[str, importlib.metadata.Distribution]:
    dists: dict[str, importlib.metadata.Distribution] = {}
    for dist in importlib.metadata.distributions(path=list(path)):
        name = dist.metadata["Name"]
        if name:
            dists.setdefault(canonicalize_name(name), dist)  # the first on path wins
    return dists


def _top_names(dist: importlib.metadata.Distribution) -> set[str]:
    """The top-level import names a distribution installs."""
    names = {f.parts[0].split(".")[0] for f in dist.files or () if f.parts}
    return names | set((dist.read_text("top_level.txt") or "").split())


def _closure(allow: Sequence[str], dists) -> list[str]:
    """Distribution names of ``allow`` (import names) and all they require."""
    tops = {key: _top_names(dist) for key, dist in dists.items()}
    todo: list[tuple[str, frozenset[str]]] = []
    for name in allow:
        providers = [key for key in dists if name in tops[key]]
        if not providers:
            raise LookupError(f"{name!r} is not installed in a site-packages folder on "
                              "the grader's path, so the runner cannot be given it")
        todo += [(p, frozenset()) for p in providers]
    seen: dict[str, set[str]] = {}
    while todo:
        key, extras = todo.pop()
        if key in seen and extras <= seen[key]:
            continue
        seen.setdefault(key, set()).update(extras)
        for text in dists[key].requires or ():
            try:
                req = Requirement(text)
            except InvalidRequirement:
                continue
            wanted = req.marker is None or any(
                req.marker.evaluate({"extra": e}) for e in {"", *extras})
            dep = canonicalize_name(req.name)
            if wanted and dep in dists:  # a missing optional dependency is skipped
                todo.append((dep, frozenset(req.extras)))
    return sorted(seen)


def _cover(wanted: set[tuple[str, ...]], foreign: set[tuple[str, ...]]
           ) -> list[tuple[str, ...]]:
    """The fewest paths that hold every ``wanted`` file and no ``foreign`` one."""
    heads: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for parts in wanted:
        heads[parts[0]].add(parts[1:])
    others: dict[str, set[tuple[str, ...]]] = defaultdict(set)
    for parts in foreign:
        if parts[0] in heads:
            others[parts[0]].add(parts[1:])
    cover = []
    for head, rest in sorted(heads.items()):
        if head not in others or () in rest or () in others[head]:
            cover.append((head,))  # owned by allowed packages only (or a file)
        else:  # a folder shared with other packages, e.g. a namespace package
            cover += [(head, *p) for p in _cover(rest, others[head])]
    return cover


@functools.lru_cache(maxsize=16)
def _runner_environment(allow: tuple[str, ...], path: tuple[str, ...]) -> RunnerEnv:
    dists = _dists_by_name(path)
    chosen = _closure(allow, dists)
    by_site: dict[Path, list[str]] = defaultdict(list)
    for key, dist in dists.items():
        by_site[Path(dist.locate_file("")).resolve()].append(key)
    binds: dict[str, str | None] = {}
    base = Path(sys.base_prefix).resolve()
    if not base.is_relative_to("/usr"):
        binds[str(base)] = str(base)
    for folder in _site_folders_to_hide():
        binds[str(folder)] = None
    sys_path = []
    for site in sorted(by_site, key=lambda s: _path_rank(s, path)):
        keys = by_site[site]
        wanted = _files([dists[k] for k in keys if k in chosen])
        foreign = _files([dists[k] for k in keys if k not in chosen])
        cover = [site.joinpath(*p) for p in _cover(wanted, foreign)]
        cover = [str(p) for p in cover if p.exists()]  # RECORD may list removed files
        if cover:
            binds.update({p: p for p in cover})
            sys_path.append(str(site))
    python = os.path.realpath(getattr(sys, "_base_executable", None) or sys.executable)
    return RunnerEnv(python, tuple(sys_path), binds, tuple(chosen))


def _path_rank(site: Path, path: Sequence[str]) -> int:
    resolved = [Path(p or ".").resolve() for p in path]
    return resolved.index(site) if site in resolved else len(resolved)


def _files(dists) -> set[tuple[str, ...]]:
    """The distributions' files, as path parts relative to their site folder."""
    files = set()
    for dist in dists:
        if dist.files is None:  # no RECORD: the package folders and the metadata
            names = (dist.read_text("top_level.txt") or "").split()
            meta = getattr(dist, "_path", None)  # the .dist-info or .egg-info folder
            files |= {(n,) for n in names} | ({(Path(meta).name,)} if meta else set())
        else:
            files |= {f.parts for f in dist.files if f.parts and f.parts[0] != ".."}
    return files


def runner_environment(allow: Sequence[str], path: Sequence[str] | None = None
                       ) -> RunnerEnv:
    """A Python for the trusted runner: the standard library and ``allow`` only.

    ``allow`` names import packages (``("numpy",)``, ``("numpy", "torch")``); each
    brings its distribution's files (``numpy`` brings ``numpy.libs``) and, from the
    installed metadata, every distribution it requires, recursively (``torch``
    brings ``sympy``, ``networkx``, ...). Distributions are looked up on ``path``
    (default: the grader's ``sys.path``). Cached per arguments.
    """
    path = tuple(sys.path if path is None else path)
    env = _cached_on_disk(tuple(allow), path)
    return dataclasses.replace(env, binds=dict(env.binds))  # keep the cached one intact


def _environment_key(allow: tuple[str, ...], path: tuple[str, ...]) -> str:
    """What the environment depends on: the path, and what is installed on it."""
    import hashlib

    parts = [repr(allow), repr(path), sys.version]
    for entry in path:
        folder = Path(entry or ".")
        try:  # a site folder: its distributions (names carry their versions)
            installed = sorted(p.name for p in folder.iterdir()
                               if p.name.endswith((".dist-info", ".egg-info", ".egg-link")))
        except OSError:
            continue
        if installed:
            parts.append(f"{folder}:{installed}")
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:24]


def _cache_folder() -> Path:
    """The user's cnn_course cache folder, as :func:`cnn_course.data.sources.cache_dir`
    has it (not imported: that package brings torch into the grader)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "cnn_course"


@functools.lru_cache(maxsize=16)
def _cached_on_disk(allow: tuple[str, ...], path: tuple[str, ...]) -> RunnerEnv:
    """The environment, computed once per installation (it takes seconds: every
    installed file is looked at) and kept in the user's cache folder."""
    import json

    file = _cache_folder() / "runner-env" / f"{_environment_key(allow, path)}.json"
    try:
        data = json.loads(file.read_text())
        return RunnerEnv(data["python"], tuple(data["sys_path"]), data["binds"],
                         tuple(data["distributions"]))
    except (OSError, ValueError, KeyError, TypeError):
        pass
    env = _runner_environment(allow, path)
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        part = file.with_suffix(f".{os.getpid()}.part")
        part.write_text(json.dumps({"python": env.python, "sys_path": env.sys_path,
                                    "binds": env.binds,
                                    "distributions": env.distributions}))
        os.replace(part, file)
    except OSError:
        pass
    return env


# --- what is in force ---------------------------------------------------------------

@dataclass(frozen=True)
class Isolation:
    """Which isolation grading runs under; printed at the start of every batch."""

    sandboxed: bool
    description: str
    per_sandbox: frozenset[str] = field(default_factory=frozenset)


def _user_namespaces_off() -> str | None:
    """Why unprivileged user namespaces are off here, or None."""
    checks = {"/proc/sys/user/max_user_namespaces": "0",
              "/proc/sys/kernel/unprivileged_userns_clone": "0",
              "/proc/sys/kernel/apparmor_restrict_unprivileged_userns": "1"}
    for path, off in checks.items():
        try:
            if Path(path).read_text().strip() == off:
                return f"{path} is {off}"
        except OSError:
            pass
    return None


def _describe(limits: Limits, per_sandbox: frozenset[str], version: str) -> str:
    """What :func:`detect` prints: the user, and which limits hold where."""
    if drops_privileges():
        user = f"uid {SANDBOX_UID} (nobody, no groups, no new privileges)"
    else:
        user = f"the grader's own uid {os.geteuid()}"
    memory = f"memory {limits.memory_bytes // MiB} MiB"
    in_cgroup = {"memory": f"{memory} (tmpfs included)",
                 "pids": f"{limits.processes} processes", "cpu": "CPU time counted"}
    fallback = {"memory": f"{memory} of address space, for each process",
                "pids": f"{limits.processes} processes per user namespace"}
    cgroup = [text for job, text in in_cgroup.items() if job in per_sandbox]
    rlimit = [text for job, text in fallback.items() if job not in per_sandbox]
    rlimit += [f"CPU {limits.cpu_seconds} s",
               f"file size {limits.file_bytes // MiB} MiB",
               f"{limits.open_files} open files", "no core dumps"]
    if "memory" in per_sandbox:
        rlimit.insert(0, f"address space {limits.memory_bytes // MiB} MiB")
    return (
        f"sandboxed with {version}, as {user}: no network, own PID namespace, nothing "
        f"of the host but the read-only system and Python; private "
        f"{limits.tmp_bytes // MiB} MiB /tmp and home, {limits.shm_bytes // MiB} MiB "
        f"/dev/shm, the rest read-only. Per sandbox (cgroup): "
        f"{', '.join(cgroup) or 'nothing, no cgroup can be made here'}. Per process "
        f"(rlimit, the fallback where no cgroup does it): {', '.join(rlimit)}. "
        f"Checked once; the result is cached for this grader process."
    )


@functools.lru_cache(maxsize=1)
def detect() -> Isolation:
    """Check once that the sandbox can be built here, and say what is in force.

    The check runs what grading runs: the full Python, as the sandbox user, with a
    folder bound from inside a root-only temporary folder (staged when root).
    """
    tools = ["bwrap", "prlimit"]
    if drops_privileges():
        tools += ["setpriv", "unshare", "mount"]
    for tool in tools:
        if not shutil.which(tool):
            return Isolation(False, f"no sandbox: {tool} is not installed")
    off = _user_namespaces_off()
    if off:
        return Isolation(False, f"no sandbox: user namespaces are disabled ({off})")
    expected = str(SANDBOX_UID if drops_privileges() else os.geteuid())
    code = "import os, sys; print(os.getuid(), open(sys.argv[1]).read())"
    with tempfile.TemporaryDirectory(prefix="cnn-course-detect-") as tmp:
        job = Path(tmp) / "job"
        job.mkdir(mode=0o755)
        os.chmod(job, 0o755)
        (job / "probe.txt").write_text("ok")
        os.chmod(job / "probe.txt", 0o644)
        with Sandbox(Limits(), readonly=[job]) as box:
            probe_file = str(job / "probe.txt")
            cmd = box.command([sys.executable, "-I", "-c", code, probe_file])
            try:
                run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
            except (OSError, subprocess.TimeoutExpired) as err:
                return Isolation(False, f"no sandbox: it failed to start ({err})")
            per_sandbox = box.per_sandbox
    if run.returncode != 0 or run.stdout.split() != [expected, "ok"]:
        why = (run.stderr.strip().splitlines() or [f"printed {run.stdout.strip()!r}"])
        return Isolation(False, f"no sandbox: the sandbox failed here ({why[-1]})")
    version = subprocess.run(["bwrap", "--version"], capture_output=True,
                             text=True).stdout.strip() or "bubblewrap"
    return Isolation(True, _describe(Limits(), per_sandbox, version), per_sandbox)


# --- the notebook kernel ------------------------------------------------------------

class SandboxKernelClient(AsyncKernelClient):
    """jupyter_client's client, less two fixed waits per kernel (issue 19).

    ``wait_for_ready`` asks for ``kernel_info`` until the kernel answers and a message
    reaches IOPub (its subscription is live), as jupyter_client's does; jupyter_client
    then reads IOPub until it has been silent for 0.2 s, which is 0.2 s of idle time
    per submission. Here what is already queued is dropped without waiting: nbclient
    reads only IOPub messages that answer its own requests, so a late status message
    of the start-up is skipped there anyway.
    """

    async def _async_wait_for_ready(self, timeout: float | None = None) -> None:
        deadline = time.monotonic() + (float("inf") if timeout is None else timeout)
        while True:
            self.kernel_info()
            try:
                reply = await self.shell_channel.get_msg(timeout=1)
            except queue.Empty:
                reply = None
            if reply is not None and reply["msg_type"] == "kernel_info_reply":
                try:  # the kernel's status for this request shows IOPub is connected
                    await self.iopub_channel.get_msg(timeout=0.2)
                except queue.Empty:
                    pass  # not subscribed yet: ask again
                else:
                    self._handle_kernel_info_reply(reply)
                    break
            if not await self._async_is_alive():
                raise RuntimeError("Kernel died before replying to kernel_info")
            if time.monotonic() > deadline:
                raise RuntimeError(f"Kernel didn't respond in {timeout:g} seconds")
        while await self.iopub_channel.msg_ready():  # drop what is queued, no waiting
            await self.iopub_channel.get_msg(timeout=0)

    wait_for_ready = _async_wait_for_ready


class SandboxKernelManager(AsyncKernelManager):
    """A Jupyter kernel started inside the sandbox, talking over Unix sockets.

    The kernel runs in the full virtual environment (it needs ipykernel). The sandbox
    has no network, so its ZMQ sockets are files in ``<sandbox_dir>/ipc``, a host
    folder bound writable; when the grader is root that folder is root's and becomes
    read-only to the sandbox user as soon as the sockets exist. The connection file
    (with the message-signing key) is in ``<sandbox_dir>/connection``, bound
    read-only: the kernel reads it, nothing in the sandbox can change it. Interrupts
    go through the control channel (``interrupt_mode = "message"``), since signals
    to bubblewrap do not reach the kernel.
    """

    sandbox_dir: Path | None = None
    sandbox_limits: Limits = Limits()
    sandbox: Sandbox | None = None
    client_factory = Type(SandboxKernelClient, klass=AsyncKernelClient)

    @property
    def ipc_dir(self) -> Path:
        return self.sandbox_dir / "ipc"

    def write_connection_file(self, **kw) -> None:
        super().write_connection_file(**kw)
        if drops_privileges():  # root's; the sandbox user may read it, never write it
            os.chmod(self.connection_file, 0o644)

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        assert self.sandbox_dir is not None, "call prepare_kernel_manager first"
        if self.sandbox is None:
            self.sandbox = Sandbox(self.sandbox_limits,
                                   readonly=[Path(self.connection_file).parent],
                                   writable=[self.ipc_dir])
        else:  # a restart: nothing of the old kernel may linger
            self.sandbox.kill()
        if drops_privileges():
            os.chmod(self.ipc_dir, 0o777)  # open for the new sockets, sealed below
        return self.sandbox.command(cmd)

    async def _async_start_kernel(self, **kw):
        kw.pop("cwd", None)  # the kernel starts in the sandbox's own home
        await super()._async_start_kernel(**kw)
        await self._seal_socket_dir()

    start_kernel = _async_start_kernel

    async def _seal_socket_dir(self, wait: float = 30.0) -> None:
        """Once the kernel's five sockets exist, make their folder read-only to it."""
        if not drops_privileges():
            return
        ports = (self.shell_port, self.iopub_port, self.stdin_port, self.control_port,
                 self.hb_port)
        sockets = [Path(f"{self.ip}-{port}") for port in ports]
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if all(p.is_socket() for p in sockets):
                break
            await asyncio.sleep(0.02)
        os.chmod(self.ipc_dir, 0o755)

    async def _async_shutdown_kernel(self, now: bool = False, restart: bool = False):
        try:
            await super()._async_shutdown_kernel(now=now, restart=restart)
        finally:
            if self.sandbox is not None and not restart:
                self.sandbox.close()
                self.sandbox = None

    shutdown_kernel = _async_shutdown_kernel

    async def _async_wait(self, pollinterval: float = 0.1) -> None:
        # After a kill jupyter_client polls for the exit every 0.1 s: a killed sandbox
        # is gone within milliseconds, so the first poll's 0.1 s was all idle (README).
        await super()._async_wait(pollinterval=min(pollinterval, 0.005))

    async def _async_launch_kernel(self, kernel_cmd, **kw):
        # Student output travels over ZMQ; the process's own stdout/stderr (start-up
        # banners, raw writes to fd 1) would only reach the grader's terminal.
        kw["stdout"] = subprocess.DEVNULL
        kw["stderr"] = subprocess.DEVNULL
        return await super()._async_launch_kernel(kernel_cmd, **kw)

    @property
    def kernel_spec(self):
        spec = super().kernel_spec
        if spec is not None:
            spec.interrupt_mode = "message"
        return spec


@functools.lru_cache(maxsize=1)
def matplotlib_font_list() -> Path | None:
    """matplotlib's font list for this installation (``fontlist-v*.json``), or None.

    A sandboxed kernel starts with an empty ``MPLCONFIGDIR``, so its first pyplot
    import would scan every font again (measured in the README). The list is built
    once, by matplotlib itself in a child process, and kept in the user's cache
    folder; the kernel's start-up copies it in (:mod:`.kernel_limits`). Font paths in
    it are the host's, which the sandbox sees read-only at the same places.
    """
    import hashlib

    try:
        version = importlib.metadata.version("matplotlib")
    except importlib.metadata.PackageNotFoundError:
        return None
    key = hashlib.sha256(f"{sys.prefix}:{version}".encode()).hexdigest()[:16]
    folder = _cache_folder() / "matplotlib" / key
    found = sorted(folder.glob("fontlist-v*.json"))
    if not found:
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryDirectory(dir=folder) as tmp:  # then moved: whole
                subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"],
                               env={**os.environ, "MPLCONFIGDIR": tmp, "MPLBACKEND": "Agg"},
                               capture_output=True, timeout=300, check=True)
                for built in Path(tmp).glob("fontlist-v*.json"):
                    os.replace(built, folder / built.name)
        except (OSError, subprocess.SubprocessError):
            return None
        found = sorted(folder.glob("fontlist-v*.json"))
    return found[-1] if found else None


def prepare_kernel_manager(km: SandboxKernelManager, sandbox_dir: Path,
                           limits: Limits = Limits()) -> SandboxKernelManager:
    """Point ``km`` at ``sandbox_dir``, a folder that only the grader may enter.

    ``sandbox_dir`` is made 0700: whatever the sandbox leaves in ``ipc/`` cannot be
    reached, let alone run, by another host user. ``connection/`` (root's, 0755)
    holds the connection file, ``ipc/`` the sockets.
    """
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(sandbox_dir, 0o700)
    connection, ipc = sandbox_dir / "connection", sandbox_dir / "ipc"
    for folder in (connection, ipc):
        folder.mkdir(exist_ok=True)
        os.chmod(folder, 0o755)
    fonts = matplotlib_font_list()
    if fonts is not None:  # read-only beside the connection file; see kernel_limits
        shutil.copyfile(fonts, connection / fonts.name)
        os.chmod(connection / fonts.name, 0o644)  # whatever the grader's umask
    km.sandbox_dir = sandbox_dir
    km.sandbox_limits = limits
    km.transport = "ipc"
    km.ip = str(ipc / "kernel")
    km.connection_file = str(connection / "kernel.json")
    return km
