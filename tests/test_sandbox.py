"""The sandbox's threat model, one attack per test (cnn_course.course.grading.sandbox).

Each test runs real code in a real sandbox. A test skips, with the reason, only where
the sandbox cannot run at all (bubblewrap or util-linux missing, user namespaces
disabled); where bubblewrap is installed and the sandbox still fails, the test fails.
Tests that need a cgroup (memory across processes, CPU accounting) skip where none
can be made, saying so.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from cnn_course.course.grading import sandbox
from cnn_course.course.grading.sandbox import (
    HOME,
    SANDBOX_UID,
    Limits,
    Sandbox,
    SandboxKernelManager,
    detect,
    drops_privileges,
    prepare_kernel_manager,
    runner_environment,
)

MiB = 2**20
SMALL = Limits(memory_bytes=1024 * MiB, processes=32, tmp_bytes=8 * MiB,
               shm_bytes=4 * MiB, cpu_seconds=60)


def _why_not_here() -> str | None:
    tools = ["bwrap", "prlimit"] + (["setpriv", "unshare", "mount"]
                                    if drops_privileges() else [])
    for tool in tools:
        if shutil.which(tool) is None:
            return f"{tool} is not installed: no sandbox can run here"
    off = sandbox._user_namespaces_off()
    if off:
        return f"user namespaces are disabled ({off}): no sandbox can run here"
    return None


@pytest.fixture
def _sandbox_here():
    why = _why_not_here()
    if why:
        print(f"skipped: {why}")
        pytest.skip(why)


needs_sandbox = pytest.mark.usefixtures("_sandbox_here")


def _expected_uid() -> int:
    return SANDBOX_UID if drops_privileges() else os.geteuid()


TRY = """
import errno, json, os, stat, subprocess, sys
def attempt(fn):
    try:
        fn()
    except OSError as err:
        return errno.errorcode.get(err.errno, str(err.errno))
    return "done"
"""


def run(box: Sandbox, code: str, *args: str, timeout: int = 60) -> dict:
    """Run Python ``code`` in ``box`` after ``TRY``; it prints one JSON object, which
    is returned."""
    cmd = box.command([sys.executable, "-I", "-c", TRY + textwrap.dedent(code), *args])
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, (
        f"the sandbox failed ({done.returncode}): {done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


@needs_sandbox
def test_detect_states_the_user_and_where_each_limit_holds():
    """detect() works here, is cached, and says who runs and which limits hold where."""
    isolation = detect()
    assert isolation.sandboxed, isolation.description
    assert detect() is isolation
    text = isolation.description
    assert f"uid {_expected_uid()}" in text
    assert "Per sandbox (cgroup)" in text and "Per process (rlimit" in text
    assert "cached" in text


@needs_sandbox
def test_student_code_runs_unprivileged_and_cannot_read_host_secrets(tmp_path):
    """As root, the sandbox is uid/gid 65534, no groups, no capabilities, no new
    privileges; /etc/shadow and unbound host folders are out of reach."""
    secret = tmp_path / "secret.txt"
    secret.write_text("gradebook password")
    with Sandbox(SMALL) as box:
        seen = run(box, """
        status = dict(line.split(":\\t", 1) for line in open("/proc/self/status")
                      if line.startswith(("CapEff", "CapPrm", "NoNewPrivs")))
        print(json.dumps({
            "uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(),
            "groups": os.getgroups(),
            "status": {k: v.strip() for k, v in status.items()},
            "shadow": attempt(lambda: open("/etc/shadow").read()),
            "secret": attempt(lambda: open(sys.argv[1]).read()),
            "userns": subprocess.run(["unshare", "-U", "true"],
                                     capture_output=True).returncode,
        }))
        """, str(secret))
    uid = _expected_uid()
    assert (seen["uid"], seen["euid"]) == (uid, uid)
    assert seen["status"]["CapEff"] == seen["status"]["CapPrm"] == "0000000000000000"
    assert seen["status"]["NoNewPrivs"] == "1"
    assert seen["secret"] == "ENOENT"  # not bound: it does not exist in the sandbox
    assert seen["userns"] != 0  # no user namespace, hence no mounts of its own
    if drops_privileges():
        assert seen["gid"] == SANDBOX_UID and set(seen["groups"]) <= {SANDBOX_UID}
        assert seen["shadow"] == "EACCES"


@needs_sandbox
def test_files_made_inside_a_writable_bind_cannot_become_setuid_root(tmp_path):
    """A copy of /usr/bin/id made inside belongs to 65534: setuid makes it at most
    setuid-nobody, chown to root fails, and every mount inside is nosuid."""
    out = tmp_path / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    with Sandbox(SMALL, writable=[out]) as box:
        seen = run(box, """
        import shutil
        planted = os.path.join(sys.argv[1], "id")
        shutil.copy("/usr/bin/id", planted)
        mounts = [line.split() for line in open("/proc/self/mountinfo")]
        print(json.dumps({
            "chmod": attempt(lambda: os.chmod(planted, 0o4755)),
            "chown": attempt(lambda: os.chown(planted, 0, 0)),
            "suid_mounts": [m[4] for m in mounts if "nosuid" not in m[5].split(",")],
        }))
        """, str(out))
    planted = (out / "id").stat()
    (out / "id").unlink()  # leave no setuid file behind for later scans of /tmp
    assert planted.st_uid == _expected_uid()
    assert seen["chown"] in ("EPERM", "EINVAL")
    assert not (planted.st_uid == 0 and planted.st_mode & stat.S_ISUID)
    assert seen["suid_mounts"] == []


@needs_sandbox
def test_read_only_binds_cannot_be_changed_from_inside(tmp_path):
    """A host file bound read-only (like the kernel's connection file) cannot be
    written, chmod-ed, replaced or removed, nor its folder added to."""
    folder = tmp_path / "connection"
    folder.mkdir()
    conn = folder / "kernel.json"
    conn.write_text('{"key": "secret"}')
    os.chmod(conn, 0o644)
    before = (conn.read_bytes(), conn.stat().st_mode)
    with Sandbox(SMALL, readonly=[folder]) as box:
        seen = run(box, """
        conn = sys.argv[1]
        print(json.dumps({
            "write": attempt(lambda: open(conn, "w").write("{}")),
            "chmod": attempt(lambda: os.chmod(conn, 0o4755)),
            "unlink": attempt(lambda: os.unlink(conn)),
            "replace": attempt(lambda: os.rename("/tmp/x", conn)
                               if open("/tmp/x", "w").write("x") else None),
            "create": attempt(lambda: open(conn + ".new", "w")),
        }))
        """, str(conn))
    assert all(result in ("EROFS", "EACCES", "EPERM", "EXDEV")
               for result in seen.values()), seen
    assert (conn.read_bytes(), conn.stat().st_mode) == before


@needs_sandbox
def test_every_writable_filesystem_is_capped():
    """/dev/shm, /tmp and home fill up at their caps (ENOSPC); /dev and / are
    read-only; every writable tmpfs has a size."""
    with Sandbox(SMALL) as box:
        seen = run(box, """
        def fill(folder):
            written, chunk = 0, b"x" * 2**20
            try:
                with open(os.path.join(folder, "fill"), "wb") as f:
                    while written < 64 * 2**20:
                        f.write(chunk)
                        f.flush()
                        written += len(chunk)
            except OSError as err:
                return [written, errno.errorcode[err.errno]]
            return [written, "no limit"]
        rw = [m.split() for m in open("/proc/self/mountinfo")]
        rw = [(m[4], m[m.index("-") + 1], m[m.index("-") + 3]) for m in rw
              if "rw" in m[5].split(",")]
        print(json.dumps({
            "fill": {d: fill(d) for d in ("/dev/shm", "/tmp", os.environ["HOME"])},
            "dev": attempt(lambda: open("/dev/planted", "w")),
            "root": attempt(lambda: open("/planted", "w")),
            "rw_mounts": rw,
        }))
        """)
    caps = {"/dev/shm": SMALL.shm_bytes, "/tmp": SMALL.tmp_bytes, HOME: SMALL.tmp_bytes}
    for folder, (written, why) in seen["fill"].items():
        assert why == "ENOSPC" and written <= caps[folder], (folder, written, why)
    assert seen["dev"] == seen["root"] == "EROFS"
    for mountpoint, fstype, options in seen["rw_mounts"]:
        if fstype == "tmpfs":
            assert "size=" in options, f"{mountpoint} is a tmpfs without a size"
        else:  # device nodes, pseudo-terminals and /proc hold no data
            assert fstype in ("devtmpfs", "devpts", "proc"), (mountpoint, fstype)


@needs_sandbox
def test_memory_is_capped_for_the_whole_sandbox():
    """Three processes of 100 MiB each cannot live together under a 256 MiB sandbox
    limit, though each is far below the per-process limit."""
    limits = Limits(memory_bytes=256 * MiB, tmp_bytes=8 * MiB, shm_bytes=4 * MiB)
    with Sandbox(limits) as box:
        if "memory" not in box.per_sandbox:
            pytest.skip("no memory cgroup can be made here: memory is capped per "
                        "process only")
        seen = run(box, """
        import json, subprocess, sys
        hold = "b = b'x' * (100 * 2**20); print('held', flush=True); import time; " \\
               "time.sleep(3)"
        children = [subprocess.Popen([sys.executable, "-I", "-c", hold],
                                     stdout=subprocess.PIPE) for _ in range(3)]
        print(json.dumps([[c.wait(), c.stdout.read().decode()] for c in children]))
        """)
    codes = [code for code, _ in seen]
    assert -signal.SIGKILL in codes, f"all three held 100 MiB together: {seen}"
    assert codes.count(0) <= 2


@needs_sandbox
def test_process_count_is_capped_for_the_whole_sandbox():
    """Processes forking from several parents together stop at the sandbox's limit."""
    limits = Limits(processes=12, tmp_bytes=8 * MiB, shm_bytes=4 * MiB)
    with Sandbox(limits) as box:
        seen = run(box, """
        import json, os, time
        read_end, write_end = os.pipe()
        def spawn(n, then=None):
            for _ in range(n):
                try:
                    pid = os.fork()
                except OSError:
                    return
                if pid == 0:
                    os.write(write_end, b"+")
                    if then:
                        then()
                    time.sleep(2)
                    os._exit(0)
        spawn(4, then=lambda: spawn(10))  # four parents, each trying for ten children
        time.sleep(1)
        os.close(write_end)
        print(json.dumps(len(os.read(read_end, 1000))))
        """, timeout=60)
    assert 0 < seen < limits.processes


@needs_sandbox
def test_cpu_seconds_counts_every_process_of_the_sandbox():
    """Two processes busy for 0.5 s of CPU each: the sandbox reports about 1 s."""
    with Sandbox(SMALL) as box:
        if box.cpu_seconds() is None:
            pytest.skip("no cgroup can be made here: CPU time is not counted")
        run(box, """
        import os, time
        pid = os.fork()
        while time.process_time() < 0.5:
            pass
        if pid == 0:
            os._exit(0)
        os.waitpid(pid, 0)
        print("{}")
        """)
        used = box.cpu_seconds()
    assert 1.0 <= used <= 1.6, f"{used:.2f} s of CPU for 1.0 s of busy loops"


@needs_sandbox
def test_close_kills_everything_and_removes_the_cgroup():
    """close() ends every process, a detached one too, and removes the cgroup."""
    marker = f"{time.time() % 1000 + 1000:.6f}"
    box = Sandbox(SMALL)
    folders = set(box._cgroup.folders.values())
    cmd = box.command(["sh", "-c", f"(setsid sleep {marker} &) ; sleep {marker}"])
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while len(_processes(marker)) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_processes(marker)) == 2, "the two sleepers did not start"
    if not box.per_sandbox:  # no cgroup: killing bubblewrap ends its PID namespace
        proc.kill()
    box.close()
    proc.wait(timeout=10)
    assert _processes(marker) == []
    assert [f for f in folders if f.exists()] == []
    box.close()  # a second close is harmless


def _processes(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", marker.encode()]:
            found.append(int(entry.name))
    return found


RUNNER_CHECK = """
import importlib, json, sys
def importable(name):
    try:
        importlib.import_module(name)
    except ImportError:
        return False
    return True
names = json.loads(sys.argv[1])
before = {n: importable(n) for n in names}
sys.path.extend(json.loads(sys.argv[2]))  # reach for the folders on the host
after = {n: importable(n) for n in names}
print(json.dumps({"before": before, "after": after}))
"""


def _run_runner(env, tmp_path, names, extra_path, limits=SMALL) -> dict:
    job = tmp_path / "job"
    job.mkdir(exist_ok=True)
    script = job / "check.py"
    script.write_text(RUNNER_CHECK)
    with Sandbox(limits, readonly=[job], binds=env.binds, full_python=False) as box:
        cmd = box.command(env.argv(script, json.dumps(names), json.dumps(extra_path)))
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def _host_site_folders() -> list[str]:
    return [str(p) for p in sandbox._site_folders_to_hide()]


@needs_sandbox
def test_the_runner_sees_numpy_and_nothing_else(tmp_path):
    """With only numpy allowed: numpy imports; scipy, scikit-learn, torch, IPython and
    cnn_course do not, even with the host's site-packages put back on sys.path."""
    env = runner_environment(("numpy",))
    assert env.distributions == ("numpy",)
    names = ["numpy", "scipy", "sklearn", "torch", "IPython", "cnn_course"]
    seen = _run_runner(env, tmp_path, names, _host_site_folders() + ["/work", "."])
    for when in ("before", "after"):
        assert seen[when] == {n: n == "numpy" for n in names}, when


@needs_sandbox
def test_the_runner_imports_torch_and_its_dependencies_when_allowed(tmp_path):
    """Allowing torch brings its dependency closure (sympy, ...) but not scipy."""
    env = runner_environment(("numpy", "torch"))
    assert {"torch", "numpy", "sympy", "networkx", "jinja2"} <= set(env.distributions)
    job = tmp_path / "job"
    job.mkdir()
    script = job / "torch_check.py"
    script.write_text(textwrap.dedent("""
        import json, torch
        torch.set_num_threads(1)
        try:
            import scipy
            scipy_there = True
        except ImportError:
            scipy_there = False
        print(json.dumps([float(torch.ones(3).sum()), scipy_there]))
    """))
    with Sandbox(Limits(), readonly=[job], binds=env.binds, full_python=False) as box:
        done = subprocess.run(box.command(env.argv(script)), capture_output=True,
                              text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == [3.0, False]


def _fake_distribution(site: Path, name: str, files: dict[str, str],
                       requires: tuple[str, ...] = ()) -> None:
    info = site / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    meta = ["Metadata-Version: 2.1", f"Name: {name}", "Version: 1.0"]
    meta += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(meta) + "\n")
    for rel, text in files.items():
        (site / rel).parent.mkdir(parents=True, exist_ok=True)
        (site / rel).write_text(text)
    record = [*files, f"{info.name}/METADATA", f"{info.name}/RECORD"]
    (info / "RECORD").write_text("".join(f"{r},,\n" for r in record))


@needs_sandbox
def test_the_runner_environment_works_from_a_site_folder_under_tmp(tmp_path):
    """Packages under /tmp (a private tmpfs in the sandbox) are still bound; the
    dependency closure follows Requires-Dist; a shared namespace folder shows only
    the allowed package's part."""
    site = tmp_path / "site-packages"
    _fake_distribution(site, "tinypkg", {"tinypkg/__init__.py": "import tinydep\n",
                                         "nsp/a.py": "A = 1\n"}, ("tinydep",))
    _fake_distribution(site, "tinydep", {"tinydep.py": "X = 1\n"})
    _fake_distribution(site, "otherpkg", {"otherpkg/__init__.py": "",
                                          "nsp/b.py": "B = 1\n"})
    env = runner_environment(("tinypkg",), path=[str(site)])
    assert env.distributions == ("tinydep", "tinypkg")
    assert env.sys_path == (str(site.resolve()),)
    names = ["tinypkg", "tinydep", "nsp.a", "otherpkg", "nsp.b", "numpy"]
    seen = _run_runner(env, tmp_path, names, [str(site)])
    expected = {"tinypkg": True, "tinydep": True, "nsp.a": True, "otherpkg": False,
                "nsp.b": False, "numpy": False}
    assert seen["before"] == seen["after"] == expected


def test_cgroup_v2_limits_are_written_where_v2_is_delegated(tmp_path):
    """On a cgroup v2 tree (a stand-in folder here) the sandbox writes memory.max,
    memory.swap.max, pids.max, joins through cgroup.procs and reads cpu.stat."""
    own = tmp_path / "cgroup2" / "grader.service"
    (own / "cnn_course").mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu io memory pids\n")
    (own / "cgroup.subtree_control").write_text("memory pids\n")
    (own / "cnn_course" / "cgroup.subtree_control").write_text("")
    mountinfo = f"41 31 0:38 / {tmp_path / 'cgroup2'} rw - cgroup2 cgroup2 rw\n"
    hierarchies = sandbox._parse_hierarchies(mountinfo, "0::/grader.service\n")
    assert hierarchies == (sandbox._Hierarchy(2, own, frozenset({"memory", "pids",
                                                                 "cpu"})),)
    cgroup = sandbox._Cgroup(Limits(memory_bytes=300 * MiB, processes=7), hierarchies)
    folder = own / "cnn_course" / cgroup.name
    assert (folder / "memory.max").read_text() == str(300 * MiB)
    assert (folder / "memory.swap.max").read_text() == "0"
    assert (folder / "pids.max").read_text() == "7"
    parent = own / "cnn_course"
    assert (parent / "cgroup.subtree_control").read_text() == "+memory +pids"
    assert cgroup.procs_files() == [folder / "cgroup.procs"]
    (folder / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1000000\n")
    assert cgroup.cpu_seconds() == 1.5


def test_cgroup_v2_falls_back_to_the_root_where_the_own_cgroup_cannot_delegate(
        tmp_path):
    """A grader in a session scope (processes there, no delegation): the sandbox
    cgroups go below the v2 root, where memory and pids are enabled."""
    root = tmp_path / "cgroup2"
    own = root / "user.slice" / "session-1.scope"
    own.mkdir(parents=True)
    (own / "cgroup.controllers").write_text("cpu memory pids\n")
    (own / "cgroup.subtree_control").mkdir()  # stands in for a write that fails
    (root / "cgroup.controllers").write_text("cpu io memory pids\n")
    (root / "cgroup.subtree_control").write_text("cpu memory pids\n")
    mountinfo = f"41 31 0:38 / {root} rw,relatime - cgroup2 cgroup2 rw\n"
    found = sandbox._parse_hierarchies(mountinfo, "0::/user.slice/session-1.scope\n")
    assert found == (sandbox._Hierarchy(2, root, frozenset({"memory", "pids", "cpu"})),)


def test_hybrid_cgroups_take_each_job_from_v1_first(tmp_path):
    """On a hybrid system (v1 controllers, an empty v2 tree; stand-in folders here)
    memory, pids and CPU accounting come from v1, memory under the grader's own
    memory cgroup."""
    for folder in ("cpuacct", "memory/process_api/abc", "pids", "unified"):
        (tmp_path / folder).mkdir(parents=True)
    (tmp_path / "unified" / "cgroup.controllers").write_text("hugetlb\n")
    (tmp_path / "unified" / "cgroup.subtree_control").write_text("")
    mountinfo = "\n".join(
        f"3{i} 31 0:3{i} / {tmp_path / name} rw - {kind} {kind} rw{options}"
        for i, (name, kind, options) in enumerate([
            ("cpuacct", "cgroup", ",cpuacct"), ("memory", "cgroup", ",memory"),
            ("pids", "cgroup", ",pids"), ("unified", "cgroup2", "")]))
    cgroup = "8:pids:/\n4:memory:/process_api/abc\n2:cpuacct:/\n0::/\n"
    found = {h.own: (h.version, h.jobs)
             for h in sandbox._parse_hierarchies(mountinfo, cgroup)}
    assert found == {tmp_path / "cpuacct": (1, {"cpu"}),
                     tmp_path / "memory/process_api/abc": (1, {"memory"}),
                     tmp_path / "pids": (1, {"pids"})}


@needs_sandbox
def test_the_kernel_cannot_rewrite_its_connection_file(tmp_path):
    """A notebook kernel in the sandbox runs as 65534 (as root); it can neither
    rewrite its connection file nor plant files among its sockets."""
    folder = tmp_path / "kernel"
    km = prepare_kernel_manager(SandboxKernelManager(kernel_name="python3"), folder)
    code = TRY + textwrap.dedent(f"""
        conn = {str(folder / "connection" / "kernel.json")!r}
        ipc = {str(folder / "ipc")!r}
        print(json.dumps({{
            "uid": os.getuid(),
            "write": attempt(lambda: open(conn, "w").write("{{}}")),
            "chmod": attempt(lambda: os.chmod(conn, 0o4755)),
            "unlink": attempt(lambda: os.unlink(conn)),
            "plant": attempt(lambda: open(os.path.join(ipc, "planted"), "w")),
        }}))
    """)
    printed = asyncio.run(_execute_in_kernel(km, code))
    seen = json.loads(printed.strip().splitlines()[-1])
    assert seen["uid"] == _expected_uid()
    refused = {"EROFS", "EACCES", "EPERM"}
    assert {seen["write"], seen["chmod"], seen["unlink"]} <= refused
    if drops_privileges():
        assert seen["plant"] == "EACCES"
    assert not (folder / "ipc" / "planted").exists() or not drops_privileges()


async def _execute_in_kernel(km: SandboxKernelManager, code: str) -> str:
    """Start the kernel, run ``code``, check the connection file, shut down."""
    await km.start_kernel()
    conn = Path(km.connection_file)
    conn_before = (conn.read_bytes(), conn.stat().st_mode, conn.stat().st_uid)
    client = km.client()
    client.start_channels()
    printed = []

    def collect(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            printed.append("\n".join(msg["content"]["traceback"]))

    try:
        await client.wait_for_ready(timeout=60)
        await client.execute_interactive(code, timeout=60, output_hook=collect)
        after = (conn.read_bytes(), conn.stat().st_mode, conn.stat().st_uid)
        assert after == conn_before
    finally:
        client.stop_channels()
        await km.shutdown_kernel(now=True)
    assert km.sandbox is None
    return "".join(printed)


@needs_sandbox
def test_the_grading_kernel_wastes_no_fixed_waits(tmp_path, monkeypatch):
    """Issue 19: jupyter_client's ``wait_for_ready`` ends by reading IOPub until 0.2 s
    pass without a message, and its kill polls for the exit every 0.1 s; both were
    idle time in every submission. The sandbox's client ends on a message it was
    waiting for, then drops what is queued without waiting; its manager polls a
    killed kernel every few milliseconds. Leftover start-up messages do not leak
    into the first cell's output."""
    import queue

    waits, sleeps = [], []  # (timeout, got a message) per blocking IOPub read; sleeps
    real_sleep = asyncio.sleep

    async def sleep(delay, *args, **kwargs):
        sleeps.append(delay)
        return await real_sleep(delay, *args, **kwargs)

    async def run() -> str:
        km = prepare_kernel_manager(SandboxKernelManager(kernel_name="python3"),
                                    tmp_path / "kernel")
        await km.start_kernel()
        client = km.client()
        assert isinstance(client, sandbox.SandboxKernelClient)
        client.start_channels()
        channel = client.iopub_channel
        read = channel.get_msg

        async def get_msg(timeout=None):
            try:
                msg = await read(timeout=timeout)
            except queue.Empty:
                if timeout:
                    waits.append((timeout, False))
                raise
            if timeout:
                waits.append((timeout, True))
            return msg

        channel.get_msg = get_msg
        printed = []
        try:
            await client.wait_for_ready(timeout=60)
            reads_to_ready = list(waits)
            await client.execute_interactive(
                "print(6 * 7)", timeout=60,
                output_hook=lambda m: printed.append(m["content"].get("text", m["msg_type"])))
        finally:
            client.stop_channels()
            monkeypatch.setattr(asyncio, "sleep", sleep)
            await km.shutdown_kernel(now=True)
            monkeypatch.undo()
        assert reads_to_ready and reads_to_ready[-1][1], reads_to_ready  # no wait for silence
        return "".join(p for p in printed if p not in ("status", "execute_input"))

    assert asyncio.run(run()) == "42\n"
    assert max(sleeps, default=0) < 0.1, sleeps  # a killed sandbox is polled often


@needs_sandbox
def test_the_grading_kernel_starts_with_matplotlibs_font_list():
    """The grader's font list is copied into the kernel's empty MPLCONFIGDIR before
    the first cell, so pyplot's import reads it instead of scanning the fonts."""
    from nbformat.v4 import new_code_cell, new_notebook
    from traitlets.config import Config

    from cnn_course.course.grading.execute import SandboxedExecute

    fonts = sandbox.matplotlib_font_list()
    assert fonts is not None and json.loads(fonts.read_text())["ttflist"]
    nb = new_notebook(cells=[new_code_cell(TRY + textwrap.dedent(f"""
        here = os.path.join(os.environ["MPLCONFIGDIR"], {fonts.name!r})
        seeded = os.path.exists(here)
        import matplotlib.font_manager as fm
        print(json.dumps({{"seeded": seeded,
                          "same": fm.json_load(here).ttflist == fm.fontManager.ttflist,
                          "fonts": len(fm.fontManager.ttflist)}}))
    """))])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    config = Config()
    config.SandboxedExecute.sandboxed = True
    done, _ = SandboxedExecute(config=config).preprocess(nb, {"metadata": {"path": "/tmp"}})
    outputs = done.cells[0].outputs
    assert outputs and outputs[0].get("name") == "stdout", outputs
    seen = json.loads(outputs[0]["text"].strip().splitlines()[-1])
    assert seen == {"seeded": True, "same": True,
                    "fonts": len(json.loads(fonts.read_text())["ttflist"])}


def test_the_cache_folder_is_the_data_loaders_one(monkeypatch, tmp_path):
    """The sandbox keeps its caches where cnn_course.data.sources.cache_dir says."""
    from cnn_course.data.sources import cache_dir

    for value in (str(tmp_path), ""):
        monkeypatch.setenv("XDG_CACHE_HOME", value)
        assert sandbox._cache_folder() == cache_dir()


def test_removing_a_cgroup_folder_removes_the_emptied_ones_below_it(tmp_path):
    """A grader run inside a counting cgroup makes its sandboxes' cgroups below it;
    removing the counting cgroup takes them too (rmdir, deepest first)."""
    (tmp_path / "group" / "cnn_course" / "sbx-1").mkdir(parents=True)
    assert sandbox._remove(tmp_path / "group")
    assert not (tmp_path / "group").exists()


def test_a_counting_cgroup_counts_what_its_process_runs():
    group = sandbox.counting_cgroup()
    if group is None:
        pytest.skip("no cgroup that counts CPU can be made here")
    try:
        def enter():
            for procs in group.procs_files():
                procs.write_text(str(os.getpid()))

        subprocess.run([sys.executable, "-c",
                        "import time\nt = time.process_time()\n"
                        "while time.process_time() - t < 0.3: pass"],
                       preexec_fn=enter, check=True, timeout=120)
        assert group.cpu_seconds() >= 0.25
    finally:
        group.close()
    assert not group.folders
