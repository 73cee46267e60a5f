"""Im2SpecExplorer (two models side by side) in JupyterLab: render, click, prediction."""

from __future__ import annotations

from .harness import (
    click_pixel,
    notebook_errors,
    view,
    wait_rendered,
)

NB = "im2spec_explorer.ipynb"
SHAPE = (28, 28)
CELLS = [
    "import numpy as np, torch\ntorch.set_num_threads(1)\nimport eelswidgets as ew\n"
    "from eelswidgets.widgets import Im2SpecExplorer\n"
    f"si = ew.datasets.nanocube_array(seed=0, shape={SHAPE}, n_energy=64)\n"
    "train = np.zeros(si.shape[:2], bool)\ntrain[:, :14] = True\n"
    "m2 = ew.Im2Spec(latent_dim=2, window=8, epochs=1, seed=0).fit(si, train=train, "
    "progress=False)\n"
    "m10 = ew.Im2Spec(latent_dim=10, window=8, epochs=1, seed=0).fit(si, train=train, "
    "progress=False)",
    "ex = Im2SpecExplorer(si, m2, compare=m10, train=train)\nex",
    "ids = dict(haadf=ex.haadf_view.model_id, win=ex.window_view.model_id,\n"
    "           err=[v.model_id for v in ex.error_views])",
]


def test_renders_with_train_region_selected(nbp, ids, artifacts):
    page = nbp.page
    for mid in (ids["haadf"], ids["win"], *ids["err"]):
        wait_rendered(page, mid)
    # the training region is the initial selection, shown on every map
    for mid in (ids["haadf"], *ids["err"]):
        assert view(page, mid).get_attribute("data-selection-count") == str(28 * 14)
    assert len(ids["err"]) == 2
    assert not notebook_errors(nbp)
    assert not nbp.real_errors(), nbp.errors
    nbp.shot(artifacts / "im2spec_explorer.png", page.locator(".ew-im2spec-explorer"))


def test_click_shows_window_and_both_predictions(nbp, ids):
    page = nbp.page
    n_win = int(view(page, ids["win"]).get_attribute("data-rendered"))
    click_pixel(page, ids["haadf"], 15, 20, SHAPE)
    for mid in ids["err"]:
        page.wait_for_function(
            "([id, p]) => document.querySelector(`[data-testid='${id}']`).dataset.pixel === p",
            arg=[mid, "15,20"])
    wait_rendered(page, ids["win"], n_win)
    assert nbp.wait_kernel("ex.selection.pixel", [15, 20]) == [15, 20]
    got = nbp.kjson(
        "[bool(np.allclose(ex.spectrum_view.overlay('prediction'), m2.predict(si).data[15, 20])),"
        " bool(np.allclose(ex.spectrum_view.overlay('prediction (compare)'), "
        "m10.predict(si).data[15, 20])),"
        " bool(np.array_equal(ex.window_view.image, si.haadf[11:19, 16:24])),"
        " bool(np.array_equal(ex.spectrum_view.lines['data'].y, si.data[15, 20]))]")
    assert got == [True, True, True, True]
    # the legend names both models
    text = page.locator(".ew-im2spec-explorer .ew-spectrum-view").first.text_content()
    assert "latent 2" in text and "latent 10" in text, text


def test_border_pixel_has_no_prediction(nbp, ids):
    page = nbp.page
    click_pixel(page, ids["haadf"], 1, 1, SHAPE)
    assert nbp.wait_kernel("ex.selection.pixel", [1, 1]) == [1, 1]
    got = nbp.kjson("[ex.spectrum_view.overlay('prediction') is None, "
                    "bool(np.isnan(ex.window_view.image).all())]")
    assert got == [True, True]
    assert not nbp.real_errors(), nbp.errors
