"""The SpectrumImageExplorer in Notebook 7 (the `notebook` package), not only JupyterLab."""

from __future__ import annotations

import pytest

from .harness import (
    click_pixel,
    notebook_errors,
    open_notebook,
    path_d,
    view,
    wait_rendered,
    write_notebook,
)

NB = "nb7_explorer.ipynb"
SHAPE = (20, 24)
CELLS = [
    "import numpy as np\nimport eelswidgets as ew\nfrom eelswidgets.widgets import "
    "SpectrumImageExplorer\n"
    f"si = ew.datasets.nanowires(seed=1, shape={SHAPE}, n_energy=64)",
    "ex = SpectrumImageExplorer(si)\nex",
    "ids = dict(img=ex.image_view.model_id, ev=ex.energy_view.model_id)",
]
DATA_LINE = ".ew-spectrum-view path.line"


@pytest.fixture(scope="module")
def app_errors(browser, lab_server):
    """Console errors Notebook 7 logs on a notebook without any widget (not ours)."""
    write_notebook(lab_server["root"], "nb7_plain.ipynb", ["1 + 1"])
    p = open_notebook(browser, lab_server, "nb7_plain.ipynb", app="notebook")
    p.page.wait_for_timeout(1000)
    errors = set(p.real_errors())
    p.page.context.close()
    return errors


@pytest.fixture(scope="module")
def nbp(browser, lab_server, app_errors):
    write_notebook(lab_server["root"], NB, CELLS)
    p = open_notebook(browser, lab_server, NB, app="notebook")
    yield p
    p.page.context.close()


def test_explorer_in_notebook7(nbp, app_errors, artifacts):
    page = nbp.page
    assert "/notebooks/" in page.url                   # Notebook 7, not JupyterLab
    ids = nbp.kjson("ids")
    for key in ("img", "ev"):
        wait_rendered(page, ids[key])
    page.locator(DATA_LINE).first.wait_for(state="attached")
    before = path_d(page, DATA_LINE)
    click_pixel(page, ids["img"], 4, 17, SHAPE)
    page.wait_for_function(
        "(id) => document.querySelector(`[data-testid='${id}']`).dataset.pixel === '4,17'",
        arg=ids["ev"])
    page.wait_for_function("([s, d]) => document.querySelector(s).getAttribute('d') !== d",
                           arg=[DATA_LINE, before])
    assert nbp.wait_kernel("ex.selection.pixel", [4, 17]) == [4, 17]
    assert nbp.kjson("bool(np.array_equal(ex.spectrum_view.lines['data'].y, si.data[4, 17]))")
    assert view(page, ids["img"]).get_attribute("data-pixel") == "4,17"
    assert not notebook_errors(nbp)
    # Notebook 7.6 logs a few errors of its own on a plain notebook too: only new ones count
    ours = [e for e in nbp.real_errors() if e not in app_errors]
    assert not ours, (nbp.errors, app_errors)
    nbp.shot(artifacts / "notebook7_explorer.png")
