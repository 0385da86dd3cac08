"""A class on one machine, for real: JupyterHub, three students at once in Chromium, lesson 01 from the link.

What runs: JupyterHub (pip ``jupyterhub``) with configurable-http-proxy (npm) on 127.0.0.1, loading
the course's own ``deploy/jupyterhub/jupyterhub_config.py`` (environment, shared cache, GPU cap,
idle culler) with two test-only overrides: a dummy authenticator (JupyterHub's shared-password
one, what DummyAuthenticator with a password became in JupyterHub 5.3) instead of
NativeAuthenticator, and the local-process spawner instead of SystemdSpawner (no systemd in CI). The shared model cache
holds the demo model's files under the three lesson models' names at their pinned revisions, in
huggingface_hub's cache layout, so lesson 01 loads every model from the cache (the non-demo
path), offline. Those configs say ``course_demo_stands_in_for``, which is what they are: the
lessons' checks that only hold for the real checkpoints skip, the structural ones run.

Three students then each, in their own browser context and all at the same time, open the link
``deploy/jupyterhub/course_link.py`` prints (an nbgitpuller link to a local bare repository of
this checkout's lessons), log in on the hub's page, land in JupyterLab on their own copy of
lesson 01, Run All, and must finish with every cell run and no error output.

Asserted afterwards: the shared cache is byte for byte as it was (no lock files, no refs, no
markers); each student's notebooks are a copy of their own (own files, and one student's edit
leaves the others' and the origin alone); a student who deleted a lesson and opens the link
again gets it back, with their own edit kept and the instructor's later commit merged in; and
when the hub stops, the hub and every process it started (proxy, idle culler, servers, kernels)
are gone. Each student's time and peak memory are printed, not asserted.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from extras_and_licenses import models
from tests import browser_support as bs
from tests import hubcache

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[1]
HUB_CONFIG = ROOT / "deploy" / "jupyterhub" / "jupyterhub_config.py"
STUDENTS = ("ada", "grace", "alan")
LESSON = "01_encoder_decoders.ipynb"
TARGET = "encoder-decoders"
RUN_TIMEOUT = float(os.environ.get("COURSE_HUB_RUN_TIMEOUT", "420"))  # seconds for all three Run Alls
NODE_PREFIX = Path(os.environ.get("COURSE_NODE_PREFIX", Path.home() / ".cache" / "course-ci" / "node"))


def find_proxy() -> str | None:
    """configurable-http-proxy: $CONFIGURABLE_HTTP_PROXY, then PATH, then the prefix .ci/run installs it into."""
    for candidate in (
        os.environ.get("CONFIGURABLE_HTTP_PROXY"),
        shutil.which("configurable-http-proxy"),
        str(NODE_PREFIX / "node_modules" / ".bin" / "configurable-http-proxy"),
    ):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return None


def missing_requirements() -> str | None:
    reason = bs.chromium_available()
    if reason:
        return reason
    if find_proxy() is None:
        return (
            "configurable-http-proxy is not installed "
            f"(npm install --prefix {NODE_PREFIX} configurable-http-proxy; .ci/run does this)"
        )
    for module in ("jupyterhub", "nbgitpuller", "jupyterhub_idle_culler"):
        try:
            __import__(module)
        except ImportError:
            return f"{module} is not installed (pip install -r requirements-dev.txt)"
    if shutil.which("git") is None:
        return "git is not installed (nbgitpuller needs it)"
    return None


# --------------------------------------------------------------------------- the instructor's side


tree_state = hubcache.tree_state


def mark_as_stand_in(snapshot: Path, spec: models.ModelSpec) -> None:
    """Give the cached config the marker a demo stand-in carries, as a new blob (the cache's layout)."""
    link = snapshot / "config.json"
    config = json.loads(link.read_text())
    config["course_demo_stands_in_for"] = spec.name
    data = (json.dumps(config, indent=2) + "\n").encode()
    blob = snapshot.parents[1] / "blobs" / hashlib.sha256(data).hexdigest()
    blob.write_bytes(data)
    link.unlink()
    link.symlink_to(os.path.relpath(blob, snapshot))


def build_shared_cache(cache: Path) -> Path:
    """What `prefetch --cache-dir` leaves, with the demo model's files; then made read-only."""
    for spec in models.LESSON_MODELS.values():
        mark_as_stand_in(hubcache.populate(cache, spec), spec)
    for dirpath, _dirnames, filenames in os.walk(cache):
        for name in filenames:
            os.chmod(Path(dirpath) / name, 0o444)
        os.chmod(dirpath, 0o555)
    return cache


def git(*args, cwd: Path) -> str:
    env = dict(os.environ, GIT_AUTHOR_NAME="Instructor", GIT_AUTHOR_EMAIL="instructor@example.org")
    env.update(GIT_COMMITTER_NAME="Instructor", GIT_COMMITTER_EMAIL="instructor@example.org")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


def build_course_repo(work: Path) -> tuple[Path, Path]:
    """A bare repository (the one the link names) holding this checkout's lessons and figures; and a clone to push from."""
    source = work / "instructor"
    (source / "notebooks").mkdir(parents=True)
    for nb in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        shutil.copy2(nb, source / "notebooks" / nb.name)
    shutil.copytree(ROOT / "imgs", source / "imgs")
    git("init", "-q", "-b", "main", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-q", "-m", "the lessons", cwd=source)
    bare = work / "course.git"
    git("clone", "-q", "--bare", str(source), str(bare), cwd=work)
    git("remote", "add", "origin", bare.as_uri(), cwd=source)
    return bare, source


def prepare_home(home: Path) -> None:
    """What a test needs in a student's home: Lab exposes its app object, never saves, fetches no news."""
    jupyter = home / ".jupyter"
    jupyter.mkdir(parents=True)
    (jupyter / "jupyter_server_config.json").write_text(
        json.dumps(
            {
                "LabApp": {
                    "expose_app_in_browser": True,
                    "news_url": None,
                    "check_for_updates_class": "jupyterlab.NeverCheckForUpdate",
                    "extension_manager": "readonly",
                },
                "ServerApp": {"terminals_enabled": False},
            }
        )
    )
    for name, value in bs.LAB_SETTINGS.items():
        target = jupyter / "lab" / "user-settings" / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(value))


# --------------------------------------------------------------------------- the hub


class Hub:
    """JupyterHub from the course's config (test overrides appended), in a session of its own."""

    def __init__(self, workdir: Path, shared_cache: Path, homes: Path):
        self.workdir = workdir
        self.shared_cache = shared_cache
        self.homes = homes
        self.password = secrets.token_urlsafe(12)
        self.token = secrets.token_hex(24)
        self.port = bs.free_port()
        self.proc: subprocess.Popen | None = None
        self.log_path = workdir / "hub.log"
        self.known: dict[int, object] = {}  # pid -> psutil.Process: the hub and everything it started
        self.peak_rss: dict[str, int] = {}  # student -> peak of the summed RSS of their server and kernels
        self.kernel_env: dict[str, dict] = {}  # student -> the environment their kernel runs in
        self._stop_sampling = threading.Event()
        self._sampler: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def write_config(self) -> Path:
        hub_port, api_port = bs.free_port(), bs.free_port()
        root_flag = ', "--ServerApp.allow_root=True"' if os.geteuid() == 0 else ""
        config = self.workdir / "test_config.py"
        config.write_text(
            f"""# The course's hub config, then what only a test changes.
c = get_config()  # noqa: F821
load_subconfig({str(HUB_CONFIG)!r})  # noqa: F821

c.JupyterHub.bind_url = "{self.url}"
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
c.ConfigurableHTTPProxy.command = [{find_proxy()!r}]
# Tests only: any name with one shared password (JupyterHub's successor of DummyAuthenticator's password).
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {self.password!r}
c.Authenticator.allow_all = True
c.Authenticator.admin_users = set()
assert c.JupyterHub.cleanup_servers is False  # as in class: stopping the hub leaves servers running
c.JupyterHub.spawner_class = "simple"  # tests only: no systemd here; it enforces no limits
c.SimpleLocalProcessSpawner.home_dir_template = {str(self.homes)!r} + "/{{username}}"
c.Spawner.args = ["--ServerApp.shutdown_no_activity_timeout=900"{root_flag}]
c.Spawner.environment["OMP_NUM_THREADS"] = "1"  # three students on two cores
# Tests only: the shared cache holds the demo model's megabytes under the real names, below the size floors.
c.Spawner.environment["COURSE_TEST_ONLY_ACCEPT_SMALL_FILES"] = "1"
c.JupyterHub.services.append({{"name": "course-test", "api_token": {self.token!r}}})
c.JupyterHub.load_roles.append(
    {{"name": "course-test", "scopes": ["admin:users", "admin:servers"], "services": ["course-test"]}}
)
"""
        )
        return config

    def environment(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON", "HF_", "COURSE_"))}
        env.update(
            HOME=str(self.workdir / "home"),
            PYTHONPATH=str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else ""),
            COURSE_HUB_COURSE_PREFIX=sys.prefix,  # the course environment is this test's Python
            COURSE_HUB_SHARED_CACHE=str(self.shared_cache),
            COURSE_HUB_GPU_MEMORY_GB="3",
            COURSE_HUB_IDLE_TIMEOUT="3600",
            PYTHONUNBUFFERED="1",
        )
        (self.workdir / "home").mkdir(exist_ok=True)
        return env

    def start(self, timeout: float = 60) -> Hub:
        import psutil

        config = self.write_config()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "jupyterhub", "-f", str(config)],
                cwd=self.workdir,
                env=self.environment(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=bs._term_when_parent_dies,
            )
        self.known[self.proc.pid] = psutil.Process(self.proc.pid)
        bs._install_fallback()
        bs._ALIVE[id(self)] = self
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                self.api("GET", "/hub/api/")
                return self
            except (OSError, urllib.error.URLError):
                time.sleep(0.5)
        raise RuntimeError(f"jupyterhub did not answer within {timeout:.0f} s:\n{self.log_tail()}")

    def _sample(self) -> None:
        """Every half second: remember each process the hub started, and add up each student's memory."""
        import psutil

        while not self._stop_sampling.is_set():
            try:
                children = psutil.Process(self.proc.pid).children(recursive=True)
            except psutil.Error:
                children = []
            per_student: dict[str, int] = {}
            for child in children:
                self.known.setdefault(child.pid, child)
                try:
                    env = child.environ()
                    user = env.get("JUPYTERHUB_USER")
                    if user:
                        per_student[user] = per_student.get(user, 0) + child.memory_info().rss
                        if "ipykernel_launcher" in " ".join(child.cmdline()):
                            self.kernel_env.setdefault(user, env)
                except psutil.Error:
                    continue
            for user, rss in per_student.items():
                self.peak_rss[user] = max(rss, self.peak_rss.get(user, 0))
            self._stop_sampling.wait(0.5)

    def api(self, method: str, path: str, timeout: float = 10):
        return bs.token_api(self.url + path, self.token, method, timeout)

    def log_tail(self, chars: int = 6000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return "(no log)"

    def alive(self) -> list[str]:
        out = []
        for proc in self.known.values():
            try:
                if proc.is_running() and proc.status() != "zombie":
                    out.append(f"{proc.pid} {' '.join(proc.cmdline())[:120]}")
            except Exception:  # noqa: BLE001 - gone between the two calls
                pass
        return out

    def stop_servers(self, names, timeout: float = 60) -> None:
        """Stop every student's server through the hub's API, as the admin page's "Stop All" does."""
        for name in names:
            try:
                self.api("DELETE", f"/hub/api/users/{name}/server", timeout=30)
            except urllib.error.HTTPError as exc:
                if exc.code not in (400, 404):  # not running: nothing to stop
                    raise
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            running = [n for n in names if self.api("GET", f"/hub/api/users/{n}").get("servers")]
            if not running:
                return
            time.sleep(0.5)
        raise AssertionError(f"servers still running {timeout:.0f} s after the hub was asked to stop them: {running}")

    def stop(self, timeout: float = 45) -> list[str]:
        """Stop the hub (SIGTERM: it stops its proxy and services); return what was left running (then killed)."""
        self._stop_sampling.set()
        if self._sampler is not None:
            self._sampler.join(timeout=5)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # the hub stops the servers, the proxy and the services
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                pass
        deadline = time.monotonic() + 15
        left = self.alive()
        while left and time.monotonic() < deadline:
            time.sleep(0.5)
            left = self.alive()
        self.kill_now()
        return left

    def kill_now(self) -> None:
        bs.signal_group(self.proc, signal.SIGKILL)
        bs._kill_tree(self.known.values())
        bs._ALIVE.pop(id(self), None)


# --------------------------------------------------------------------------- a student's side


def log_in_from_link(page, link: str, name: str, password: str) -> None:
    """Open the link handed out; the hub asks for a login first."""
    page.goto(link, wait_until="domcontentloaded", timeout=60_000)
    page.locator("#username_input").fill(name)
    page.locator("#password_input").fill(password)
    page.locator("#login_submit").click()


def wait_for_lesson(page, rel_path: str, timeout: float) -> dict:
    """After the link: the spawn page, nbgitpuller's page, then Lab with ``rel_path`` open and every cell in the DOM."""

    def ready():
        try:
            state = bs.notebook_state(page)
        except Exception:  # noqa: BLE001 - the page is between navigations (spawn, pull, Lab)
            return None
        return state if state and state["path"] == rel_path and state["ready"] else None

    state = bs._poll(page, ready, timeout)
    assert state, f"{rel_path} did not open in JupyterLab within {timeout:.0f} s (at {page.url})"
    assert state["windowingMode"] == "none" and state["domCells"] == state["modelCells"], state
    return state


def cells_done(page) -> tuple[bool, list[dict]]:
    """(every non-empty code cell has run and the kernel is idle, the cells); raises on an error output."""
    import re

    cells = page.evaluate(bs._CELLS_JS)
    broken = [c for c in cells if c["errors"]]
    if broken:
        raise AssertionError(
            f"cell {broken[0]['index']} ({broken[0]['firstLine']!r}) raised:\n{broken[0]['errors'][0]}"
        )
    waiting = [c for c in cells if not c["empty"] and not re.match(r"^\[\d+\]:$", c["prompt"])]
    state = bs.notebook_state(page)
    return (not waiting and "| Idle" in state["statusBar"] and state["kernelStatus"] == "idle"), cells


# --------------------------------------------------------------------------- the test


@pytest.fixture()
def requirements():
    bs.skip_unless_ready(missing_requirements())


def test_three_students_run_lesson_01_at_once_through_the_hub(tmp_path, requirements):
    sys.path.insert(0, str(ROOT / "deploy" / "jupyterhub"))
    try:
        from course_link import course_link
    finally:
        sys.path.pop(0)

    shared = build_shared_cache(tmp_path / "shared-hf-cache")
    cache_before = tree_state(shared)
    origin, instructor = build_course_repo(tmp_path / "git")
    origin_before = tree_state(origin)
    homes = tmp_path / "homes"
    for name in STUDENTS:
        prepare_home(homes / name)
    rel = f"{TARGET}/notebooks/{LESSON}"

    hub = Hub(tmp_path / "hub", shared, homes)
    (tmp_path / "hub").mkdir()
    hub.start()
    left_running = None
    try:
        link = course_link(hub.url, origin.as_uri(), lesson="01", target=TARGET)
        browser = bs.Chromium(tmp_path / "chromium").start()
        try:
            pages = {name: browser.new_page() for name in STUDENTS}
            started, ran, finished = {}, {}, {}
            for name, page in pages.items():  # one after the other, as students arrive
                started[name] = time.monotonic()
                with bs.evidence_on_failure(page, f"hub_login_{name}"):
                    log_in_from_link(page, link, name, hub.password)
            for name, page in pages.items():
                with bs.evidence_on_failure(page, f"hub_open_{name}"):
                    wait_for_lesson(page, rel, timeout=180)
                    bs.wait_kernel_idle(page, timeout=120)
                    bs.run_all_cells(page)
                    ran[name] = time.monotonic()
            deadline = time.monotonic() + RUN_TIMEOUT
            cells = {}
            while len(finished) < len(pages):  # all three kernels run at once; check each in turn
                for name, page in pages.items():
                    if name in finished:
                        continue
                    with bs.evidence_on_failure(page, f"hub_run_{name}"):
                        done, cells[name] = cells_done(page)
                    if done:
                        finished[name] = time.monotonic()
                if time.monotonic() > deadline:
                    late = sorted(set(pages) - set(finished))
                    raise AssertionError(f"not finished within {RUN_TIMEOUT:.0f} s: {late}\n{hub.log_tail()}")
                time.sleep(1)

            for name, page in pages.items():
                texts = bs.output_texts(page)
                assert not any("DEMO MODEL - NOT THE REAL ONE" in t for t in texts), (
                    f"{name}: a demo banner showed, so a model did not come from the shared cache"
                )
                assert any("Check passed: the encoder ran once" in t for t in texts), name
                assert sum(1 for c in cells[name] if not c["empty"]) > 20

            # What the hub config gives every kernel: the shared cache offline, a token path and a GPU cap of their own.
            for name in STUDENTS:
                env = hub.kernel_env.get(name)
                assert env, f"{name}'s kernel was never seen"
                assert env["HF_HUB_CACHE"] == str(shared) and env["HF_HUB_OFFLINE"] == "1", env
                assert env["COURSE_SHARED_CACHE"] == "1" and env["COURSE_GPU_MEMORY_GB"] == "3", env
                assert env["HF_TOKEN_PATH"] == "~/.cache/huggingface/token" and env["HOME"] == str(homes / name), env

            # Each student's notebooks are their own copy of the origin's.
            committed = (instructor / "notebooks" / LESSON).read_bytes()
            copies = {name: homes / name / rel for name in STUDENTS}
            inodes = set()
            for name, path in copies.items():
                assert path.is_file() and not path.is_symlink(), f"{name} has no copy of {rel}"
                assert path.read_bytes() == committed, f"{name}'s copy differs from the lesson handed out"
                inodes.add(path.stat().st_ino)
            assert len(inodes) == len(STUDENTS), "students share notebook files"
            first, *others = STUDENTS
            nb = json.loads(copies[first].read_text())
            nb["cells"].append({"cell_type": "markdown", "id": "my-notes", "metadata": {}, "source": ["my notes"]})
            copies[first].write_text(json.dumps(nb, indent=1) + "\n")  # a student's own edit
            for name in others:
                assert copies[name].read_bytes() == committed, f"{first}'s edit reached {name}'s copy"
            assert tree_state(origin) == origin_before, "a student's pull changed the origin repository"

            # A student deletes a lesson; the instructor commits an update; the same link brings both.
            lost = homes / first / TARGET / "notebooks" / "00_setup_and_preflight.ipynb"
            lost_bytes = lost.read_bytes()
            lost.unlink()
            (instructor / "notebooks" / "NOTES.md").write_text("Read lesson 02 before Thursday.\n")
            git("add", "-A", cwd=instructor)
            git("commit", "-q", "-m", "a note for the class", cwd=instructor)
            git("push", "-q", "origin", "main", cwd=instructor)
            page = pages[first]
            with bs.evidence_on_failure(page, f"hub_repull_{first}"):
                page.goto(link, wait_until="domcontentloaded", timeout=60_000)
                wait_for_lesson(page, rel, timeout=120)
            assert lost.read_bytes() == lost_bytes, "the deleted lesson did not come back from the link"
            assert (homes / first / TARGET / "notebooks" / "NOTES.md").is_file(), (
                "the instructor's update did not arrive"
            )
            assert "my notes" in copies[first].read_text(), "the pull lost the student's own edit"

            print(
                f"\nThree students through JupyterHub {json.loads(urllib.request.urlopen(hub.url + '/hub/api/').read())['version']}:"
            )
            print(f"  {'student':<8} {'link to Run All done':>20} {'Run All':>9} {'peak memory (server + kernel)':>31}")
            for name in STUDENTS:
                print(
                    f"  {name:<8} {finished[name] - started[name]:>18.1f} s {finished[name] - ran[name]:>7.1f} s"
                    f" {hub.peak_rss.get(name, 0) / 1e6:>27.0f} MB"
                )
        finally:
            browser.close()
        hub.stop_servers(STUDENTS)  # the end of the class
    finally:
        left_running = hub.stop()
    assert tree_state(shared) == cache_before, "something wrote into the shared model cache"
    assert not left_running, "processes outlived the hub (killed now):\n" + "\n".join(left_running)
    assert hub.proc.poll() is not None
    assert len(hub.known) >= 1 + 1 + 1 + 2 * len(STUDENTS), f"the hub's processes were not all seen: {hub.known}"
