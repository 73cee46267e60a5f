"""SpectrumImageExplorer in JupyterLab: render, click, rectangle selection, energy brush."""

from __future__ import annotations

from eelswidgets.widgets.spectrum_view import MARGIN

from .harness import (
    click_pixel,
    notebook_errors,
    path_d,
    view,
    wait_rendered,
)

NB = "si_explorer.ipynb"
SHAPE = (32, 40)
CELLS = [
    "import numpy as np\nimport eelswidgets as ew\nfrom eelswidgets.widgets import "
    "SpectrumImageExplorer\n"
    f"si = ew.datasets.nanowires(seed=0, shape={SHAPE}, n_energy=128)",
    "ex = SpectrumImageExplorer(si)\nex",
    "ids = dict(img=ex.image_view.model_id, ev=ex.energy_view.model_id)",
]
DATA_LINE = ".ew-spectrum-view path.line"  # the first line mark: the data


def test_renders_without_errors(nbp, ids, artifacts):
    page = nbp.page
    for key in ("img", "ev"):
        wait_rendered(page, ids[key])
        assert view(page, ids[key]).get_attribute("data-shape") == f"{SHAPE[0]},{SHAPE[1]}"
    page.locator(DATA_LINE).wait_for(state="attached")
    assert not notebook_errors(nbp)
    assert not nbp.real_errors(), nbp.errors
    nbp.shot(artifacts / "si_explorer.png", page.locator(".ew-si-explorer"))


COUNT_SENT = """() => {
  window.__sent = [];
  const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  k.anyMessage.connect((_, a) => {
    if (a.direction === 'send' && a.msg.header.msg_type === 'comm_msg') {
      window.__sent.push(a.msg.content.comm_id);
    }
  });
}"""


def test_click_moves_pixel_everywhere_and_updates_spectrum(nbp, ids):
    page = nbp.page
    before = path_d(page, DATA_LINE)
    page.evaluate(COUNT_SENT)
    click_pixel(page, ids["img"], 12, 30, SHAPE)
    # front-end link: the other image's crosshair moves too
    page.wait_for_function(
        "(id) => document.querySelector(`[data-testid='${id}']`).dataset.pixel === '12,30'",
        arg=ids["ev"])
    page.wait_for_function("([s, d]) => document.querySelector(s).getAttribute('d') !== d",
                           arg=[DATA_LINE, before])
    page.locator(".ew-spectrum-caption", has_text="pixel (y=12, x=30)").wait_for()
    assert nbp.kjson("[ex.selection.pixel, ex.image_view.pixel, ex.energy_view.pixel, "
                     "bool(np.array_equal(ex.spectrum_view.lines['data'].y, si.data[12, 30]))]"
                     ) == [[12, 30], [12, 30], [12, 30], True]
    # the click cost one message to the kernel, the selection's (the views follow from it)
    assert page.evaluate("() => window.__sent") == [nbp.kjson("ex.selection.model_id")]


def test_rectangle_selection_and_mean_overlay(nbp, ids):
    page = nbp.page
    canvas = view(page, ids["ev"]).locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    ny, nx = SHAPE

    def at(y, x):
        return (box["x"] + (x + 0.5) * box["width"] / nx, box["y"] + (y + 0.5) * box["height"] / ny)

    page.keyboard.down("Shift")                       # shift-drag: rectangle in pixel mode
    page.mouse.move(*at(5, 5))
    page.mouse.down()
    page.mouse.move(*at(7, 8), steps=3)
    page.mouse.move(*at(9, 12), steps=3)
    page.mouse.up()
    page.keyboard.up("Shift")
    want = [y * nx + x for y in range(5, 10) for x in range(5, 13)]
    page.wait_for_function(
        "([id, n]) => document.querySelector(`[data-testid='${id}']`).dataset.selectionCount"
        " === String(n)", arg=[ids["img"], len(want)])   # the other view, through the link
    assert nbp.wait_kernel("ex.selection.indices.size", len(want)) == len(want)
    got = nbp.kjson("[ex.selection.indices.tolist(), "
                    "bool(np.allclose(ex.spectrum_view.overlay('selection mean'), "
                    "si.data.reshape(-1, si.ne)[ex.selection.indices].mean(0), rtol=1e-5))]")
    assert got == [want, True]


def test_energy_brush_filters_the_image(nbp, ids):
    page = nbp.page
    n0 = int(view(page, ids["ev"]).get_attribute("data-rendered"))
    fig = page.locator(".ew-spectrum-view").first
    fig.scroll_into_view_if_needed()
    box = fig.bounding_box()
    e0, e1 = nbp.kjson("[float(si.energy[0]), float(si.energy[-1])]")
    left, right = MARGIN["left"], MARGIN["right"]
    width = box["width"] - left - right

    def xpix(e):
        return box["x"] + left + (e - e0) / (e1 - e0) * width

    ymid = box["y"] + box["height"] / 2
    page.mouse.move(xpix(0.8), ymid)
    page.mouse.down()
    page.mouse.move(xpix(1.0), ymid, steps=4)
    page.mouse.move(xpix(1.3), ymid, steps=4)
    page.mouse.up()
    wait_rendered(page, ids["ev"], n0)
    nbp.wait_kernel("ex.selection.energy_range is not None", True)
    lo, hi, same = nbp.kjson(
        "[*ex.selection.energy_range, bool(np.allclose(ex.energy_view.image, "
        "si.energy_image(*ex.selection.energy_range), rtol=1e-5, equal_nan=True))]")
    assert abs(lo - 0.8) < 0.05 and abs(hi - 1.3) < 0.05, (lo, hi)
    assert same
    assert not nbp.real_errors(), nbp.errors
