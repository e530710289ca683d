"""The grader's trusted runner: call the student's functions on the grader's inputs.

This script runs inside the sandbox, in a minimal Python environment that holds only
what the assignment allows (numpy and the standard library, torch where the spec
allows it). It is started as PID 1 of its own PID namespace, reads its job from
stdin and writes results to a pipe. It never sees a reference answer or a label: the
grader's own process judges what comes back.

Job (JSON on stdin, arrays in :mod:`cnn_course.course.testing.codec` form):
``cells`` [{id, source}] (setup and answer cells, in notebook order), ``helpers``
(the spec's helper code), ``cases`` [{id, call, cpu_seconds, key}], ``limits``
({cell_cpu, call_cpu, total_cpu, wall_factor}), ``preload`` (modules imported before
student code), ``stubs`` (installed packages the assignment does not allow),
``forbid_builtins`` (C routines unbound everywhere, e.g. numpy's correlate2).

Results: frames of a 4-byte length and a JSON object: ``{"cell": id, "status": ...}``
for every cell and ``{"case": id, "status": ..., "value": ...}`` for every case.

Defences, in the order they act (see the README's "How grading is protected"):

- forbidden packages are not installed here; importing one gives a stub module whose
  every use raises ``ShortcutError`` (so an honest import never blocks a definition);
- forbidden implementation modules (e.g. the whole of ``numpy.pad``) are replaced by
  stub files in the environment; forbidden C routines are unbound from every module,
  and the import machinery cannot re-create them (``_imp`` is neutered, ``gc``
  introspection, ``ctypes`` and subprocesses are refused by an audit hook, which
  cannot be removed);
- every cell runs in a forked trial process with a CPU-time limit: a cell that runs
  long is interrupted and keeps what it defined, one that ignores the interrupt or
  kills its process is discarded, and a cell that does not compile costs only itself;
- every case runs in a forked child with its own CPU-time limit (a function's
  consecutive cases share one child, forked afresh for each function; a crash ends
  the child and the cases after it run in a new one); a function that timed out is
  not called again; the job's total CPU budget is kept.
"""

import importlib.abc
import importlib.machinery
import json
import os
import resource
import select
import signal
import sys
import time
import types

OUT = 3  # the pipe to the grader, set from the command line
MAX_FRAME = 64 * 2**20
SPENT = [0.0]  # CPU seconds used by earlier main-line processes (cells hand over)


class CPUTimeLimit(BaseException):
    """This cell or call used up its CPU seconds."""


class ShortcutError(ImportError):
    """A package or function this assignment's graded code may not use."""


def send(record):
    """Write one frame; a broken pipe only loses this submission's own results."""
    try:
        data = json.dumps(record).encode()
    except (TypeError, ValueError):
        data = json.dumps({k: record[k] for k in ("case", "cell") if k in record}
                          | {"status": "unreadable", "evalue": "not JSON"}).encode()
    if len(data) > MAX_FRAME:
        data = json.dumps({k: record[k] for k in ("case", "cell") if k in record}
                          | {"status": "unreadable",
                             "evalue": f"the result is larger than {MAX_FRAME} bytes"}
                          ).encode()
    frame = len(data).to_bytes(4, "big") + data
    try:
        while frame:
            frame = frame[os.write(OUT, frame):]
    except OSError:
        pass


def error_record(err):
    return {"status": "error", "ename": type(err).__name__,
            "mro": [c.__name__ for c in type(err).__mro__][:8], "evalue": str(err)[:500]}


def cpu_used():
    """CPU seconds of this process and of the children it has waited for."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def arm_cpu_limit(seconds):
    """Interrupt after ``seconds`` of CPU time; SIGXCPU a little later as a hard stop."""

    def interrupt(signum, frame):
        raise CPUTimeLimit(f"used more than {seconds:g} s of CPU time")

    signal.signal(signal.SIGPROF, interrupt)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    me = resource.getrusage(resource.RUSAGE_SELF)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    soft = int(me.ru_utime + me.ru_stime + seconds) + 3
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def disarm_cpu_limit():
    signal.setitimer(signal.ITIMER_PROF, 0)
    signal.signal(signal.SIGPROF, signal.SIG_DFL)
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def kill(pid):
    try:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
    except (ProcessLookupError, ChildProcessError):
        pass


def wait_child(pid, ready_fd, wall, report=None):
    """Wait until a child reports "done" on ``ready_fd`` or exits; kill it after ``wall`` s.

    Returns "done" ("done-timeout" when it stopped itself at its CPU limit), "wall"
    (killed here), "cpu" (killed by its CPU limit) or "exited" (it ended its own
    process without reporting). A child that reports more than once passes the same
    ``report`` buffer each time: what arrived past one report is kept for the next.
    """
    report = bytearray() if report is None else report
    deadline = time.monotonic() + wall
    closed = False
    while b"done\n" not in report and not closed:
        if time.monotonic() >= deadline:
            kill(pid)
            return "wall"
        ready, _, _ = select.select([ready_fd], [], [], 0.1)
        if ready:
            chunk = os.read(ready_fd, 64)
            report += chunk
            closed = not chunk  # the child closed its end: it exited
    if b"done\n" in report:
        line, _, rest = bytes(report).partition(b"done\n")
        report[:] = rest
        return "done-timeout" if line.startswith(b"timeout") else "done"
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        return "exited"
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) in (signal.SIGXCPU, signal.SIGKILL):
        return "cpu"
    return "exited"


# --- cells ---------------------------------------------------------------------------

def run_cells(cells, ns, limits):
    """Execute cells in order, each in a forked trial that becomes the main line."""
    for cell in cells:
        try:
            code = compile(cell["source"], f"<cell {cell['id']}>", "exec")
        except (SyntaxError, ValueError) as err:
            record = error_record(err)
            record["evalue"] = f"{err.msg if hasattr(err, 'msg') else err} (line " \
                               f"{getattr(err, 'lineno', '?')})"
            send({"cell": cell["id"], **record})
            continue
        read_end, write_end = os.pipe()
        spent = SPENT[0] + cpu_used()
        pid = os.fork()
        if pid == 0:  # the trial: run the cell, report, carry on as the main line
            SPENT[0] = spent
            os.close(read_end)
            record = {"status": "ok"}
            try:
                arm_cpu_limit(limits["cell_cpu"])
                exec(code, ns)  # noqa: S102
            except CPUTimeLimit as err:
                record = {"status": "timeout", "evalue": f"the cell {err}; it was "
                          "stopped there and kept what it had defined"}
            except BaseException as err:  # student code may raise anything
                record = error_record(err)
            finally:
                disarm_cpu_limit()
            send({"cell": cell["id"], **record})
            try:
                os.write(write_end, b"done\n")
            except OSError:
                pass
            os.close(write_end)
            continue
        os.close(write_end)
        wall = limits["cell_cpu"] * limits["wall_factor"] + 60
        how = wait_child(pid, read_end, wall)
        os.close(read_end)
        if how == "done":
            os._exit(0)  # the trial finished this cell and is the main line now
        if how == "exited":
            send({"cell": cell["id"], "status": "crashed",
                  "evalue": "the cell ended its own process; what it defined is lost"})
        else:
            send({"cell": cell["id"], "status": "timeout",
                  "evalue": "the cell ignored its CPU limit and was stopped; what it "
                            "defined is lost"})


# --- cases ---------------------------------------------------------------------------

def run_case(case, ns, codec):
    """In a child: run one case and send its outcome."""
    call = case["call"]
    try:
        if "code" in call:
            scope = dict(ns)
            scope.update({k: codec.decode(v) for k, v in call.get("inputs", {}).items()})
            code = compile(call["code"], "<grader's check>", "exec")

            def target():
                exec(code, scope)  # noqa: S102
                return scope.get("result")
        else:
            fn = ns.get(call["func"])
            if fn is None:
                send({"case": case["id"], "status": "error", "ename": "NameError",
                      "mro": ["NameError"], "evalue": f"{call['func']} is not defined"})
                return
            args = [codec.decode(a) for a in call.get("args", [])]
            kwargs = {k: codec.decode(v) for k, v in call.get("kwargs", {}).items()}

            def target():
                return fn(*args, **kwargs)
    except Exception as err:
        send({"case": case["id"], "status": "error", "ename": "GraderError", "mro": [],
              "evalue": f"the check could not start: {err}"})
        return
    started = cpu_used()
    STRICT[0] = True  # this child only runs the graded call
    try:
        arm_cpu_limit(case["cpu_seconds"])
        value = target()
    except CPUTimeLimit as err:
        disarm_cpu_limit()
        send({"case": case["id"], "status": "timeout",
              "evalue": f"the call {err}; the limit is {case['cpu_seconds']:g} s"})
        return "timeout"
    except BaseException as err:
        disarm_cpu_limit()
        send({"case": case["id"], **error_record(err)})
        return "error"
    disarm_cpu_limit()
    record = {"case": case["id"], "status": "ok", "type": type(value).__name__,
              "cpu": round(cpu_used() - started, 3)}
    try:
        record["value"] = codec.encode(value)
    except Exception as err:  # not numbers, or not a value that can travel
        record = {"case": case["id"], "status": "unreadable", "type": type(value).__name__,
                  "evalue": str(err)[:200]}
    send(record)
    return record["status"]


def _case_name(case):
    return case["call"].get("func") or case.get("key") or case["id"]


def _run_group(group, ns, limits, codec, spent, write_end):
    """In a child: run one function's cases in turn, reporting each on ``write_end``;
    stop after a case that ran out of its CPU time (the function is not called again).
    ``spent``: the job's CPU seconds before this child."""
    for case in group:
        status = None
        if spent + cpu_used() > limits["total_cpu"]:
            send(_out_of_budget(case, limits))
        else:
            status = run_case(case, ns, codec)
        try:
            os.write(write_end, (b"timeout " if status == "timeout" else b"") + b"done\n")
        except OSError:
            pass
        if status == "timeout":
            break


def _out_of_budget(case, limits):
    return {"case": case["id"], "status": "timeout", "evalue": "the submission's "
            f"CPU budget of {limits['total_cpu']:g} s ran out before this case"}


def run_cases(cases, ns, limits, codec):
    """Run the cases, a function's consecutive cases in one forked child.

    The trick: a fork costs about 2 ms of CPU here, a case of 01 often less, so a
    child per case spent most of the runner's time forking. Each case still has its
    own CPU limit, and each function a fresh child forked from the main line, so what
    one function's calls leave behind never reaches another's (within a function, a
    later call sees what an earlier one left, as in the student's own kernel). A
    child that crashes or ignores its limit is ended there: the call it was making is
    reported, and the cases after it run in a new child. Timed-out functions are not
    called again.
    """
    timed_out = set()
    pending = list(cases)
    while pending:
        case = pending[0]
        name = _case_name(case)
        if name in timed_out:
            send({"case": case["id"], "status": "skipped",
                  "evalue": f"not called again: {name} timed out on an earlier case"})
            pending.pop(0)
            continue
        spent = SPENT[0] + cpu_used()
        if spent > limits["total_cpu"]:
            send(_out_of_budget(case, limits))
            pending.pop(0)
            continue
        group = [case]
        while len(group) < len(pending) and _case_name(pending[len(group)]) == name:
            group.append(pending[len(group)])
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_end)
            try:
                _run_group(group, ns, limits, codec, spent, write_end)
            finally:
                os._exit(0)
        os.close(write_end)
        report = bytearray()
        for case in group:
            pending.pop(0)
            wall = case["cpu_seconds"] * limits["wall_factor"] + 60
            how = wait_child(pid, read_end, wall, report)
            if how == "done":
                continue
            if how == "done-timeout":
                timed_out.add(name)
                break
            if how == "exited":
                send({"case": case["id"], "status": "crashed",
                      "evalue": "the call ended its own process"})
            else:
                send({"case": case["id"], "status": "timeout",
                      "evalue": "the call ignored its CPU limit and was stopped"})
                timed_out.add(name)
            break  # the child was reaped: what is left of the group goes round again
        os.close(read_end)
        if how.startswith("done"):
            kill(pid)  # it reported its last case and is exiting: reap it


# --- the environment ------------------------------------------------------------------

STRICT = [False]  # True inside a graded call: a stub refuses; in cells it plays along


class _Proxy:
    """Anything taken from a package the assignment does not allow.

    In a cell (definitions, demos, plots) it plays along: calling it, indexing it or
    computing with it gives another proxy, so an ordinary import or a demo line never
    costs the definitions around it. Inside a graded call it refuses: the part used a
    library it may not use. (Code that turned the refusal off would only get proxies
    back, never numbers.)
    """

    __slots__ = ("_name",)

    def __init__(self, name):
        object.__setattr__(self, "_name", name)

    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Proxy(f"{object.__getattribute__(self, '_name')}.{attr}")

    def _use(self, *args, **kwargs):
        name = object.__getattribute__(self, "_name")
        if STRICT[0]:
            raise ShortcutError(f"[shortcut] {name} is not allowed in this assignment's "
                                "graded code")
        return _Proxy(f"{name}(...)")

    def _number(self, *args):
        raise TypeError(f"{object.__getattribute__(self, '_name')} is not available here")

    __call__ = __getitem__ = __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = _use
    __rmul__ = __truediv__ = __rtruediv__ = __matmul__ = __pow__ = __neg__ = _use
    __float__ = __int__ = __index__ = __array__ = _number

    def __iter__(self):
        return iter(())

    def __len__(self):
        return 0

    def __bool__(self):
        return False

    def __setattr__(self, attr, value):
        pass

    def __setitem__(self, key, value):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class _Shell:
    """``get_ipython()`` for cells: magics run their code or do nothing, as fits."""

    def __init__(self, ns):
        self.user_ns = ns

    def run_line_magic(self, name, line, *args, **kwargs):
        if name in ("time", "timeit", "prun") and line.strip():
            exec(compile(line, "<magic>", "exec"), self.user_ns)  # noqa: S102

    def run_cell_magic(self, name, line, cell, *args, **kwargs):
        if name in ("time", "timeit", "prun", "capture"):
            exec(compile(cell, "<magic>", "exec"), self.user_ns)  # noqa: S102

    def system(self, *args, **kwargs):
        return None

    getoutput = system

    def __getattr__(self, attr):
        return _Proxy(f"get_ipython().{attr}")


class _StubModule(types.ModuleType):
    def __getattr__(self, attr):
        if attr.startswith("__") and attr.endswith("__"):
            raise AttributeError(attr)
        return _Proxy(f"{self.__name__}.{attr}")


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports of installed-but-not-allowed packages give stub modules.

    Placed first, it stubs whole packages (``tops``); placed last, it stubs the
    modules of a package that the environment holds only in part (``prefixes``:
    ``cnn_course`` keeps its test helpers, the rest of the library is a stub).
    """

    def __init__(self, tops=(), prefixes=()):
        self.tops = frozenset(tops)
        self.prefixes = tuple(p + "." for p in prefixes)

    def find_spec(self, fullname, path=None, target=None):
        if fullname.split(".")[0] in self.tops or fullname.startswith(self.prefixes):
            return importlib.machinery.ModuleSpec(fullname, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _StubModule(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


_IMPORT_ATTRS = frozenset({"__name__", "__loader__", "__package__", "__spec__", "__path__",
                           "__file__", "__cached__"})


class _DeferredModule(types.ModuleType):
    """An imported module whose code has not run yet: it runs on first use.

    Its import attributes (``__spec__``, ``__path__``, ``__file__``, ...) are there
    from the start, so importing its submodules does not run it; any other attribute
    runs it (its parent package first) and turns it into a plain module.
    """

    def __getattr__(self, attr):
        if attr in _IMPORT_ATTRS:
            raise AttributeError(attr)  # asked by the import system while it imports
        _run_deferred(self)
        return getattr(self, attr)


def _run_deferred(module):
    """Run a deferred module's code now (its parent package's first), once."""
    parent = sys.modules.get(module.__name__.rpartition(".")[0])
    if parent is not None:
        _run_deferred(parent)  # which may have run this module already
    spec = module.__dict__.get("__spec__")
    if type(module) is not _DeferredModule or not isinstance(spec.loader, _Deferring):
        return
    spec.loader.finder.started.add(spec.name.split(".")[0])
    spec.loader = module.__loader__ = spec.loader.loader  # the real one from now on
    module.__class__ = types.ModuleType
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(module.__name__, None)  # as a failed import leaves it
        raise


def _code_names(code):
    """Every global or attribute name a code object (and the code inside it) uses."""
    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= _code_names(const)
    return names


def run_deferred_that_functions_use(ns):
    """Run, here in the main line, the deferred modules that a function or class of
    ``ns`` names: otherwise every forked case would import them again on its own CPU."""
    deferred = {name: m for name, m in ns.items() if type(m) is _DeferredModule}
    if not deferred:
        return
    used = set()
    for value in list(ns.values()):
        members = list(vars(value).values()) if isinstance(value, type) else [value]
        for member in members:  # plain functions only: nothing here may run code
            if isinstance(member, (staticmethod, classmethod)):
                member = member.__func__
            if isinstance(member, types.FunctionType):
                used |= _code_names(member.__code__)
    for name in sorted(used & set(deferred)):
        try:
            _run_deferred(deferred[name])
        except Exception:  # a call that uses it will meet the error and report it
            pass


class _Deferring(importlib.abc.Loader):
    def __init__(self, loader, finder):
        self.loader, self.finder = loader, finder

    def create_module(self, spec):
        return _DeferredModule(spec.name)

    def exec_module(self, module):
        pass  # runs later: _DeferredModule.__getattr__


class _LazyFinder(importlib.abc.MetaPathFinder):
    """Importing one of ``tops`` (before any of its code has run) gives a deferred
    module: a notebook's ``import matplotlib.pyplot as plt`` costs nothing until a
    cell plots. Once the package's code runs, its imports are ordinary again, so
    imports it makes for their side effects still happen."""

    def __init__(self, tops=()):
        self.tops = frozenset(tops)
        self.started = set()

    def find_spec(self, fullname, path=None, target=None):
        top = fullname.split(".")[0]
        if top not in self.tops or top in self.started:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or not isinstance(spec.loader, importlib.machinery.SourceFileLoader):
            return None  # not there, or an extension module: imported as usual
        spec.loader = _Deferring(spec.loader, self)
        return spec


def unbind_forbidden(builtins, modules):
    """Replace forbidden C routines, and functions of forbidden modules, everywhere.

    Every loaded module's namespace is searched, so aliases (``numpy.correlate``'s C
    routine is bound in three modules) and private helpers go too. Where the sandbox
    replaced a forbidden module's file by a stub, nothing is left to find.
    """
    targets = {}
    for dotted, public in builtins:
        module, _, attr = dotted.rpartition(".")
        obj = getattr(sys.modules.get(module), attr, None)
        if obj is not None:
            targets[id(obj)] = (obj, public)
    for name, public in modules:
        module = sys.modules.get(name)
        path = getattr(module, "__file__", None)
        for obj in list(getattr(module, "__dict__", {}).values()):
            # numpy wraps public functions in a dispatcher that keeps the original
            code = getattr(getattr(obj, "_implementation", obj), "__code__", None)
            if path and getattr(code, "co_filename", None) == path:
                targets[id(obj)] = (obj, public)
    for module in list(sys.modules.values()):
        namespace = getattr(module, "__dict__", None)
        if not isinstance(namespace, dict):
            continue
        for attr, value in list(namespace.items()):
            hit = targets.get(id(value))
            if hit is not None and hit[0] is value:
                namespace[attr] = _Proxy(hit[1])
    return _guard_extension_modules()


def _guard_extension_modules():
    """Extension modules already loaded cannot be re-created or re-run.

    Re-running numpy's C core would bring its unbound routines back. New extension
    modules still load (torch imports some lazily). The originals are kept in the
    guards' defaults, whose reading the audit hook refuses.
    """
    import _imp

    loaded = frozenset(name for name, module in list(sys.modules.items())
                       if str(getattr(getattr(module, "__spec__", None), "origin", ""))
                       .endswith((".so", ".pyd")))

    def create_dynamic(spec, *args, _create=_imp.create_dynamic, _loaded=loaded):
        if getattr(spec, "name", None) in _loaded:
            raise ShortcutError(f"[shortcut] re-creating {spec.name} is not allowed here")
        return _create(spec, *args)

    def exec_dynamic(module, _exec=_imp.exec_dynamic, _loaded=loaded):
        if getattr(module, "__name__", None) in _loaded:
            raise ShortcutError(f"[shortcut] re-running {module.__name__} is not allowed here")
        return _exec(module)

    _imp.create_dynamic, _imp.exec_dynamic = create_dynamic, exec_dynamic
    return frozenset({id(create_dynamic), id(exec_dynamic)})


def audit_hook_factory(guarded=frozenset()):
    """The audit hook: refuses introspection and escapes once student code may run.

    It cannot be removed, and it holds its state in its closure (no reference to the
    hook is reachable from Python).
    """
    blocked = frozenset({
        "gc.get_objects", "gc.get_referrers", "gc.get_referents", "sys.setprofile",
        "sys.settrace", "subprocess.Popen", "os.system", "os.exec", "os.posix_spawn",
        "os.spawn", "os.startfile"})
    blocked_imports = frozenset({"_imp", "ctypes", "_ctypes", "cffi", "gc"})

    def hook(event, args):
        if event in blocked or event.startswith("ctypes."):
            raise PermissionError(f"{event} is not allowed while the grader runs your code")
        if event == "import" and args and args[0] in blocked_imports:
            raise PermissionError(f"importing {args[0]} is not allowed while the grader "
                                  "runs your code")
        if event in ("object.__getattr__", "object.__setattr__") and len(args) > 1 \
                and id(args[0]) in guarded:
            raise PermissionError("the grader's import guards are not open to inspection")

    return hook


def main():
    global OUT
    OUT = int(sys.argv[1])
    job = json.loads(sys.stdin.buffer.read())
    sys.path[:0] = job.get("sys_path", [])
    os.environ.setdefault("MPLBACKEND", "Agg")
    for module in job.get("preload", []):
        try:
            __import__(module)
        except Exception:
            pass
    import gc  # noqa: F401  (imported now: importing it later is refused)

    from cnn_course.course.testing import codec
    from cnn_course.course.testing.check import warm_up

    warm_up()  # in the main line, so that no forked case pays for it again

    cases = job["cases"]
    sys.meta_path.insert(0, _StubFinder(tops=job.get("stubs", [])))
    sys.meta_path.insert(1, _LazyFinder(tops=job.get("lazy", [])))
    sys.meta_path.append(_StubFinder(prefixes=["cnn_course"]))
    guarded = unbind_forbidden(job.get("forbid_builtins", []),
                               job.get("forbid_modules", []))
    sys.addaudithook(audit_hook_factory(guarded))
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    limits = job["limits"]
    done_read, done_write = os.pipe()
    main_line = os.fork()
    if main_line == 0:
        os.close(done_read)
        ns = {"__name__": "__main__", "__builtins__": __builtins__}
        ns["get_ipython"] = lambda shell=_Shell(ns): shell
        cells = list(job["cells"])
        if job.get("helpers"):
            cells.append({"id": "<assignment helpers>", "source": job["helpers"]})
        run_cells(cells, ns, limits)
        run_deferred_that_functions_use(ns)
        run_cases(cases, ns, limits, codec)
        os.write(done_write, b"done")
        os._exit(0)
    # PID 1: wait for the main line (whichever process it is by then), reap orphans.
    os.close(done_write)
    while True:
        ready, _, _ = select.select([done_read], [], [], 0.05)
        if ready:
            break
        try:  # reap orphans; without a PID namespace there may be none to reap
            while os.waitpid(-1, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            pass
    sys.exit(0)


if __name__ == "__main__":
    main()
