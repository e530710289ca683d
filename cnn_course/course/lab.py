"""``cnn-course lab``: JupyterLab with the course's commands in its terminals.

Started as ``.venv/bin/jupyter lab``, JupyterLab's terminal has no ``.venv/bin`` on
its ``PATH`` (nothing activated the environment), and where JupyterLab runs without
a terminal of its own (a desktop launcher, a service) the terminal is a login shell,
which resets ``PATH`` from ``/etc/profile``: ``cnn-course check`` is then "command
not found". This command starts JupyterLab

- with the folder of this Python's commands first on ``PATH`` and ``VIRTUAL_ENV``
  set, as activating the environment would;
- with terminals that are interactive shells but not login shells (``$SHELL``, else
  ``sh``), so that nothing resets that ``PATH``;
- with ``--student``: as a student's installation shows it, without nbgrader's
  instructor tools (Create Assignment, Formgrader, Course List). The student copy
  installs the same settings (:data:`STUDENT_CONFIG`) into the student's
  environment, so there a plain ``jupyter lab`` hides them too.

Other arguments go to ``jupyter lab`` unchanged (``--no-browser``, ``--port``, ...).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

# Jupyter configuration of a student's environment: a folder laid out like
# <prefix>/etc/jupyter/. The server file is named to sort after nbgrader's own
# nbgrader.json (the one that turns the extensions on) in the same folder.
STUDENT_CONFIG = Path(__file__).resolve().parent / "jupyter_student"
INSTRUCTOR_EXTENSIONS = ("@jupyter/nbgrader:create-assignment",
                         "@jupyter/nbgrader:formgrader", "@jupyter/nbgrader:course-list")


def scripts_folder() -> Path:
    """Where this environment's commands (``cnn-course``, ``jupyter``) are."""
    return Path(sysconfig.get_path("scripts"))


def lab_environment(student: bool = False, environ: dict[str, str] | None = None
                    ) -> dict[str, str]:
    """The environment JupyterLab (and so its terminals and kernels) runs with."""
    env = dict(os.environ if environ is None else environ)
    scripts = str(scripts_folder())
    path = [p for p in env.get("PATH", "").split(os.pathsep) if p and p != scripts]
    env["PATH"] = os.pathsep.join([scripts, *path])
    if sys.prefix != sys.base_prefix:
        env["VIRTUAL_ENV"] = sys.prefix
    if student:
        config_path = [str(STUDENT_CONFIG), *filter(None, env.get("JUPYTER_CONFIG_PATH", "")
                                                   .split(os.pathsep))]
        env["JUPYTER_CONFIG_PATH"] = os.pathsep.join(config_path)
    return env


def terminal_shell(environ: dict[str, str] | None = None) -> list[str]:
    """The terminal's command: the user's shell, interactive, not a login shell."""
    env = os.environ if environ is None else environ
    shell = env.get("SHELL") or shutil.which("bash") or shutil.which("sh") or "/bin/sh"
    return [shell]


def lab_command(args: list[str], environ: dict[str, str] | None = None) -> list[str]:
    settings = json.dumps({"shell_command": terminal_shell(environ)})
    return [sys.executable, "-m", "jupyterlab", f"--ServerApp.terminado_settings={settings}",
            *args]


def run_lab(args: list[str], student: bool = False) -> int:
    """Run JupyterLab until it stops; return its exit code.

    On POSIX this process becomes JupyterLab (``exec``): a signal sent to
    ``cnn-course lab`` (a service manager's or a test's SIGTERM) reaches the server
    itself, and no server outlives the command.
    """
    env = lab_environment(student)
    command = lab_command(args, env)
    if os.name == "posix":
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(command[0], command, env)
    try:
        return subprocess.call(command, env=env)
    except KeyboardInterrupt:  # JupyterLab has seen the Ctrl-C too, and stopped
        return 0
