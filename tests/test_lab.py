"""``cnn-course lab``: what a student meets in JupyterLab, without a browser.

Started from an environment whose ``PATH`` lacks the virtual environment (as
``.venv/bin/jupyter lab`` or a desktop launcher starts it), a terminal opened in
JupyterLab finds ``cnn-course``; ``--student`` turns nbgrader's instructor tools
off in the page and in the server; stopping the command stops the server.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import sysconfig

import pytest

from browser_helpers import Lab

pytestmark = pytest.mark.slow

SCRIPTS = sysconfig.get_path("scripts")
INSTRUCTOR = ("@jupyter/nbgrader:create-assignment", "@jupyter/nbgrader:formgrader",
              "@jupyter/nbgrader:course-list")


def _path_without_the_environment() -> str:
    return os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                           if p and os.path.realpath(p) != os.path.realpath(SCRIPTS))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A student's JupyterLab, started with the environment's folder off PATH."""
    root = tmp_path_factory.mktemp("lab")
    env = {"PATH": _path_without_the_environment(), "SHELL": "/bin/bash",
           "VIRTUAL_ENV": ""}
    lab = Lab(root, student=True, env=env)
    yield lab
    lab.stop()


async def _terminal_output(lab: Lab, name: str, command: str, until: re.Pattern,
                           timeout: float = 60) -> str:
    """Type ``command`` in terminal ``name``; what the terminal shows until a line
    matches ``until`` (the terminal echoes the command too)."""
    from tornado.websocket import websocket_connect

    url = lab.url(f"terminals/websocket/{name}").replace("http://", "ws://")
    ws = await websocket_connect(url)
    try:
        await ws.write_message(json.dumps(["stdin", command + "\r"]))
        text = ""
        deadline = asyncio.get_running_loop().time() + timeout
        while not until.search(text):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {until.pattern!r} in the terminal: {text[-2000:]!r}")
            message = await asyncio.wait_for(ws.read_message(), left)
            if message is None:
                raise ConnectionError(f"the terminal closed: {text[-2000:]!r}")
            kind, *data = json.loads(message)
            if kind == "stdout":
                text += data[0]
        return text
    finally:
        ws.close()


def test_a_terminal_in_jupyterlab_finds_cnn_course(lab):
    """The assignment's "before you submit" command is found in JupyterLab's
    terminal, and it is this environment's."""
    assert not any(os.path.realpath(p) == os.path.realpath(SCRIPTS)
                   for p in _path_without_the_environment().split(os.pathsep))
    # a line of its own, not the echoed command line ("... # echo found=$(...")
    answer = re.compile(r"(?:^|[\r\n])found=(\S*) end\r?\n")
    name = lab.api("terminals", method="POST")["name"]
    try:
        text = asyncio.run(_terminal_output(
            lab, name, "echo found=$(command -v cnn-course) end", until=answer))
    finally:
        lab.api_delete(f"terminals/{name}")
    assert answer.search(text)[1] == os.path.join(SCRIPTS, "cnn-course"), text[-1000:]


def test_student_lab_has_no_instructor_tools(lab):
    """The page turns off Create Assignment, Formgrader and Course List; the server
    does not serve the formgrader; the student's Assignment List stays."""
    page = lab.get("lab")
    config = json.loads(re.search(r'<script id="jupyter-config-data" type="application/'
                                  r'json">(.*?)</script>', page, re.S).group(1))
    disabled = config["disabledExtensions"]
    assert set(INSTRUCTOR) <= set(disabled), disabled
    assert not [name for name in disabled if "assignment-list" in name], disabled
    assert lab.status("formgrader") == 404
    assert lab.status("lab") == 200


def test_stopping_the_command_stops_the_server(tmp_path):
    """SIGTERM to `cnn-course lab` ends JupyterLab itself: no server is left behind
    on the port (cnn-course lab execs JupyterLab)."""
    lab = Lab(tmp_path, env={"CNN_COURSE_FAST": "1"})
    port = lab.port
    lab.stop()
    assert lab.process.returncode is not None
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0, f"a server still answers on {port}"
