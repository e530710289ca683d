"""Shared pieces of the browser tests: Debian's chromium through Playwright, a
JupyterLab server on a free local port, screenshots.

The browser is the system's ``chromium`` (``apt-get install chromium``; ``.ci/run``
installs it where it may), started headless, so no display is needed and nothing is
downloaded at run time. Without it the browser tests skip and say why.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

from conftest import ROOT

SCREENSHOTS = ROOT / "_build" / "screenshots"  # git-ignored
# A wait, not a time limit: a test only fails when the page never gets there. Ten
# minutes, because on a loaded 2-core machine a lecture's kernel can take minutes.
WAIT_MS = 600_000


def chromium() -> str:
    """The system chromium, or skip (with the reason printed in the summary)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    pytest.skip("chromium is not installed (apt-get install chromium): browser tests "
                "skipped")


@contextmanager
def browser():
    """A headless chromium driven by Playwright."""
    path = chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=path, headless=True)
        try:
            yield b
        finally:
            b.close()


def new_page(b, width: int = 1280, height: int = 900):
    page = b.new_page(viewport={"width": width, "height": height})
    page.set_default_timeout(WAIT_MS)
    return page


def screenshot(page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """``cnn-course lab`` on a free port with a token, in ``cwd``, serving ``root``."""

    def __init__(self, root: Path, *, cwd: Path | None = None, student: bool = False,
                 env: dict[str, str] | None = None):
        self.root, self.port, self.token = Path(root), free_port(), secrets.token_hex(16)
        here = Path(cwd or root)
        self.log = open(here / f".lab-{self.port}.log", "w")  # noqa: SIM115
        # settings of this server only: no "get Jupyter news?" toast over the pages
        settings = here / f".lab-{self.port}-settings"
        plugin = settings / "@jupyterlab" / "apputils-extension"
        plugin.mkdir(parents=True, exist_ok=True)
        (plugin / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False}))
        args = [str(Path(sys.executable).parent / "cnn-course"), "lab", "--no-browser",
                f"--port={self.port}", "--ServerApp.ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                f"--ServerApp.root_dir={self.root}",
                # the open tabs of this server only, not those of ~/.jupyter's last run
                f"--LabApp.workspaces_dir={here / f'.lab-{self.port}-workspaces'}",
                f"--LabApp.user_settings_dir={settings}",
                "--LabApp.news_url=", "--ServerApp.open_browser=False"]
        if student:
            args.insert(2, "--student")
        if hasattr(os, "geteuid") and os.geteuid() == 0:  # CI runs as root
            args.append("--allow-root")
        self.process = subprocess.Popen(args, cwd=cwd or root, env={**os.environ,
                                                                    **(env or {})},
                                        stdout=self.log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def url(self, path: str = "lab") -> str:
        sep = "&" if "?" in path else "?"
        return f"http://127.0.0.1:{self.port}/{path}{sep}token={self.token}"

    def _open(self, path: str, method: str = "GET", body: dict | None = None
              ) -> tuple[int, bytes]:
        data = json.dumps(body).encode() if body is not None else (
            b"" if method == "POST" else None)
        request = urllib.request.Request(self.url(path), method=method, data=data,
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> dict:
        status, body = self._open(f"api/{path}", method, body)
        if status >= 400:
            raise urllib.error.HTTPError(self.url(f"api/{path}"), status, body[:200].decode(
                errors="replace"), None, None)
        return json.loads(body)

    def api_delete(self, path: str) -> None:
        self._open(f"api/{path}", "DELETE")

    def get(self, path: str) -> str:
        """A page's HTML."""
        status, body = self._open(path)
        assert status == 200, (path, status)
        return body.decode()

    def status(self, path: str) -> int:
        return self._open(path)[0]

    def _wait_ready(self, timeout: float = 180) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited: see {self.log.name}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.5)
        raise TimeoutError(f"JupyterLab did not answer in {timeout:.0f} s: {self.log.name}")

    def kernel_id(self, rel: str) -> str | None:
        """The id of the kernel of the notebook session at ``rel``, if there is one."""
        for session in self.api("sessions"):
            if session.get("path") == rel and session.get("kernel"):
                return session["kernel"]["id"]
        return None

    def start_kernel(self, rel: str) -> str:
        """Start the notebook session of ``rel`` through the REST API; its kernel id.
        The page then joins this session instead of starting a kernel of its own: on
        a busy machine that start can time out in the page, which then asks "Select
        Kernel" and starts another one. (The server reports such a kernel as
        "starting" until a client connects, so readiness is awaited on the page.)"""
        session = self.api("sessions", "POST", {
            "path": rel, "name": Path(rel).name, "type": "notebook",
            "kernel": {"name": "python3"}})
        return session["kernel"]["id"]

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.log.close()


def open_notebook(page, lab: Lab, name: str) -> str:
    """Open ``name`` in JupyterLab, alone (``?reset``: no tab of an earlier page is
    restored), on a kernel started beforehand, and wait for it to be idle; the
    kernel's id."""
    kernel = lab.kernel_id(name) or lab.start_kernel(name)
    page.goto(lab.url(f"lab/tree/{name}?reset"))
    page.wait_for_selector(".jp-Notebook-ExecutionIndicator[data-status='idle']")
    return kernel


def click_unless_a_dialog(page, target, kernel: str | None = None) -> None:
    """Click ``target``. JupyterLab asks "Select Kernel" when a notebook's kernel took
    long to start (a busy machine): answer it as a student would, with the running
    ``kernel`` when the dialog lists it (a new kernel would lose the cells queued on
    the old one), else with the preferred kernel it offers. Any other dialog over the
    page fails the test, naming it, and so does a target that stays unclickable for
    ``WAIT_MS``."""
    from playwright.sync_api import TimeoutError as PageTimeout

    deadline = time.monotonic() + WAIT_MS / 1000
    while True:
        try:
            target.click(timeout=30_000)
            return
        except PageTimeout:
            dialog = page.locator(".jp-Dialog")
            if not dialog.count():
                if time.monotonic() > deadline:
                    screenshot(page, "unclickable")
                    raise
                continue
            text = dialog.first.inner_text()
            if text.strip().startswith("Select Kernel"):
                choice = dialog.first.locator("select")
                existing = json.dumps({"id": kernel}, separators=(",", ":"))
                if kernel and choice.locator(f"option[value='{existing}']").count():
                    choice.select_option(value=existing)
                dialog.first.locator("button", has_text="Select").last.click()
                continue
            screenshot(page, "dialog")
            raise AssertionError("a dialog covers the page: " + " | ".join(text.split("\n")))


def run_menu(page, menu: str, item: str, timeout: float = WAIT_MS / 1000,
             kernel: str | None = None) -> None:
    """Click ``menu`` -> ``item`` once the item is enabled: JupyterLab enables a
    notebook's commands only when the notebook has become the current widget, which
    on a busy machine happens a while after its kernel is idle."""
    deadline = time.monotonic() + timeout
    label = page.locator(f".lm-Menu-itemLabel:text-is('{item}')")
    while True:
        click_unless_a_dialog(page, page.locator(f".lm-MenuBar-itemLabel:text-is('{menu}')"),
                              kernel)
        entry = page.locator(".lm-Menu-item", has=label)
        entry.wait_for()
        if "lm-mod-disabled" not in (entry.get_attribute("class") or "").split():
            entry.click()
            return
        page.keyboard.press("Escape")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{menu} > {item} stayed disabled for {timeout:.0f} s")
        page.wait_for_timeout(500)
