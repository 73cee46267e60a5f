"""Real-browser harness: a throw-away JupyterLab server, headless Chromium, notebook helpers.

Every test module writes its own small notebook (no outputs, no widget state) into the
server's temporary root, opens it in a page of its own, runs all cells and then drives the
widgets with real mouse events. ``kexec`` runs code in the notebook's kernel to compare what
the browser shows with what Python computes.

Environment
-----------
BROWSER_ARTIFACTS : folder for screenshots and timings (default ``artifacts/browser``)
CHROMIUM : the browser executable (default ``/usr/bin/chromium``, Debian's package)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", REPO / "artifacts" / "browser"))
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-dev-shm-usage", "--enable-precise-memory-info",
    # WebGL without a GPU (the latent scatter): SwiftShader through ANGLE
    "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]
# console messages that are not errors of ours
IGNORED_CONSOLE = ("favicon", "Failed to load resource: the server responded with a status of",
                   "[Deprecation]", "GroupMarkerNotSet", "WebGL", "swiftshader",
                   ".woff2", ".woff")  # a font of the app refused (403) now and then


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def lab_server():
    """Run ``jupyter lab`` on 127.0.0.1:<random port> with fresh config/runtime/settings dirs."""
    port, token = _free_port(), secrets.token_hex(16)
    tmp = Path(tempfile.mkdtemp(prefix="ew-labtest-"))
    for d in ("runtime", "config", "workspaces", "ipython", "settings", "root", "data"):
        (tmp / d).mkdir()
    for rel, val in {
        "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false"},
        "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    }.items():
        f = tmp / "settings" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(json.dumps(val))
    env = dict(
        os.environ,
        JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
        JUPYTER_CONFIG_DIR=str(tmp / "config"),
        JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"),
        IPYTHONDIR=str(tmp / "ipython"),
        JUPYTER_PLATFORM_DIRS="1",
        EELSWIDGETS_FAST="1",
        OMP_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", ""))
                                   if p),
    )
    cmd = [
        sys.executable, "-m", "jupyterlab",
        "--no-browser", "--ip=127.0.0.1", f"--port={port}", "--port-retries=0",
        f"--IdentityProvider.token={token}", "--ServerApp.password=",
        f"--ServerApp.root_dir={tmp / 'root'}",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.news_url=None",
        "--LabApp.extension_manager=readonly",
        "--ServerApp.log_level=WARN",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    log = open(tmp / "server.log", "w")  # noqa: SIM115 (closed at teardown)
    proc = subprocess.Popen(cmd, env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            raise RuntimeError("jupyter lab died:\n" + (tmp / "server.log").read_text())
        try:
            with urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            raise RuntimeError("jupyter lab did not start:\n" + (tmp / "server.log").read_text())
        time.sleep(0.2)
    try:
        yield {"base": base, "token": token, "root": tmp / "root", "log": tmp / "server.log"}
    finally:
        proc.terminate()  # the server shuts its kernels down, then the group is killed
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=15)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        log.close()
        shutil.rmtree(tmp, ignore_errors=True)


@contextlib.contextmanager
def chromium():
    """Headless Chromium (Debian's, see CHROMIUM) driven by Playwright."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium (or set CHROMIUM)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


# ----------------------------------------------------------------------------- notebooks
def write_notebook(root: Path, name: str, cells: list[str]) -> str:
    """Write a notebook of code cells (markdown if a cell starts with '# %% md') into root."""
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3 (ipykernel)",
                                 "language": "python"}
    nb.metadata["language_info"] = {"name": "python"}
    nb.cells = [nbformat.v4.new_code_cell(c) for c in cells]
    nbformat.write(nb, str(root / name))
    return name


KERNEL_EXEC = """async (code) => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const fut = kernel.requestExecute({code, store_history: false, silent: false});
  const out = [];
  fut.onIOPub = (m) => {
    if (m.header.msg_type === 'stream') out.push(m.content.text);
    if (m.header.msg_type === 'error') out.push(m.content.ename + ': ' + m.content.evalue);
  };
  const reply = await fut.done;
  return {status: reply.content.status, out: out.join('')};
}"""


def kexec(page, code: str) -> str:
    """Run ``code`` in the page's notebook kernel; return its stdout (fail on an error)."""
    r = page.evaluate(KERNEL_EXEC, code)
    assert r["status"] == "ok", r
    return r["out"]


def kjson(page, expr: str):
    """Evaluate a Python expression in the kernel and return it decoded from JSON."""
    out = kexec(page, f"import json as _j; print(_j.dumps({expr}))")
    return json.loads(out.strip().splitlines()[-1])


class NotebookPage:
    """A notebook opened in JupyterLab (or Notebook 7) with its console errors."""

    def __init__(self, page, errors: list[str], name: str):
        self.page = page
        self.errors = errors
        self.name = name

    def kexec(self, code: str) -> str:
        return kexec(self.page, code)

    def kjson(self, expr: str):
        return kjson(self.page, expr)

    def wait_kernel(self, expr: str, expected, timeout: float = 20.0):
        """Poll the kernel until ``expr`` evaluates to ``expected`` (messages from the page
        may still be queued behind throttled widget updates); return the last value."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.kjson(expr)
            if got == expected or time.monotonic() > deadline:
                return got
            self.page.wait_for_timeout(100)

    def real_errors(self) -> list[str]:
        return [e for e in self.errors if not any(s in e for s in IGNORED_CONSOLE)]

    def shot(self, path: Path, locator=None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        (locator or self.page).screenshot(path=str(path))


def open_notebook(browser, lab_server, name: str, *, app: str = "lab",
                  viewport=(1400, 1500), run_all: bool = True) -> NotebookPage:
    """Open ``name`` (already in the server root), wait for the kernel, Run All."""
    ctx = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = ctx.new_page()
    page.set_default_timeout(120_000)
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"pageerror: {e}"))
    page.on("response", lambda r: errors.append(f"http {r.status}: {r.request.method} {r.url}")
            if r.status >= 400 else None)
    path = "lab/tree" if app == "lab" else "notebooks"
    page.goto(f"{lab_server['base']}/{path}/{name}?token={lab_server['token']}")
    page.wait_for_function(
        "(nb) => window.jupyterapp?.shell?.currentWidget?.context?.path === nb", arg=name)
    page.wait_for_function("""() => {
        const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
        return k && k.status === 'idle'; }""")
    page.evaluate("() => window.jupyterapp.shell.collapseLeft?.()")  # room for the widgets
    if run_all:
        ok = page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
        assert ok is not False
        page.wait_for_function("""() => {
            const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
            return k && k.status === 'idle'; }""")
    return NotebookPage(page, errors, name)


def notebook_errors(nbp: NotebookPage) -> list[str]:
    """Error outputs of the notebook's cells (tracebacks shown in the page)."""
    return nbp.page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
        .map(e => e.textContent).filter(t => /Error|Traceback/.test(t))""")


def fail_shot(request, nbp: NotebookPage) -> None:
    """Screenshot the page when the test that just ran failed."""
    rep = getattr(request.node, "rep_call", None)
    if rep is not None and rep.failed:
        nbp.shot(ARTIFACTS / f"FAILED-{request.node.name}.png")


# ----------------------------------------------------------------------------- DOM helpers
def view(page, model_id: str):
    """The root element of a widget view by its model id (``data-testid``)."""
    return page.locator(f"[data-testid='{model_id}']").first


def wait_rendered(page, model_id: str, more_than: int = 0) -> int:
    """Wait until the view's draw counter exceeds ``more_than``; return it."""
    page.wait_for_function(
        "([id, n]) => { const e = document.querySelector(`[data-testid='${id}']`);"
        " return e && Number(e.dataset.rendered || 0) > n; }", arg=[model_id, more_than])
    return int(view(page, model_id).get_attribute("data-rendered"))


def click_pixel(page, model_id: str, y: int, x: int, shape: tuple[int, int]) -> None:
    """Click the centre of image pixel ``(y, x)`` of an ImageView of image ``shape``."""
    canvas = view(page, model_id).locator("canvas").first
    box = canvas.bounding_box()
    ny, nx = shape
    canvas.click(position={"x": (x + 0.5) * box["width"] / nx,
                           "y": (y + 0.5) * box["height"] / ny})


def path_d(page, selector: str) -> str | None:
    return page.evaluate("(s) => document.querySelector(s)?.getAttribute('d') ?? null", selector)
