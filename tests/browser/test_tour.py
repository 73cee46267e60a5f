"""The tour notebook runs in JupyterLab and gives the README its two screenshots.

``notebooks/00_tour.ipynb`` is served from a temporary copy (EELSWIDGETS_FAST=1: small data)
and run; every explorer must render without errors. A brush in the rVAE latent space then
lights up the linked views, and the explorer and latent-space screenshots are written to
``docs/images/`` (atomically).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from .harness import REPO, notebook_errors, open_notebook

NB = "00_tour.ipynb"
IMAGES = REPO / "docs" / "images"


@pytest.fixture(scope="module")
def nbp(browser, lab_server):
    shutil.copy(REPO / "notebooks" / NB, lab_server["root"] / NB)
    p = open_notebook(browser, lab_server, NB, viewport=(1400, 1600))
    yield p
    p.page.context.close()


def _save(locator, name: str) -> Path:
    """Screenshot ``locator`` into docs/images/<name> via a temporary file in that folder."""
    IMAGES.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=".png", dir=IMAGES)
    os.close(fd)
    try:
        locator.screenshot(path=tmp)
        os.replace(tmp, IMAGES / name)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return IMAGES / name


def test_tour_runs_and_screenshots(nbp, artifacts):
    page = nbp.page
    assert not notebook_errors(nbp)
    for cls in (".ew-si-explorer", ".ew-decomposition-explorer", ".ew-training-box",
                ".ew-im2spec-explorer"):
        page.locator(cls).first.wait_for(state="visible")
    assert page.locator(".ew-latent-explorer").count() == 2
    # every image view and scatter has drawn
    page.wait_for_function("""() => [...document.querySelectorAll(
        '.ew-image-view, .ew-latent-scatter, .ew-manifold-view')]
        .every(e => Number(e.dataset.rendered) > 0)""")
    assert "done" in page.locator(".ew-training-status").first.text_content()
    # brush the rVAE latent space: the linked VAE scatter and NMF maps light up
    rx = page.locator(".ew-latent-explorer").nth(1)
    plot = rx.locator(".ew-scatter-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    page.mouse.move(box["x"] + 0.35 * box["width"], box["y"] + 0.25 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.75 * box["width"], box["y"] + 0.75 * box["height"], steps=4)
    page.mouse.up()
    page.wait_for_function("""() => Number(document.querySelectorAll('.ew-latent-scatter')[1]
        .dataset.selectionCount) > 0""")
    n = int(page.locator(".ew-latent-scatter").nth(1).get_attribute("data-selection-count"))
    page.wait_for_function(
        "(n) => [...document.querySelectorAll('.ew-decomposition-explorer .ew-image-view')]"
        ".every(e => e.dataset.selectionCount === String(n))", arg=n)
    assert nbp.wait_kernel("int(rx.selection.indices.size)", n) == n
    assert not nbp.real_errors(), nbp.errors
    # the latent explorer's first row: scatter and the linked maps
    for name, loc in (("tour_explorer.png", page.locator(".ew-si-explorer").first),
                      ("tour_latent.png", rx.locator(".widget-hbox").first)):
        loc.scroll_into_view_if_needed()
        path = _save(loc, name)
        assert path.stat().st_size > 10_000
        shutil.copy(path, artifacts / name)
