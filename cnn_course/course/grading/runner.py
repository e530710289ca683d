"""Call the student's functions on the grader's inputs, inside the sandbox.

This script is copied into a sandbox job folder and run there as PID 1 (a process in
the sandbox cannot signal its namespace's init). It needs only the standard library
and numpy. Student code runs in the same processes, so the grader trusts nothing this
script writes beyond its format: results are plain ``.npy`` arrays (read back with
``allow_pickle=False``) and small JSON records, compared with the reference by the
grader's own process.

Job file (JSON, in a read-only folder): ``cells`` [{id, source}], ``cases`` [{id,
func, args, kwargs}] where each argument is ``{"npy": path}`` or ``{"value": json}``,
``cell_timeout``, ``case_timeout``, ``total_timeout``. Output goes to a file descriptor
given on the command line, a pipe to the grader, as frames: a 4-byte length, a JSON header (``{"case": id,
...}`` or ``{"cell": id, ...}``), and for arrays the ``.npy`` bytes (``npy`` in the
header gives their length). Nothing is written to the host's disk.

Each cell runs in a forked child: when it finishes, the child carries on as the main
line; when it hangs (even with signals ignored) or kills its process, the parent
kills it and carries on with the state from before that cell. Each case also runs in
a child of its own, so one hanging call costs only its own result.
"""

import io
import json
import os
import select
import signal
import sys
import time

import numpy as np

OUT = 3  # the pipe to the grader; main() sets it from the command line


def _send(header, payload=b""):
    """Write one frame; a broken pipe only loses this student's own results."""
    if payload:
        header = dict(header, npy=len(payload))
    data = json.dumps(header).encode()
    frame = len(data).to_bytes(4, "big") + data + payload
    try:
        while frame:
            frame = frame[os.write(OUT, frame):]
    except OSError:
        pass


def _status_of(fn):
    """Run ``fn``; return ("ok", value) or ("error", {ename, mro, evalue})."""
    try:
        return "ok", fn()
    except BaseException as err:  # student code may raise anything, SystemExit too
        return "error", {
            "ename": type(err).__name__,
            "mro": [c.__name__ for c in type(err).__mro__][:8],
            "evalue": str(err)[:300],
        }


def _kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def run_cells(cells, ns, timeout):
    """Execute cells in order, each guarded by a fork (see the module docstring)."""
    for cell in cells:
        code = compile(cell["source"], f"<cell {cell['id']}>", "exec")
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the trial: run the cell, report, and carry on as the main line
            os.close(read_end)
            status, detail = _status_of(lambda: exec(code, ns))  # noqa: S102
            record = {"cell": cell["id"], "status": status}
            if status == "error":
                record.update(detail)
            try:
                os.write(write_end, b"done")
            except OSError:
                pass
            os.close(write_end)
            _send(record)
            continue
        os.close(write_end)
        ready, _, _ = select.select([read_end], [], [], timeout)
        report = os.read(read_end, 16) if ready else b""
        os.close(read_end)
        if report == b"done":
            os._exit(0)  # the trial finished this cell and is the main line now
        _kill(pid)
        why = "timeout" if not ready else "the cell ended its process"
        _send({"cell": cell["id"], "status": why})


def _arg(spec, base):
    if "npy" in spec:
        return np.load(os.path.join(base, spec["npy"]), allow_pickle=False)
    return spec["value"]


def run_case(case, ns, base):
    """In a child: call the function and send its result."""
    cid = case["id"]
    fn = ns.get(case["func"])
    if fn is None:
        _send({"case": cid, "status": "error", "ename": "NameError", "mro": [],
               "evalue": f"{case['func']} is not defined"})
        return
    args = [_arg(a, base) for a in case["args"]]
    kwargs = {k: _arg(v, base) for k, v in case["kwargs"].items()}
    status, value = _status_of(lambda: fn(*args, **kwargs))
    if status == "error":
        _send({"case": cid, "status": "error", **value})
        return
    try:
        array = np.asarray(value)
        if array.dtype == object:
            raise TypeError("an object array")
        buffer = io.BytesIO()
        np.save(buffer, array, allow_pickle=False)
    except Exception as err:  # not an array-like of numbers
        _send({"case": cid, "status": "unreadable", "type": type(value).__name__,
               "evalue": str(err)[:200]})
        return
    _send({"case": cid, "status": "ok", "type": type(value).__name__}, buffer.getvalue())


def run_cases(cases, ns, base, timeout):
    for case in cases:
        pid = os.fork()
        if pid == 0:
            try:
                run_case(case, ns, base)
            finally:
                os._exit(0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            done, _ = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.005)
        else:
            _kill(pid)
            _send({"case": case["id"], "status": "timeout"})


def main():
    global OUT
    job_path, OUT = sys.argv[1], int(sys.argv[2])
    base = os.path.dirname(os.path.abspath(job_path))
    with open(job_path) as f:
        job = json.load(f)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:  # imported once here, shared by every forked cell: setup cells import it
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot  # noqa: F401
    except Exception:
        pass
    done_read, done_write = os.pipe()
    main_line = os.fork()
    if main_line == 0:
        os.close(done_read)
        ns = {"__name__": "__main__"}
        run_cells(job["cells"], ns, job["cell_timeout"])
        run_cases(job["cases"], ns, base, job["case_timeout"])
        os.write(done_write, b"done")
        os._exit(0)
    # PID 1: wait for the main line (whichever process it is by then), reaping orphans.
    os.close(done_write)
    deadline = time.monotonic() + job["total_timeout"]
    while time.monotonic() < deadline:
        ready, _, _ = select.select([done_read], [], [], 0.05)
        if ready:
            break
        try:
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
