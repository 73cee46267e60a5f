"""Decomposition, VAE and rVAE explorers, linked, in JupyterLab.

One notebook builds NMF maps, a SpectralVAE and a MultichannelRVAE on the NMF maps (tiny data,
2 epochs), shows a DecompositionExplorer and two LatentExplorers and links all three. The tests
click and brush with the mouse and compare what the browser shows with what the kernel
computes.
"""

from __future__ import annotations

from .harness import (
    click_pixel,
    notebook_errors,
    view,
    wait_rendered,
)

NB = "latent_explorers.ipynb"
SHAPE = (24, 30)
CELLS = [
    "import numpy as np, torch\ntorch.set_num_threads(1)\nimport eelswidgets as ew\n"
    "from eelswidgets.widgets import DecompositionExplorer, LatentExplorer, link\n"
    "from eelswidgets.widgets.latent_scatter import points_in_region\n"
    f"si = ew.datasets.nanowires(seed=0, shape={SHAPE}, n_energy=96).remove_zlp().clip(0)\n"
    "dec = ew.decompose(si, n_components=4, random_state=0)\n"
    "vae = ew.SpectralVAE(latent_dim=2, epochs=2, seed=0).fit(si, progress=False)\n"
    "rv = ew.MultichannelRVAE(latent_dim=2, window=6, epochs=2, seed=0)"
    ".fit(dec.maps[[0, 1, 2]], progress=False)",
    "dx = DecompositionExplorer(si, dec)\ndx",
    "vx = LatentExplorer(si, vae)\nvx",
    "rx = LatentExplorer(si, rv, stack=dx.stack())\nrx",
    "shared = link(rx, vx, dx)\n"
    "ids = dict(maps=[v.model_id for v in dx.map_views],\n"
    "           vmaps=[v.model_id for v in vx.map_views.values()],\n"
    "           rmaps=[v.model_id for v in rx.map_views.values()],\n"
    "           vsc=vx.scatter.model_id, rsc=rx.scatter.model_id,\n"
    "           vman=vx.manifold.model_id, rman=rx.manifold.model_id)",
]


def _all_images(ids):
    return ids["maps"] + ids["vmaps"] + ids["rmaps"]


def test_all_explorers_render(nbp, ids, artifacts):
    page = nbp.page
    for mid in [*_all_images(ids), ids["vsc"], ids["rsc"], ids["vman"], ids["rman"]]:
        wait_rendered(page, mid)
    n_points = nbp.kjson("[int(vx.scatter.x.size), int(rx.scatter.x.size)]")
    assert int(view(page, ids["vsc"]).get_attribute("data-points")) == n_points[0]
    assert int(view(page, ids["rsc"]).get_attribute("data-points")) == n_points[1]
    assert view(page, ids["rman"]).get_attribute("data-kind") == "rgb"
    assert view(page, ids["vman"]).get_attribute("data-kind") == "spectra"
    assert not notebook_errors(nbp)
    assert not nbp.real_errors(), nbp.errors
    for cls, name in ((".ew-decomposition-explorer", "decomposition_explorer"),
                      (".ew-latent-explorer >> nth=0", "vae_explorer"),
                      (".ew-latent-explorer >> nth=1", "rvae_explorer")):
        nbp.shot(artifacts / f"{name}.png", page.locator(cls))


def test_click_on_a_map_moves_every_view_and_updates_decoded(nbp, ids):
    page = nbp.page
    y, x = 11, 13
    click_pixel(page, ids["maps"][1], y, x, SHAPE)
    for mid in _all_images(ids):            # every map of the three linked explorers
        page.wait_for_function(
            "([id, p]) => document.querySelector(`[data-testid='${id}']`).dataset.pixel === p",
            arg=[mid, f"{y},{x}"])
    flat = y * SHAPE[1] + x
    assert nbp.wait_kernel("shared.pixel", [y, x]) == [y, x]
    for sc in (ids["vsc"], ids["rsc"]):     # the current pixel's point is ringed
        page.wait_for_function(
            "([id, c]) => document.querySelector(`[data-testid='${id}']`).dataset.current === c",
            arg=[sc, str(flat)])
    checks = nbp.kjson(
        f"[bool(np.allclose(vx.spectrum_view.overlay('decoded'), "
        f"vae.decode(vae.encode(si)[{y}, {x}][None])[0], rtol=1e-5)),"
        f" bool(np.allclose(dx.spectrum_view.overlay('reconstruction'), "
        f"dec.maps[:, {y}, {x}] @ dec.spectra, rtol=1e-4)),"
        f" bool(np.array_equal(rx.spectrum_view.lines['data'].y, si.data[{y}, {x}])),"
        f" bool(np.allclose(rx.window_views['input'].rgb, "
        f"ew.widgets.latent_explorer.window_rgb(dx.stack()[:, {y}-3:{y}+3, {x}-3:{x}+3])))]")
    assert checks == [True, True, True, True]


def test_brush_in_rvae_latent_space_lights_up_every_view(nbp, ids):
    page = nbp.page
    plot = view(page, ids["rsc"]).locator(".ew-scatter-plot")
    plot.scroll_into_view_if_needed()
    box = plot.bounding_box()
    # brush the middle of the plot area: roughly a third of the points
    x0, x1 = box["x"] + 0.3 * box["width"], box["x"] + 0.7 * box["width"]
    y0, y1 = box["y"] + 0.2 * box["height"], box["y"] + 0.8 * box["height"]
    page.mouse.move(x0, y0)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, (y0 + y1) / 2, steps=3)
    page.mouse.move(x1, y1, steps=3)
    page.mouse.up()
    n_px = int(page.wait_for_function(
        "(id) => { const n = Number(document.querySelector(`[data-testid='${id}']`)"
        ".dataset.selectionCount); return n > 0 && n; }", arg=ids["rsc"]).json_value())
    # the maps of all three explorers and the VAE scatter follow in the browser
    for mid in [*_all_images(ids), ids["vsc"]]:
        page.wait_for_function(
            "([id, n]) => document.querySelector(`[data-testid='${id}']`)"
            ".dataset.selectionCount === String(n)", arg=[mid, n_px])
    assert nbp.wait_kernel("int(shared.indices.size)", n_px) == n_px
    # exactly the pixels whose points Python finds inside the brushed region
    same = nbp.kjson(
        "bool(np.array_equal(np.unique(rx.scatter.point_pixel[points_in_region("
        "rx.scatter.x, rx.scatter.y, rx.scatter.selection_region)]), shared.indices))")
    assert same is True
    # VAE scatter: as many highlighted points as VAE points on those pixels
    n_vae = nbp.kjson("int(np.isin(vx.scatter.point_pixel, shared.indices).sum())")
    assert view(page, ids["vsc"]).get_attribute("data-selected-points") == str(n_vae)
    assert not nbp.real_errors(), nbp.errors


def test_rectangle_on_a_map_highlights_latent_points(nbp, ids):
    page = nbp.page
    canvas = view(page, ids["maps"][0]).locator("canvas").first
    canvas.scroll_into_view_if_needed()
    box = canvas.bounding_box()
    ny, nx = SHAPE

    def at(y, x):
        return (box["x"] + (x + 0.5) * box["width"] / nx, box["y"] + (y + 0.5) * box["height"] / ny)

    page.keyboard.down("Shift")
    page.mouse.move(*at(8, 8))
    page.mouse.down()
    page.mouse.move(*at(12, 14), steps=4)
    page.mouse.up()
    page.keyboard.up("Shift")
    want = [y * nx + x for y in range(8, 13) for x in range(8, 15)]
    page.wait_for_function(
        "([id, n]) => document.querySelector(`[data-testid='${id}']`)"
        ".dataset.selectionCount === String(n)", arg=[ids["rsc"], len(want)])
    assert nbp.wait_kernel("shared.indices.tolist()", want) == want
    n_pts = nbp.kjson("[int(np.isin(rx.scatter.point_pixel, shared.indices).sum()), "
                      "int(np.isin(vx.scatter.point_pixel, shared.indices).sum())]")
    assert view(page, ids["rsc"]).get_attribute("data-selected-points") == str(n_pts[0])
    page.wait_for_function(
        "([id, n]) => document.querySelector(`[data-testid='${id}']`)"
        ".dataset.selectedPoints === String(n)", arg=[ids["vsc"], n_pts[1]])


def test_manifold_click_decodes_in_the_kernel(nbp, ids):
    page = nbp.page
    mv = view(page, ids["vman"])
    before = int(mv.get_attribute("data-decoded-rendered") or 0)
    grid = mv.locator("canvas").first
    box = grid.bounding_box()
    grid.click(position={"x": box["width"] * 0.4, "y": box["height"] * 0.6})
    page.wait_for_function(
        "([id, n]) => Number(document.querySelector(`[data-testid='${id}']`)"
        ".dataset.decodedRendered || 0) > n", arg=[ids["vman"], before])
    ok = nbp.kjson("bool(np.allclose(vx.manifold.decoded, "
                   "vae.decode(np.array(vx.manifold.clicked, np.float32)[None])[0], rtol=1e-5))")
    assert ok is True
