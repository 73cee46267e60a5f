"""Build the Binder environment the way repo2docker would, then run the tour notebook in it.

Usage: ``python tests/binder_emulation.py [--keep] [--notebook notebooks/00_tour.ipynb]``
(called by ``tests/run.sh``; set ``EELSWIDGETS_SKIP_BINDER=1`` there to leave it out locally).

The steps mirror repo2docker's for a repository with ``binder/environment.yml`` and
``binder/postBuild``:

1. the repository as a fresh clone sees it (git-tracked and untracked-but-not-ignored files
   copied to a temporary folder: no ``.venv``, no ``node_modules``, no built bundle);
2. the conda step (``environment.yml``: python, nodejs, pip) is replaced by this machine's
   ``python3`` and ``node``, whose versions are checked against the file;
3. a fresh virtual environment with what repo2docker's base environment provides (JupyterLab,
   ipykernel, nbclient);
4. ``binder/postBuild`` itself, run from the clone's root with ``EELSWIDGETS_TORCH_INDEX=""``
   (the CPU wheel index it uses on Binder is not reachable from CI, where pip's own index
   serves the CPU build of the pinned torch) and ``EELSWIDGETS_PIP_CACHE=1``;
5. checks: a CPU-only torch, the widget bundle and the JupyterLab extensions of the widget
   libraries installed, JupyterLab's default URL pointing at the tour;
6. the tour notebook executed in that environment (a kernel of the new venv, full settings as
   a Binder user gets them): it must finish without error and its kernel must stay under
   Binder's 2 GB memory limit.

Prints one JSON line with the timings and the peak memory; exits non-zero on any failure.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# What repo2docker's base environment ships (its frozen environment), installed before postBuild.
BASE_ENV = ["jupyterlab", "ipykernel", "nbclient"]
MEMORY_LIMIT_MB = 2048
LABEXTENSIONS = ["anywidget", "bqplot", "@jupyter-widgets/jupyterlab-manager"]

RUNNER = r"""
import json, os, resource, sys, time
import nbformat
from nbclient import NotebookClient
path = sys.argv[1]
nb = nbformat.read(path, as_version=4)
t0 = time.time()
NotebookClient(nb, timeout=900, kernel_name="python3",
               resources={"metadata": {"path": os.path.dirname(path)}}).execute()
print(json.dumps({"seconds": time.time() - t0,
                  "kernel_peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def run(cmd, *, cwd=None, env=None, log=None) -> str:
    """Run ``cmd``; raise with its output tail on failure; return stdout."""
    r = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    if log is not None:
        log.write(f"$ {' '.join(map(str, cmd))}\n{r.stdout}\n{r.stderr}\n")
    if r.returncode:
        tail = (r.stdout + r.stderr)[-4000:]
        raise RuntimeError(f"command failed ({r.returncode}): {' '.join(map(str, cmd))}\n{tail}")
    return r.stdout


def fresh_clone(dest: Path) -> int:
    """Copy the files a clone would hold (tracked + untracked-not-ignored) to ``dest``."""
    out = run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT)
    files = [f for f in out.split("\0") if f]
    n = 0
    for rel in files:
        src = ROOT / rel
        if not src.is_file():           # deleted in the work tree
            continue
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, target)
        n += 1
    return n


def conda_pins(env_file: Path) -> dict[str, str]:
    """``{"python": "3.11", "nodejs": "20", ...}`` from the dependencies of environment.yml."""
    pins = {}
    for line in env_file.read_text().splitlines():
        m = re.match(r"\s*-\s*([A-Za-z0-9_.-]+)\s*(?:=+\s*([0-9][0-9.]*))?\s*(?:#.*)?$", line)
        if m:
            pins[m.group(1)] = m.group(2) or ""
    return pins


def check_conda_step(pins: dict[str, str]) -> dict:
    """This machine's python3/node must match the versions environment.yml asks for."""
    for need in ("python", "nodejs", "pip"):
        if need not in pins:
            raise RuntimeError(f"binder/environment.yml must list {need} (repo2docker installs it)")
    py = f"{sys.version_info.major}.{sys.version_info.minor}"
    if pins["python"] and not py.startswith(pins["python"]):
        raise RuntimeError(f"environment.yml pins python={pins['python']} but this is {py}")
    node = run(["node", "--version"]).strip().lstrip("v")
    if pins["nodejs"] and node.split(".")[0] != pins["nodejs"].split(".")[0]:
        raise RuntimeError(f"environment.yml pins nodejs={pins['nodejs']} but node is {node}")
    return {"python": py, "node": node}


CHECKS = r"""
import json, os, sys
import importlib.resources as res
import torch, eelswidgets, eelswidgets.widgets as W
from jupyter_core.paths import jupyter_config_path, jupyter_path
from jupyter_server.extension.config import ExtensionConfigManager
from jupyter_server.serverapp import ServerApp
entries, labext = sys.argv[1].split(","), sys.argv[2].split(",")
assert torch.version.cuda is None, torch.__version__
assert "site-packages" in eelswidgets.__file__, eelswidgets.__file__   # installed, not the clone
static = {f.name for f in (res.files("eelswidgets") / "static").iterdir()}
missing = [e for e in entries if e not in static]
assert not missing, f"widget bundle files missing from the installed package: {missing}"
for name in W.__all__:                  # every widget class imports (and reads its bundle)
    getattr(W, name)
ext = set()
for d in jupyter_path("labextensions"):
    for dirpath, dirs, files in os.walk(d):
        if "package.json" in files:
            ext.add(os.path.relpath(dirpath, d))
            dirs[:] = []
missing = [e for e in labext if e not in ext]
assert not missing, f"JupyterLab extensions missing: {missing} (found {sorted(ext)})"
server_ext = ExtensionConfigManager(read_config_path=jupyter_config_path())
enabled = server_ext.get_jpserver_extensions()
assert enabled.get("eelswidgets._server_extension"), f"server extension not enabled: {enabled}"
app = ServerApp()
app.load_config_file()
print(json.dumps({"torch": torch.__version__, "default_url": app.default_url,
                  "widget_modules": sorted(entries), "server_extension": True}))
"""


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--notebook", default="notebooks/00_tour.ipynb")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folder")
    args = ap.parse_args(argv)

    t_start = time.time()
    timings: dict[str, float] = {}
    tmp = Path(tempfile.mkdtemp(prefix="binder-emulation-"))
    log = open(tmp / "build.log", "w")  # noqa: SIM115 - closed in finally
    ok = False
    try:
        clone, venv, cfg = tmp / "repo", tmp / "env", tmp / "jupyter-config"
        n_files = fresh_clone(clone)
        for need in ("binder/environment.yml", "binder/postBuild", args.notebook):
            if not (clone / need).is_file():
                raise RuntimeError(f"{need} is missing from the repository")
        versions = check_conda_step(conda_pins(clone / "binder/environment.yml"))
        timings["clone"] = time.time() - t_start

        t = time.time()
        run([sys.executable, "-m", "venv", str(venv)], log=log)
        py = str(venv / "bin" / "python")
        run([py, "-m", "pip", "install", "-q", "--upgrade", "pip"], log=log)
        run([py, "-m", "pip", "install", "-q", *BASE_ENV], log=log)
        timings["base_env"] = time.time() - t

        t = time.time()
        env = dict(os.environ, PATH=f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
                   VIRTUAL_ENV=str(venv), JUPYTER_CONFIG_DIR=str(cfg),
                   EELSWIDGETS_TORCH_INDEX="", EELSWIDGETS_PIP_CACHE="1")
        for key in ("PYTHONPATH", "EELSWIDGETS_FAST", "JUPYTER_PATH", "JUPYTER_DATA_DIR"):
            env.pop(key, None)
        run(["bash", "binder/postBuild"], cwd=clone, env=env, log=log)
        timings["postBuild"] = time.time() - t

        # run the checks and the notebook from outside the clone so that the installed
        # package, not the source folder, is imported
        entries = sorted(p.name for p in (clone / "js" / "src" / "widgets").glob("*.js"))
        checks = json.loads(run([py, "-c", CHECKS, ",".join(entries), ",".join(LABEXTENSIONS)],
                                cwd=tmp, env=env, log=log).splitlines()[-1])
        expected = f"/lab/tree/{args.notebook}"
        if checks["default_url"] != expected:
            raise RuntimeError(f"JupyterLab default URL is {checks['default_url']!r}, "
                               f"expected {expected!r}")

        t = time.time()
        res = json.loads(run([py, "-c", RUNNER, str(clone / args.notebook)], cwd=tmp,
                             env=dict(env, MPLBACKEND="Agg"), log=log).splitlines()[-1])
        timings["notebook"] = time.time() - t
        if res["kernel_peak_mb"] >= MEMORY_LIMIT_MB:
            raise RuntimeError(f"the notebook kernel peaked at {res['kernel_peak_mb']:.0f} MB, "
                               f"above Binder's {MEMORY_LIMIT_MB} MB")
        ok = True
        print(json.dumps({
            "ok": True, "files": n_files, **versions, "torch": checks["torch"],
            "default_url": checks["default_url"], "widget_modules": checks["widget_modules"],
            "server_extension": checks["server_extension"], "notebook": args.notebook,
            "kernel_peak_mb": round(res["kernel_peak_mb"], 1),
            "seconds": {k: round(v, 1) for k, v in timings.items()},
            "total_seconds": round(time.time() - t_start, 1)}))
    except Exception as err:
        print(f"binder emulation FAILED: {err}\n(full log: {tmp / 'build.log'})",
              file=sys.stderr)
        args.keep = True
    finally:
        log.close()
        if not args.keep:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
