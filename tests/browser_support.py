"""Drive JupyterLab in Chromium for tests/test_browser.py: start Lab, open a notebook, check what shows.

Everything here takes the notebook's path as a parameter, so the same checks run on the real
lessons and on the scratch notebooks the self-tests write.

What it starts, and how it is stopped again (by process id, never by name):

- ``LabServer``: ``jupyter lab`` on 127.0.0.1, a free port, a random token, every Jupyter,
  IPython and JupyterLab directory (and ``HOME``) inside a temp dir, in a session of its own.
  ``stop()`` shuts the kernels down through the REST API, sends SIGTERM to Lab's process group,
  SIGKILL if it lingers, then kills any kernel it started that is still alive (jupyter_client
  starts each kernel in a session of its own, so Lab's group does not cover them).
- ``Chromium``: Debian's /usr/bin/chromium through Playwright's sync API; ``close()`` closes
  the browser and the Playwright driver, then kills whichever of their processes remain.

Both register themselves with an ``atexit`` and SIGTERM/SIGHUP fallback that kills their
processes by pid, so an interrupted or crashed test run leaves nothing behind.

The traps this works around, each seen on this machine:

- The toolbar's kernel indicator reads idle before the kernel's websocket is connected; cells
  run then are dropped without a word. ``wait_kernel_idle`` waits for the status bar's
  "| Idle" and for the kernel connection to be "connected".
- JupyterLab 4 virtualises off-screen cells. The test settings set ``windowingMode`` to
  ``none``; ``open_notebook`` asserts it took effect and that every cell is in the DOM.
- As root, Lab refuses to start without ``--allow-root``.
- ``page.evaluate`` returning a Lumino command's promise can hang: commands are started
  with ``void`` and their effect is polled for instead.
- News, update checks and the extension manager would reach for the network: turned off.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# JupyterLab user settings written for the test's Lab: every cell attached to the DOM, never
# save (a lesson must stay as committed: clean), no news, no update checks, no extension manager.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
    },
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


# --------------------------------------------------------------------------- process safety net

_ALIVE: dict[int, object] = {}  # id(obj) -> object with kill_now(); what the fallback must stop
_fallback_installed = False


def _kill_everything_now() -> None:
    """Kill, by pid, whatever the registered servers and browsers started. No Playwright calls."""
    for obj in list(_ALIVE.values()):
        try:
            obj.kill_now()
        except Exception:  # noqa: BLE001 - a fallback must try every object
            pass
    _ALIVE.clear()


def _on_signal(signum, frame):
    _kill_everything_now()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _install_fallback() -> None:
    global _fallback_installed
    if _fallback_installed:
        return
    atexit.register(_kill_everything_now)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        try:
            if signal.getsignal(sig) in (signal.SIG_DFL, None):
                signal.signal(sig, _on_signal)
        except ValueError:  # not the main thread
            pass
    _fallback_installed = True


def _kill_tree(procs, sig=signal.SIGKILL) -> None:
    """Send ``sig`` to each psutil.Process that is still the process we recorded (pid and start time)."""
    for proc in procs:
        try:
            if proc.is_running():
                proc.send_signal(sig)
        except Exception:  # noqa: BLE001 - gone already, or a zombie
            pass


def signal_group(proc: subprocess.Popen | None, sig=signal.SIGKILL) -> None:
    """Send ``sig`` to the process group of ``proc`` (a server we started in a session of its own) while it lives."""
    if proc is not None and proc.poll() is None:
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            pass


def skip_unless_ready(reason: str | None) -> None:
    """Skip the test when ``reason`` says what is missing; with COURSE_REQUIRE_BROWSER=1 (CI) fail instead."""
    if reason:
        if os.environ.get("COURSE_REQUIRE_BROWSER") == "1":
            pytest.fail(f"COURSE_REQUIRE_BROWSER=1 but {reason}")
        pytest.skip(reason)


# --------------------------------------------------------------------------- JupyterLab


def _term_when_parent_dies() -> None:
    """In the child, before exec: on Linux, get SIGTERM when the test process dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def token_api(url: str, token: str, method: str = "GET", timeout: float = 10):
    """One call to a Jupyter server's or JupyterHub's REST API with a token; the JSON answer, or None."""
    request = urllib.request.Request(url, method=method, headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        body = response.read()
    return json.loads(body) if body else None


class LabServer:
    """``jupyter lab`` serving ``root_dir``, isolated in ``workdir``; a context manager."""

    def __init__(self, root_dir: Path, workdir: Path, *, startup_timeout: float = 90.0):
        self.root_dir = Path(root_dir)
        self.workdir = Path(workdir)
        self.startup_timeout = startup_timeout
        self.token = secrets.token_hex(24)
        self.port = 0
        self.proc: subprocess.Popen | None = None
        self.log_path = self.workdir / "lab.log"
        self.runtime_dir = self.workdir / "runtime"
        self._known: dict[int, object] = {}  # pid -> psutil.Process, Lab and every kernel seen
        self._workspaces = 0

    # -- environment
    def environment(self) -> dict:
        w = self.workdir
        dirs = {
            "HOME": w / "home",
            "JUPYTER_CONFIG_DIR": w / "config",
            "JUPYTER_DATA_DIR": w / "data",
            "JUPYTER_RUNTIME_DIR": self.runtime_dir,
            "JUPYTERLAB_SETTINGS_DIR": w / "lab-settings",
            "JUPYTERLAB_WORKSPACES_DIR": w / "lab-workspaces",
            "IPYTHONDIR": w / "ipython",
            "MPLCONFIGDIR": w / "home" / ".config" / "matplotlib",
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
        env.update({k: str(v) for k, v in dirs.items()})
        env.update(
            {
                "JUPYTER_TOKEN": self.token,  # not on the command line, where `ps` would show it
                "COURSE_DEMO_MODE": "1",
                "HF_HUB_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
                "OMP_NUM_THREADS": str(max(1, min(2, os.cpu_count() or 1))),
            }
        )
        env.pop("MPLBACKEND", None)  # the kernel draws inline, as for a learner
        env.pop("XDG_CONFIG_HOME", None)
        env.pop("XDG_CACHE_HOME", None)
        env.pop("XDG_DATA_HOME", None)
        for path in dirs.values():
            path.mkdir(parents=True, exist_ok=True)
        settings = w / "lab-settings"
        for name, value in LAB_SETTINGS.items():
            target = settings / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(value))
        return env

    def command(self) -> list[str]:
        cmd = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root_dir}",
            "--ServerApp.terminals_enabled=False",
            # Lab checkpoints a notebook when it opens it: keep that out of the served folder.
            f"--FileCheckpoints.checkpoint_dir={self.workdir / 'checkpoints'}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.extension_manager=readonly",
            # If this run is killed hard, the kernels and then Lab still end on their own.
            "--MappingKernelManager.cull_idle_timeout=900",
            "--MappingKernelManager.cull_interval=60",
            "--ServerApp.shutdown_no_activity_timeout=900",
        ]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        return cmd

    # -- lifetime
    def start(self) -> LabServer:
        import psutil

        _install_fallback()
        env = self.environment()
        last_error = ""
        for _attempt in range(3):  # a free port can be taken between choosing and binding it
            self.port = free_port()
            with open(self.log_path, "ab") as log:
                self.proc = subprocess.Popen(
                    self.command(),
                    cwd=self.root_dir,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # its own process group, stopped as one
                    preexec_fn=_term_when_parent_dies,
                )
            self._known[self.proc.pid] = psutil.Process(self.proc.pid)
            _ALIVE[id(self)] = self
            try:
                self._wait_ready()
                self._check_settings()
                return self
            except RuntimeError as exc:
                last_error = str(exc)
                self.stop()
                if "address already in use" not in last_error.lower():
                    break
        raise RuntimeError(last_error)

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/api/status", timeout=2)
                return
            except (OSError, urllib.error.URLError):
                time.sleep(0.3)
        raise RuntimeError(f"jupyter lab did not answer within {self.startup_timeout:.0f} s:\n{self.log_tail()}")

    def _check_settings(self) -> None:
        """Lab must read the test's settings directory (windowing off, autosave off)."""
        for name, value in LAB_SETTINGS.items():
            package, _, plugin_name = name.removesuffix(".jupyterlab-settings").rpartition("/")
            plugin = f"{package}:{plugin_name}"  # e.g. @jupyterlab/notebook-extension:tracker
            composite = self.api("GET", f"/lab/api/settings/{plugin}")["settings"]
            for key, expected in value.items():
                if composite.get(key) != expected:
                    raise RuntimeError(
                        f"Lab ignored the test settings: {plugin} {key} is {composite.get(key)!r}, not {expected!r}"
                    )

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def api(self, method: str, path: str, timeout: float = 10):
        return token_api(self.base_url + path, self.token, method, timeout)

    def notebook_url(self, notebook: Path) -> str:
        """The address that opens ``notebook`` in a fresh workspace (no layout carried over)."""
        rel = Path(notebook).resolve().relative_to(self.root_dir.resolve()).as_posix()
        self._workspaces += 1
        quoted = urllib.request.pathname2url(rel)
        return f"{self.base_url}/lab/workspaces/test{self._workspaces}/tree/{quoted}?token={self.token}"

    def remember_children(self) -> None:
        """Record Lab's descendants (its kernels) now, so they can be killed even if Lab dies first."""
        import psutil

        if self.proc is None:
            return
        try:
            for child in psutil.Process(self.proc.pid).children(recursive=True):
                self._known.setdefault(child.pid, child)
        except psutil.Error:
            pass

    def shutdown_kernels(self) -> None:
        """Shut every running kernel down through Lab, as a learner's "Shut Down All" would."""
        self.remember_children()
        try:
            for kernel in self.api("GET", "/api/kernels") or []:
                self.api("DELETE", f"/api/kernels/{kernel['id']}", timeout=20)
        except (OSError, urllib.error.URLError, ValueError):
            pass

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.shutdown_kernels()
            signal_group(self.proc, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                signal_group(self.proc, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.kill_now()

    def kill_now(self) -> None:
        """SIGKILL Lab's process group (while Lab lives) and every process of it we recorded."""
        signal_group(self.proc, signal.SIGKILL)
        self.remember_children()
        _kill_tree(self._known.values())
        _ALIVE.pop(id(self), None)

    def __enter__(self) -> LabServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


# --------------------------------------------------------------------------- Chromium


class Chromium:
    """Debian's Chromium driven by Playwright (sync API); ``new_page()`` gives an isolated page."""

    def __init__(self, workdir: Path, executable: Path = CHROMIUM):
        self.workdir = Path(workdir)
        self.executable = Path(executable)
        self._pw = None
        self.browser = None
        self._known: dict[int, object] = {}

    def start(self) -> Chromium:
        import psutil
        from playwright.sync_api import sync_playwright

        _install_fallback()
        me = psutil.Process()
        before = {p.pid for p in me.children(recursive=True)}
        _ALIVE[id(self)] = self
        self._pw = sync_playwright().start()
        # Chromium writes crash-report settings and dconf state under HOME: keep them in workdir.
        home = self.workdir / "home"
        env = {k: v for k, v in os.environ.items() if not k.startswith("XDG_")}
        env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"))
        home.mkdir(parents=True, exist_ok=True)
        self.browser = self._pw.chromium.launch(
            executable_path=str(self.executable), headless=True, args=CHROMIUM_ARGS, env=env
        )
        # The Playwright driver and Chromium are the children this launch added.
        for proc in me.children(recursive=True):
            if proc.pid not in before:
                self._known[proc.pid] = proc
        return self

    def new_page(self, width: int = 1400, height: int = 1000):
        context = self.browser.new_context(viewport={"width": width, "height": height})
        context.set_default_timeout(30_000)
        return context.new_page()

    def close(self) -> None:
        try:
            if self.browser is not None:
                self.browser.close()
        except Exception:  # noqa: BLE001 - it may have crashed; the pids are killed below
            pass
        try:
            if self._pw is not None:
                self._pw.stop()
        except Exception:  # noqa: BLE001
            pass
        self.browser = self._pw = None
        self.kill_now()

    def kill_now(self) -> None:
        _kill_tree(self._known.values())
        _ALIVE.pop(id(self), None)


# --------------------------------------------------------------------------- failure evidence


def save_artifacts(page, name: str, directory: Path = ARTIFACTS, server: LabServer | None = None) -> list[Path]:
    """Screenshot and text of ``page`` (and Lab's log) under ``directory``; returns the paths written."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "_", name)
    written = []
    png = directory / f"{safe}.png"
    try:
        page.screenshot(path=str(png), timeout=15_000)
        written.append(png)
    except Exception as exc:  # noqa: BLE001 - evidence is best effort, the failure is reported anyway
        (directory / f"{safe}.screenshot-error.txt").write_text(repr(exc))
    txt = directory / f"{safe}.txt"
    try:
        txt.write_text(page.evaluate("() => document.body.innerText"), encoding="utf-8")
        written.append(txt)
    except Exception:  # noqa: BLE001
        pass
    if server is not None:
        log = directory / f"{safe}.lab.log"
        log.write_text(server.log_tail(20_000), encoding="utf-8")
        written.append(log)
    return written


@contextmanager
def evidence_on_failure(page, name: str, directory: Path = ARTIFACTS, server: LabServer | None = None):
    """Any exception inside becomes an AssertionError that names the screenshot and page text saved."""
    try:
        yield
    except Exception as exc:
        paths = save_artifacts(page, name, directory, server)
        where = "\n".join(f"  saved: {p}" for p in paths) or "  (no screenshot could be taken)"
        raise AssertionError(f"{type(exc).__name__}: {exc}\n{where}") from exc


# --------------------------------------------------------------------------- driving a notebook


def _poll(page, predicate, timeout: float, interval: float = 0.5):
    """Call ``predicate()`` until it returns something truthy; return it, or None on timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            return None
        page.wait_for_timeout(interval * 1000)


_NOTEBOOK_STATE_JS = """
() => {
  const app = window.jupyterapp;
  const panel = app && app.shell.currentWidget;
  if (!panel || !panel.content || !panel.sessionContext) return null;
  const sc = panel.sessionContext;
  const kernel = sc.session && sc.session.kernel;
  return {
    path: panel.context.path,
    ready: panel.context.isReady,
    windowingMode: panel.content.notebookConfig.windowingMode,
    modelCells: panel.content.widgets.length,
    domCells: panel.content.node.querySelectorAll('.jp-Cell').length,
    connection: kernel ? kernel.connectionStatus : null,
    kernelStatus: kernel ? kernel.status : null,
    statusBar: (document.querySelector('#jp-main-statusbar') || {}).textContent || '',
  };
}
"""


def notebook_state(page) -> dict | None:
    return page.evaluate(_NOTEBOOK_STATE_JS)


def open_notebook(page, server: LabServer, notebook: Path, timeout: float = 90) -> dict:
    """Open ``notebook`` in Lab in a fresh workspace; wait for its panel with every cell in the DOM."""
    rel = Path(notebook).resolve().relative_to(server.root_dir.resolve()).as_posix()
    page.goto(server.notebook_url(notebook), wait_until="domcontentloaded", timeout=timeout * 1000)

    def ready():
        state = notebook_state(page)
        return state if state and state["path"] == rel and state["ready"] else None

    state = _poll(page, ready, timeout)
    assert state, f"{rel} did not open in JupyterLab within {timeout:.0f} s"
    assert state["windowingMode"] == "none", (
        f"windowingMode is {state['windowingMode']!r}, not 'none': the test settings were not applied, "
        "and off-screen cells would be missing from the page"
    )
    assert state["domCells"] == state["modelCells"], (
        f"{state['domCells']} of {state['modelCells']} cells are in the DOM: cells are still virtualised"
    )
    server.remember_children()
    return state


def wait_kernel_idle(page, timeout: float = 90) -> dict:
    """Wait until the status bar says "| Idle" AND the kernel's websocket is connected."""

    def idle():
        state = notebook_state(page)
        ok = state and "| Idle" in state["statusBar"] and state["connection"] == "connected"
        return state if ok and state["kernelStatus"] == "idle" else None

    state = _poll(page, idle, timeout)
    if not state:
        last = notebook_state(page) or {}
        raise AssertionError(
            f"kernel not connected and idle within {timeout:.0f} s (status bar: {last.get('statusBar', '')!r}, "
            f"connection: {last.get('connection')}, kernel: {last.get('kernelStatus')})"
        )
    return state


def run_all_cells(page) -> None:
    """Run every cell, as Run > Run All Cells does. The command's promise is not awaited (it can hang)."""
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:run-all-cells'); }")


_CELLS_JS = r"""
() => {
  const panel = window.jupyterapp.shell.currentWidget;
  const cells = [];
  panel.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const source = cell.model.sharedModel.getSource();
    const prompt = cell.node.querySelector('.jp-InputArea-prompt');
    const errors = [];
    cell.node.querySelectorAll('.jp-OutputArea-output').forEach((out) => {
      const text = out.textContent || '';
      const isError = out.querySelector('[data-mime-type="application/vnd.jupyter.error"]')
        || out.getAttribute('data-mime-type') === 'application/vnd.jupyter.error';
      if (isError || text.includes('Traceback')) errors.push(text.slice(0, 3000));
    });
    // Collapsed outputs may not be rendered: the model has every output, shown or not.
    cell.model.outputs.toJSON().forEach((out) => {
      if (out.output_type === 'error') {
        errors.push(`${out.ename}: ${out.evalue}\n` + (out.traceback || []).join('\n').replace(/\x1b\[[0-9;]*m/g, ''));
      }
    });
    // A cell whose source is collapsed (a worked solution) has no prompt in the DOM: use its model.
    const count = cell.model.executionCount;
    cells.push({index, empty: source.trim() === '', firstLine: source.split('\n')[0].slice(0, 80),
                prompt: prompt ? prompt.textContent.trim() : (count ? `[${count}]:` : ''), errors});
  });
  return cells;
}
"""


def wait_all_cells_executed(page, timeout: float = 180) -> list[dict]:
    """Wait until every non-empty code cell shows an execution number and the kernel is idle again.

    Fails at once, with the traceback, when any output area shows an error.
    """
    numbered = re.compile(r"^\[\d+\]:$")
    deadline = time.monotonic() + timeout
    while True:
        cells = page.evaluate(_CELLS_JS)
        broken = [c for c in cells if c["errors"]]
        if broken:
            c = broken[0]
            raise AssertionError(f"cell {c['index']} ({c['firstLine']!r}) raised:\n{c['errors'][0]}")
        waiting = [c for c in cells if not c["empty"] and not numbered.match(c["prompt"])]
        if not waiting:
            state = notebook_state(page)
            if state and "| Idle" in state["statusBar"] and state["kernelStatus"] == "idle":
                return cells
        if time.monotonic() > deadline:
            shown = ", ".join(
                f"cell {c['index']} {c['prompt'] or '(no prompt)'} {c['firstLine']!r}" for c in waiting[:5]
            )
            raise AssertionError(
                f"not every cell ran within {timeout:.0f} s; {len(waiting)} waiting: {shown or '(kernel busy)'}"
            )
        page.wait_for_timeout(500)


def run_notebook(page, server: LabServer, notebook: Path, timeout: float = 180) -> list[dict]:
    """Open, wait for a connected idle kernel, run all cells, wait until each has run without error."""
    open_notebook(page, server, notebook)
    wait_kernel_idle(page)
    run_all_cells(page)
    page.wait_for_timeout(500)
    return wait_all_cells_executed(page, timeout)


_WATCH_RESTART_JS = """
() => {
  const sc = window.jupyterapp.shell.currentWidget.sessionContext;
  window.__courseKernelStatuses = [];
  sc.statusChanged.connect((_, status) => { window.__courseKernelStatuses.push(status); });
}
"""


def restart_and_run_all(page, server: LabServer, notebook: Path, timeout: float = 180) -> list[dict]:
    """Open, wait for a connected idle kernel, then Kernel > Restart Kernel and Run All Cells, confirmed in its dialog.

    Asserts that the kernel really restarted (its status passed through "restarting") and that every cell ran.
    """
    open_notebook(page, server, notebook)
    wait_kernel_idle(page)
    page.evaluate(_WATCH_RESTART_JS)
    page.evaluate("() => { void window.jupyterapp.commands.execute('notebook:restart-run-all'); }")
    accept = page.locator(".jp-Dialog .jp-mod-accept").first
    accept.wait_for(state="visible", timeout=30_000)
    label = accept.text_content() or ""
    assert "restart" in label.lower(), f"the confirmation dialog's button reads {label!r}, not Restart"
    accept.click()
    page.wait_for_timeout(500)
    cells = wait_all_cells_executed(page, timeout)
    statuses = page.evaluate("() => window.__courseKernelStatuses")
    assert "restarting" in statuses, f"the kernel never restarted (statuses seen: {statuses})"
    return cells


# --------------------------------------------------------------------------- checks

EXPLORER = ".attention-explorer"
STEP_HANDLE = ".explorer-step .noUi-handle"
HEATMAP = "img.explorer-heatmap, .explorer-heatmap img"

_IMAGE_PIXELS_JS = """
(img) => {
  if (!img.complete || img.naturalWidth === 0) return null;
  const canvas = document.createElement('canvas');
  canvas.width = img.naturalWidth;
  canvas.height = img.naturalHeight;
  canvas.getContext('2d').drawImage(img, 0, 0);
  return {src: img.src, data: canvas.toDataURL('image/png')};
}
"""


def _heatmap_pixels(img, timeout: float = 20):
    """(src, PNG data URL of the drawn pixels) once the heatmap image has loaded."""
    return _poll(img.page, lambda: img.evaluate(_IMAGE_PIXELS_JS), timeout, interval=0.25)


def check_heatmap_changes(page, timeout: float = 20) -> tuple[int, int]:
    """Move the explorer's step slider one step; the heatmap image must be redrawn and differ.

    Returns the slider's value before and after.
    """
    explorer = page.locator(EXPLORER).first
    explorer.wait_for(state="visible", timeout=timeout * 1000)
    explorer.scroll_into_view_if_needed()
    handle = explorer.locator(STEP_HANDLE).first
    handle.wait_for(state="visible", timeout=timeout * 1000)
    img = explorer.locator(HEATMAP).first
    img.wait_for(state="attached", timeout=timeout * 1000)
    before = _heatmap_pixels(img, timeout)
    assert before, "the explorer's heatmap image never loaded (naturalWidth stayed 0)"

    value = int(float(handle.get_attribute("aria-valuenow")))
    low = int(float(handle.get_attribute("aria-valuemin")))
    high = int(float(handle.get_attribute("aria-valuemax")))
    assert high > low, f"the step slider has a single position ({low}); there is nothing to step through"
    key = "ArrowRight" if value < high else "ArrowLeft"
    handle.focus()
    page.keyboard.press(key)

    def moved():
        now = int(float(handle.get_attribute("aria-valuenow")))
        return (now,) if now != value else None

    moved_to = _poll(page, moved, 5, interval=0.2)
    if not moved_to:  # keyboard not taken: drag the handle a little instead
        box = handle.bounding_box()
        track = explorer.locator(".explorer-step .noUi-target").first.bounding_box()
        step_px = track["width"] / (high - low)
        direction = 1 if key == "ArrowRight" else -1
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        page.mouse.move(x, y)
        page.mouse.down()
        page.mouse.move(x + direction * step_px, y, steps=5)
        page.mouse.up()
        moved_to = _poll(page, moved, 5, interval=0.2)
    assert moved_to, f"the step slider did not move from {value} ({key} and a drag were both ignored)"
    after_value = moved_to[0]

    def redrawn():
        now = img.evaluate(_IMAGE_PIXELS_JS)
        return now if now and now["src"] != before["src"] else None

    after = _poll(page, redrawn, timeout, interval=0.25)
    assert after, (
        f"the heatmap was not redrawn within {timeout:.0f} s after the step slider moved "
        f"from {value} to {after_value} (its image source never changed)"
    )
    assert after["data"] != before["data"], (
        f"the heatmap was redrawn after the step slider moved from {value} to {after_value}, "
        "but its pixels are identical"
    )
    return value, after_value


def output_texts(page) -> list[str]:
    """The text of every output area of the current notebook, in order."""
    return page.evaluate(
        "() => Array.from(window.jupyterapp.shell.currentWidget.content.node"
        ".querySelectorAll('.jp-OutputArea-output')).map((o) => o.textContent || '')"
    )


_CALL_LINE = re.compile(r"^\s*#\d+\s+(\S+)", re.MULTILINE)


def check_listener_log(page) -> str:
    """One output must hold a ForwardListener log: call lines (#N ...) for the encoder and the decoder."""
    for text in output_texts(page):
        lines = [line for line in text.splitlines() if _CALL_LINE.match(line)]
        if any("encoder" in line for line in lines) and any("decoder" in line for line in lines):
            return text
    raise AssertionError(
        "no output shows a ForwardListener log (call lines '#N  encoder ...' and '#N  decoder ...' in the same output)"
    )


_IMAGES_JS = """
() => Array.from(window.jupyterapp.shell.currentWidget.content.node
        .querySelectorAll('.jp-MarkdownOutput img'))
  .map((img) => ({src: img.getAttribute('src') || '', complete: img.complete, width: img.naturalWidth}))
"""


def check_markdown_images(page, timeout: float = 20) -> list[dict]:
    """Every <img> in rendered markdown has loaded (naturalWidth > 0); there is at least one."""

    def loaded():
        images = page.evaluate(_IMAGES_JS)
        return images if images and all(i["complete"] and i["width"] > 0 for i in images) else None

    images = _poll(page, loaded, timeout)
    if images:
        return images
    images = page.evaluate(_IMAGES_JS)
    assert images, "the rendered markdown holds no <img>: the lesson's figures are missing"
    broken = [i["src"] for i in images if not (i["complete"] and i["width"] > 0)]
    raise AssertionError(f"{len(broken)} of {len(images)} figures did not render (naturalWidth 0): {broken}")


# A cell that draws: pyplot calls, the course's plot_* helpers, or a .show() (tests/test_notebooks.py uses it too).
PLOT_PATTERN = re.compile(r"\bplt\.\w+\(|\bplot_\w+\(|\.show\(\)")

_CELL_IMAGES_JS = """
() => {
  const cells = [];
  window.jupyterapp.shell.currentWidget.content.widgets.forEach((cell, index) => {
    if (cell.model.type !== 'code') return;
    const images = Array.from(cell.node.querySelectorAll('.jp-OutputArea-output img'))
      .map((img) => ({complete: img.complete, width: img.naturalWidth, visible: img.checkVisibility()}));
    cells.push({index, source: cell.model.sharedModel.getSource(), images});
  });
  return cells;
}
"""


def check_plots_rendered(page, timeout: float = 20) -> list[int]:
    """Every code cell that plots (PLOT_PATTERN) shows a loaded, visible image in its output. Returns their indices."""

    def problems():
        cells = [c for c in page.evaluate(_CELL_IMAGES_JS) if PLOT_PATTERN.search(c["source"])]
        bad = [c for c in cells if not any(i["complete"] and i["width"] > 0 and i["visible"] for i in c["images"])]
        return cells, bad

    if _poll(page, lambda: not problems()[1], timeout):
        return [c["index"] for c in problems()[0]]
    _, bad = problems()
    shown = "; ".join(f"cell {c['index']} {c['source'].splitlines()[0][:60]!r}" for c in bad)
    raise AssertionError(f"{len(bad)} plotting cell(s) produced no image on the page: {shown}")


_SOLUTIONS_JS = r"""
() => {
  const root = window.jupyterapp.shell.currentWidget.content.node;
  const outputs = Array.from(root.querySelectorAll('.jp-OutputArea-output'))
    .filter((o) => o.checkVisibility()).map((o) => o.textContent || '');
  const folded = Array.from(root.querySelectorAll('.jp-MarkdownOutput details'))
    .filter((d) => /Solution/.test((d.querySelector('summary') || {}).textContent || ''))
    .map((d) => ({open: d.open, codeVisible: Array.from(d.querySelectorAll('pre, code'))
                    .some((c) => c.checkVisibility())}));
  return {outputs, folded};
}
"""
_REVEALED = re.compile(r"Exercise \d+: (correct|done)\b[^\n]*")


def check_no_solution_revealed(page) -> int:
    """After Run All, nothing on the page gives an answer away; returns how many folded solutions there are.

    No visible output says an exercise is correct or done (only a solution's run would), and every
    ``<details>`` solution is closed with its code out of sight.
    """
    found = page.evaluate(_SOLUTIONS_JS)
    revealed = [m.group(0) for text in found["outputs"] for m in [_REVEALED.search(text)] if m]
    assert not revealed, f"a solution's output is visible after Run All: {revealed[:3]}"
    opened = [i for i, d in enumerate(found["folded"]) if d["open"] or d["codeVisible"]]
    assert not opened, f"solutions {opened} of {len(found['folded'])} are open, their code in sight"
    return len(found["folded"])


@contextmanager
def folder_left_alone(page, folder: Path):
    """JupyterLab must not write into the served folder: no save, no new file, no hidden folder.

    Judged by the requests the page sends (a save is a PUT to /api/contents), not by the file's
    bytes, so an author editing a lesson while the test runs is no failure. Creating the opening
    checkpoint (a POST to .../checkpoints) is allowed: it goes to the test's own directory.
    """
    folder = Path(folder)
    hidden = {name for name in os.listdir(folder) if name.startswith(".")}
    writes = []

    def on_request(request):
        path = urllib.parse.urlparse(request.url).path
        if "/api/contents" in path and request.method != "GET":
            if not (request.method == "POST" and path.endswith("/checkpoints")):
                writes.append(f"{request.method} {path}")

    page.on("request", on_request)
    try:
        yield
    finally:
        page.remove_listener("request", on_request)
    assert not writes, f"JupyterLab tried to write into {folder}: {writes}"
    added = sorted({name for name in os.listdir(folder) if name.startswith(".")} - hidden)
    assert not added, f"JupyterLab wrote into {folder}: {added}"


def chromium_available() -> str | None:
    """None when the browser tests can run here, else the reason they cannot."""
    if not CHROMIUM.exists():
        return "Debian's Chromium is not installed (apt-get install --no-install-recommends chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -r requirements-dev.txt)"
    return None
