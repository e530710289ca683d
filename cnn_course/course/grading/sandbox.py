"""Run student code in an OS-level sandbox: bubblewrap plus resource limits.

What a sandboxed process sees and may do:

- the system (``/usr``, ``/etc``), the Python installation, the virtual environment
  and the ``cnn_course`` package, all read-only; nothing else of the host: not the
  course folder, not the solutions or the gradebook, not other students, not the
  instructor's home;
- one working folder of its own, and a small private ``/tmp``;
- no network (a new, empty network namespace), its own process tree (a PID namespace:
  it cannot see or signal the grader), no capabilities;
- ``setrlimit`` limits on memory, processes, CPU time, file size and open files.

Where bubblewrap is missing or user namespaces are disabled, :func:`probe` says why,
and the grader refuses to run student code unless the instructor passes
``--allow-unsandboxed``.
"""

from __future__ import annotations

import asyncio
import functools
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager


@dataclass(frozen=True)
class Limits:
    """Resource limits for one sandboxed process tree."""

    memory_bytes: int = 4 * 2**30  # address space (RLIMIT_AS); torch alone maps ~1.5 GiB
    processes: int = 64  # RLIMIT_NPROC, counted inside the sandbox's user namespace
    cpu_seconds: int = 600  # RLIMIT_CPU: a hard stop even if signals are ignored
    file_bytes: int = 64 * 2**20  # RLIMIT_FSIZE: the largest file it may write
    open_files: int = 256  # RLIMIT_NOFILE
    tmp_bytes: int = 64 * 2**20  # size of the private /tmp

    def prlimit_args(self) -> list[str]:
        return [
            "prlimit",
            f"--as={self.memory_bytes}",
            f"--nproc={self.processes}",
            f"--cpu={self.cpu_seconds}",
            f"--fsize={self.file_bytes}",
            f"--nofile={self.open_files}",
            "--",
        ]


class ProcessLimit:
    """A cgroup ``pids`` limit for one sandbox: the whole process tree, root or not.

    ``RLIMIT_NPROC`` does not bind a grader that runs as root (the kernel exempts the
    initial root user, user namespace or not), so a fork bomb is stopped with the
    cgroup ``pids`` controller wherever the grader may create a cgroup (cgroup v1
    ``/sys/fs/cgroup/pids``, or a writable cgroup v2 tree with ``pids`` enabled).
    """

    ROOTS = (Path("/sys/fs/cgroup/pids"), Path("/sys/fs/cgroup"))

    def __init__(self, max_pids: int):
        self.path: Path | None = None
        base = self.available_root()
        if base is None:
            return
        path = base / "cnn_course" / f"sbx-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        try:
            path.mkdir(parents=True)
            (path / "pids.max").write_text(str(max_pids))
        except OSError:
            return
        self.path = path

    @classmethod
    @functools.lru_cache(maxsize=1)
    def available_root(cls) -> Path | None:
        for root in cls.ROOTS:
            if (root / "pids.max").exists() or not (root / "cgroup.procs").exists():
                continue  # the root itself has no pids.max; a child would
            try:
                probe = root / "cnn_course" / f"probe-{os.getpid()}"
                probe.mkdir(parents=True, exist_ok=True)
                ok = (probe / "pids.max").exists()
                probe.rmdir()
            except OSError:
                continue
            if ok:
                return root
        return None

    def wrap(self, cmd: list[str]) -> list[str]:
        """``cmd``, started inside this cgroup (a shell joins it, then execs)."""
        if self.path is None:
            return cmd
        join = 'echo $$ > "$0/cgroup.procs" && exec "$@"'
        return ["sh", "-c", join, str(self.path), *cmd]

    def close(self) -> None:
        """Kill whatever is left in the cgroup and remove it."""
        if self.path is None:
            return
        for _ in range(50):
            try:
                pids = [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
            except OSError:
                break
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            time.sleep(0.02)
        try:
            self.path.rmdir()
        except OSError:
            pass
        self.path = None


@dataclass(frozen=True)
class Isolation:
    """Which isolation grading runs under; printed at the start of every batch."""

    sandboxed: bool
    description: str


def _python_roots() -> list[Path]:
    """Folders a Python process needs: the installation, the venv, cnn_course itself."""
    import cnn_course

    roots = {Path(sys.base_prefix), Path(sys.prefix), Path(cnn_course.__file__).parent}
    for entry in sys.path:  # e.g. extra site folders; skip the repository root
        path = Path(entry or ".").resolve()
        if path.is_dir() and "site-packages" in path.parts:
            roots.add(path)
    # keep only the outermost folders
    roots = sorted({r.resolve() for r in roots}, key=lambda p: len(p.parts))
    kept: list[Path] = []
    for root in roots:
        if not any(root.is_relative_to(k) for k in kept):
            kept.append(root)
    return kept


HOME = "/home/student"  # the sandbox's working folder: a size-capped tmpfs


def bwrap_args(limits: Limits, *, readonly: list[Path] = (), writable: list[Path] = (),
               hide: dict[Path, Path] | None = None) -> list[str]:
    """The ``bwrap ... prlimit ... --`` prefix for a command run in the sandbox.

    The command starts in ``/home/student``, a tmpfs of ``limits.tmp_bytes`` like
    ``/tmp``: nothing it writes reaches the host's disk. ``readonly`` and ``writable``
    host folders are bound at their own paths; ``hide`` binds a replacement over a
    host path (e.g. a stub package over ``torch``).
    """
    # The private tmpfs mounts come first: binds below may live under /tmp or /home
    # (a checkout in /tmp, say) and must not be hidden by them.
    args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session",
            "--cap-drop", "ALL", "--dev", "/dev", "--proc", "/proc",
            "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
            "--size", str(limits.tmp_bytes), "--tmpfs", HOME,
            "--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "lib", "lib64", "sbin"):
        top = Path("/") / name
        if top.is_symlink():
            args += ["--symlink", os.readlink(top), str(top)]
        elif top.is_dir():
            args += ["--ro-bind", str(top), str(top)]
    for root in _python_roots():
        args += ["--ro-bind", str(root), str(root)]
    for target, replacement in (hide or {}).items():
        args += ["--ro-bind", str(replacement), str(target)]
    for path in readonly:
        args += ["--ro-bind", str(path), str(path)]
    for path in writable:
        args += ["--bind", str(path), str(path)]
    # bubblewrap's own root is a tmpfs without a size limit: make it read-only, so the
    # only writable places are the capped tmpfs mounts and the folders bound above.
    args += ["--remount-ro", "/"]
    args += ["--chdir", HOME,
             "--setenv", "HOME", HOME,
             "--setenv", "TMPDIR", "/tmp",
             "--setenv", "IPYTHONDIR", "/tmp/.ipython",
             "--setenv", "MPLCONFIGDIR", "/tmp/.matplotlib",
             "--setenv", "MPLBACKEND", "Agg",
             "--setenv", "OMP_NUM_THREADS", "1",
             "--unsetenv", "JPY_PARENT_PID",  # the kernel's parent is the sandbox's init
             "--"]
    return args + limits.prlimit_args()


@functools.lru_cache(maxsize=1)
def probe() -> Isolation:
    """Check once that bubblewrap can build the sandbox here, and say what is in force."""
    if not shutil.which("bwrap"):
        return Isolation(False, "no sandbox: bubblewrap (bwrap) is not installed")
    if not shutil.which("prlimit"):
        return Isolation(False, "no sandbox: prlimit (util-linux) is not installed")
    cmd = bwrap_args(Limits()) + [sys.executable, "-c", "print('ok')"]
    try:
        run = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired) as err:
        return Isolation(False, f"no sandbox: bubblewrap failed to start ({err})")
    if run.returncode != 0 or run.stdout.strip() != "ok":
        why = (run.stderr.strip().splitlines() or ["unknown error"])[-1]
        return Isolation(False, f"no sandbox: bubblewrap failed here ({why})")
    version = subprocess.run(["bwrap", "--version"], capture_output=True, text=True).stdout
    pids = ("a cgroup pids limit" if ProcessLimit.available_root()
            else "RLIMIT_NPROC only (no writable pids cgroup: a root grader is exempt)")
    limits = Limits()
    return Isolation(True, (
        f"sandboxed with {version.strip() or 'bubblewrap'}: no network, own PID namespace, "
        "nothing of the host visible but the read-only system and Python, a private "
        f"{limits.tmp_bytes // 2**20} MiB home and /tmp; limits on memory, CPU time and "
        f"file size; processes: {pids}"
    ))


class SandboxKernelManager(AsyncKernelManager):
    """A Jupyter kernel started inside the sandbox, talking over Unix sockets.

    The sandbox has no network, so the kernel cannot use TCP on the grader's loopback;
    its ZMQ sockets live as files in a host folder bound into the sandbox. When the
    grader runs as root, that folder belongs to ``nobody`` and becomes read-only once
    the sockets exist: the sandboxed process (root without capabilities) can then
    neither write there nor change it back. Interrupts go through the control channel
    (``interrupt_mode = "message"``), since signals to bubblewrap do not reach the
    kernel.
    """

    sandbox_dir: Path | None = None
    sandbox_limits: Limits = Limits()
    process_limit: ProcessLimit | None = None

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        assert self.sandbox_dir is not None, "set sandbox_dir before starting the kernel"
        if self.process_limit is None:
            self.process_limit = ProcessLimit(self.sandbox_limits.processes)
        prefix = bwrap_args(self.sandbox_limits, writable=[self.sandbox_dir])
        return self.process_limit.wrap(prefix + cmd)

    async def start_kernel(self, **kw):
        kw.pop("cwd", None)  # the kernel starts in the sandbox's own home
        await super().start_kernel(**kw)
        await self._seal_socket_dir()

    async def _seal_socket_dir(self, wait: float = 30.0) -> None:
        """Once the kernel's sockets exist, make their folder read-only to it."""
        if os.geteuid() != 0:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if len([p for p in self.sandbox_dir.iterdir() if p.is_socket()]) >= 5:
                break
            await asyncio.sleep(0.02)
        os.chmod(self.sandbox_dir, 0o755)

    async def shutdown_kernel(self, now: bool = False, restart: bool = False):
        try:
            await super().shutdown_kernel(now=now, restart=restart)
        finally:
            if self.process_limit is not None and not restart:
                self.process_limit.close()
                self.process_limit = None

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


def prepare_kernel_manager(km: SandboxKernelManager, sandbox_dir: Path,
                           limits: Limits = Limits()) -> SandboxKernelManager:
    """Point ``km`` at ``sandbox_dir``: connection file and sockets live there."""
    sandbox_dir.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:  # see SandboxKernelManager: writable by all until sealed
        os.chown(sandbox_dir, 65534, 65534)
        os.chmod(sandbox_dir, 0o777)
    km.sandbox_dir = sandbox_dir
    km.sandbox_limits = limits
    km.transport = "ipc"
    km.ip = str(sandbox_dir / "kernel")
    km.connection_file = str(sandbox_dir / "kernel.json")
    return km
