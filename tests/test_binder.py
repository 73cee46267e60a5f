"""Static checks of the Binder configuration (the full build is tests/binder_emulation.py)."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
sys.path.insert(0, str(Path(__file__).resolve().parent))

from binder_emulation import conda_pins  # noqa: E402


def test_environment_yml_has_only_conda_packages():
    lines = [ln.split("#")[0] for ln in (BINDER / "environment.yml").read_text().splitlines()]
    text = "\n".join(lines)
    pins = conda_pins(BINDER / "environment.yml")
    assert {"python", "nodejs", "pip"} <= set(pins)
    assert int(pins["nodejs"]) >= 18            # esbuild and the npm builder need a modern node
    # a pip section would be installed before postBuild and could pull a CUDA torch
    assert "pip:" not in text
    assert "torch" not in text


def test_conda_pins_parser():
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        f = Path(tmp) / "environment.yml"
        f.write_text("dependencies:\n  - python=3.11\n  - nodejs =20   # comment\n  - pip\n")
        assert conda_pins(f) == {"python": "3.11", "nodejs": "20", "pip": ""}


def test_postbuild_installs_cpu_torch_first_and_opens_the_tour():
    post = BINDER / "postBuild"
    assert os.access(post, os.X_OK), "binder/postBuild must be executable"
    subprocess.run(["bash", "-n", str(post)], check=True)
    text = post.read_text()
    assert text.startswith("#!/bin/bash")
    assert 'TORCH_VERSION=2.13.0' in text and '"torch==${TORCH_VERSION}"' in text
    assert "download.pytorch.org/whl/cpu" in text
    # torch before the package, so that resolving the package's dependencies cannot pick a
    # CUDA build
    assert text.index('"torch==${TORCH_VERSION}"') < text.index('".[io]"')
    assert 'default_url = "/lab/tree/notebooks/00_tour.ipynb"' in text
    assert (ROOT / "notebooks" / "00_tour.ipynb").is_file()
