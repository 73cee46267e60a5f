"""A real line scan (1 x 40 pixels, LSMO) in SpectrumImageExplorer: visible, clickable."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import click_pixel, notebook_errors, path_d, view, wait_rendered

REALDATA = Path(__file__).resolve().parents[2].parent / "shared" / "realdata"
LINESCAN = REALDATA / "LSMO_linescan.hspy"
if not LINESCAN.is_file():
    pytest.fail(f"real data file {LINESCAN.name} is missing: it should be at {LINESCAN} (the "
                "folder shared/realdata/ beside the repository root; see its README.md)",
                pytrace=False)

NB = "linescan.ipynb"
SHAPE = (1, 40)
CELLS = [
    "import numpy as np\nimport eelswidgets as ew\nfrom eelswidgets.widgets import "
    f"SpectrumImageExplorer\nsi = ew.load({str(LINESCAN)!r})",
    "ex = SpectrumImageExplorer(si)\nex",
    "ids = dict(img=ex.image_view.model_id, ev=ex.energy_view.model_id)",
]
DATA_LINE = ".ew-spectrum-view path.line"


def test_line_scan_is_shown_as_a_usable_strip(nbp, ids, artifacts):
    page = nbp.page
    assert nbp.kjson("list(si.shape[:2])") == list(SHAPE)
    for key in ("img", "ev"):
        wait_rendered(page, ids[key])
        assert view(page, ids[key]).get_attribute("data-shape") == "1,40"
        box = view(page, ids[key]).locator("canvas").first.bounding_box()
        # square pixels would make a 320 x 8 px line; the view stretches it to a strip
        assert box["height"] >= 48, box
        assert box["width"] >= 4 * box["height"], box    # still reads as a line scan
    assert not notebook_errors(nbp)
    assert not nbp.real_errors(), nbp.errors
    nbp.shot(artifacts / "linescan_explorer.png", page.locator(".ew-si-explorer"))


def test_click_selects_a_pixel_and_draws_its_spectrum(nbp, ids):
    page = nbp.page
    page.locator(DATA_LINE).wait_for(state="attached")
    before = path_d(page, DATA_LINE)
    click_pixel(page, ids["img"], 0, 31, SHAPE)
    page.wait_for_function("([s, d]) => document.querySelector(s).getAttribute('d') !== d",
                           arg=[DATA_LINE, before])
    page.locator(".ew-spectrum-caption", has_text="pixel (y=0, x=31)").wait_for()
    assert nbp.kjson("[ex.selection.pixel, bool(np.array_equal("
                     "ex.spectrum_view.lines['data'].y, si.data[0, 31]))]") == [[0, 31], True]
    # a click near the bottom edge of the strip still lands in the one row
    canvas = view(page, ids["img"]).locator("canvas").first
    box = canvas.bounding_box()
    canvas.click(position={"x": 5.5 * box["width"] / 40, "y": box["height"] - 2})
    assert nbp.wait_kernel("ex.selection.pixel", [0, 5]) == [0, 5]
    assert not nbp.real_errors(), nbp.errors
