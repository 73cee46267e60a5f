"""SpectrumImageExplorer on a lazy (dask) spectrum image in JupyterLab: a click reads one chunk."""

from __future__ import annotations

from .harness import click_pixel, notebook_errors, path_d, wait_rendered

NB = "lazy_explorer.ipynb"
SHAPE = (32, 40)
CELLS = [
    "import numpy as np\nimport eelswidgets as ew\nfrom eelswidgets.widgets import "
    "SpectrumImageExplorer\n"
    f"si = ew.datasets.nanowires(seed=0, shape={SHAPE}, n_energy=128)\n"
    "lazy = si.as_lazy((10, 12))",                      # 4 x 4 chunks, ragged at the edges
    "ex = SpectrumImageExplorer(lazy, progress=False)\nex",
    "ids = dict(img=ex.image_view.model_id, ev=ex.energy_view.model_id)\n"
    "reads = ex.cube.reader.reads",
]
DATA_LINE = ".ew-spectrum-view path.line"


def test_click_on_a_lazy_cube_reads_one_chunk_and_draws_the_spectrum(nbp, ids, artifacts):
    page = nbp.page
    for key in ("img", "ev"):
        wait_rendered(page, ids[key])
    page.locator(DATA_LINE).wait_for(state="attached")
    assert nbp.kjson("[bool(lazy.is_lazy), reads]") == [True, 1]     # the centre's chunk
    before = path_d(page, DATA_LINE)
    click_pixel(page, ids["img"], 25, 3, SHAPE)                      # the chunk (20:30, 0:12)
    page.wait_for_function("([s, d]) => document.querySelector(s).getAttribute('d') !== d",
                           arg=[DATA_LINE, before])
    page.locator(".ew-spectrum-caption", has_text="pixel (y=25, x=3)").wait_for()
    assert nbp.kjson("[ex.selection.pixel, ex.cube.reader.reads - reads, bool(np.array_equal("
                     "ex.spectrum_view.lines['data'].y, si.data[25, 3])), "
                     "bool(np.array_equal(ex.energy_view.image, si.data.sum(-1)))]"
                     ) == [[25, 3], 1, True, True]
    click_pixel(page, ids["ev"], 27, 5, SHAPE)                       # same chunk: cached
    page.locator(".ew-spectrum-caption", has_text="pixel (y=27, x=5)").wait_for()
    assert nbp.kjson("ex.cube.reader.reads - reads") == 1
    assert not notebook_errors(nbp)
    assert not nbp.real_errors(), nbp.errors
    nbp.shot(artifacts / "lazy_explorer.png", page.locator(".ew-si-explorer"))
