"""Python-side tests of the explorers: selection sharing, link, bad input, what travels.

No browser here: the tests set the shared Selection from Python (what a click or a brush does
through the front-end links) and check what the kernel computes and sends.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from ipywidgets.widgets import widget as _ipw

import eelswidgets as ew
from eelswidgets.widgets import Selection, SpectrumImageExplorer, link
from eelswidgets.widgets._codec import array_to_json
from eelswidgets.widgets._explorer_base import CubeAccess


@pytest.fixture(scope="module")
def si():
    return ew.datasets.nanowires(seed=0, shape=(24, 30), n_energy=96)


def _payload(build):
    """Build widgets with ``build()``; return (result, bytes all their comm_open would send)."""
    before = set(_ipw._instances)
    result = build()
    total = 0
    for mid in set(_ipw._instances) - before:
        w = _ipw._instances[mid]
        state, _paths, buffers = _ipw._remove_buffers(w.get_state())
        total += len(json.dumps(state, default=str)) + sum(memoryview(b).nbytes for b in buffers)
    return result, total


# ----------------------------------------------------------------------------- Selection
def test_selection_validates_and_normalises():
    sel = Selection((4, 5))
    assert sel.pixel == [2, 2]                      # image centre by default
    user = np.array([7, 3, 3, 19], dtype=np.int64)
    sel.indices = user
    assert sel.indices.dtype == np.int32 and sel.indices.tolist() == [3, 7, 19]
    assert user.tolist() == [7, 3, 3, 19]           # the user's array is untouched
    with pytest.raises(ValueError):
        sel.indices.sort()                          # read-only: assign instead
    mask = np.zeros((4, 5), bool)
    mask[1, 2] = mask[3, 4] = True
    sel.indices = mask
    assert sel.indices.tolist() == [7, 19] and np.array_equal(sel.mask(), mask)
    with pytest.raises(ValueError, match="outside the image"):
        sel.pixel = (4, 0)
    with pytest.raises(ValueError, match=r"\[0, 20\)"):
        sel.indices = [20]
    with pytest.raises(TypeError, match="integer"):
        sel.indices = [1.5]
    with pytest.raises(ValueError, match="image shape"):
        sel.indices = np.zeros((5, 4), bool)
    sel.energy_range = (2.0, 1.0)
    assert sel.energy_range == [1.0, 2.0]
    sel.clear()
    assert sel.indices.size == 0 and sel.energy_range is None and sel.pixel == [2, 2]
    with pytest.raises(ValueError, match="fixed"):
        sel.shape = (3, 3)


# ----------------------------------------------------------------------------- SI explorer
def test_si_explorer_pixel_selection_energy(si):
    ex = SpectrumImageExplorer(si)
    sel = ex.selection
    assert tuple(sel.shape) == (24, 30)
    sel.pixel = (5, 7)
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, si.data[5, 7])
    assert ex.spectrum_view.caption.value == "pixel (y=5, x=7)"
    sel.indices = [0, 1, 30, 31]
    want = si.data[:2, :2].reshape(-1, si.ne).mean(axis=0)
    np.testing.assert_allclose(ex.spectrum_view.overlay("selection mean"), want, rtol=1e-5)
    # an empty selection hides the overlay and breaks nothing
    sel.indices = []
    assert ex.spectrum_view.overlay("selection mean") is None
    sel.pixel = (0, 0)
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, si.data[0, 0])
    # energy span -> energy-filtered image, both ways between selection and brush
    sel.energy_range = (0.5, 1.0)
    np.testing.assert_allclose(ex.energy_view.image, si.energy_image(0.5, 1.0), rtol=1e-5)
    assert list(ex.spectrum_view.brush.selected) == [0.5, 1.0]
    ex.spectrum_view.brush.selected = np.array([1.2, 1.6])   # what a drag on the plot does
    assert sel.energy_range == [1.2, 1.6]
    np.testing.assert_allclose(ex.energy_view.image, si.energy_image(1.2, 1.6), rtol=1e-5)
    sel.energy_range = None
    np.testing.assert_allclose(ex.energy_view.image, si.data.sum(-1), rtol=1e-5)


def test_views_are_tied_to_the_selection_in_the_front_end(si):
    ex = SpectrumImageExplorer(si)
    relay = {e["model"]: (e["pixel"], e["indices"]) for e in ex.selection._relay}
    assert relay == {f"IPY_MODEL_{v.model_id}": ("pixel", "selection")
                     for v in (ex.image_view, ex.energy_view)}
    ex.selection.untie(ex.energy_view)
    assert ex.selection.tied() == [ex.image_view.model_id]
    with pytest.raises(ValueError, match="no trait 'nope'"):
        ex.selection.tie(ex.energy_view, pixel="nope")


def test_browser_update_of_the_selection_reaches_tied_views_without_messages(si, monkeypatch):
    ex = SpectrumImageExplorer(si)
    assert ex.image_view._tied and ex.energy_view._tied   # their clicks go via the selection
    sent = []
    for v in (ex.image_view, ex.energy_view):
        monkeypatch.setattr(v, "_send", lambda msg, buffers=None, v=v: sent.append((v, msg)))
    # what the selection's front-end relay sends for a click, then for a rectangle
    ex.selection.set_state({"pixel": [3, 4]})
    ex.selection.set_state({"indices": array_to_json(np.array([9, 5], np.int32))})
    assert ex.image_view.pixel == ex.energy_view.pixel == [3, 4]
    for v in (ex.image_view, ex.energy_view):
        np.testing.assert_array_equal(v.selection, [5, 9])
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, si.data[3, 4])
    assert sent == []                     # the browser shows them already: nothing goes back
    ex.selection.untie(ex.energy_view)
    assert not ex.energy_view._tied
    ex.selection.set_state({"pixel": [5, 6]})
    assert ex.image_view.pixel == [5, 6] and ex.energy_view.pixel == [3, 4]


def test_link_shares_one_selection(si):
    a, b = SpectrumImageExplorer(si), SpectrumImageExplorer(si.crop_energy(0.5, 2.0))
    old_b = b.selection
    shared = link(a, b)
    assert shared is a.selection is b.selection and old_b is not shared
    shared.pixel = (10, 11)
    np.testing.assert_array_equal(b.spectrum_view.lines["data"].y,
                                  si.crop_energy(0.5, 2.0).data[10, 11])
    # b's views are now linked to the shared selection, not to its old one
    ids = {v.model_id for v in (b.image_view, b.energy_view)}
    assert ids <= set(shared.tied()) and not ids & set(old_b.tied())
    old_b.pixel = (1, 1)                             # the dropped selection drives nothing
    assert b.spectrum_view.caption.value == "pixel (y=10, x=11)"
    assert link(a, b) is shared                      # linking again is harmless


def test_link_refuses_bad_input_before_changing_anything(si):
    a = SpectrumImageExplorer(si)
    c = SpectrumImageExplorer(si.crop(0, 12, 0, 30))
    sel_c = c.selection
    with pytest.raises(ValueError, match="different shapes"):
        link(a, c)
    assert c.selection is sel_c
    with pytest.raises(TypeError, match="not an explorer"):
        link(a, object())
    with pytest.raises(ValueError, match="at least two"):
        link(a)
    with pytest.raises(ValueError, match="shape"):
        a.use_selection(Selection((3, 3)))


def test_bad_input_raises_before_display():
    with pytest.raises(TypeError, match="SpectrumImage"):
        SpectrumImageExplorer(np.zeros((4, 4, 4)))

    class Fake:
        data = np.zeros((4, 5, 6), np.float32)
        energy = np.arange(7.0)
    with pytest.raises(ValueError, match="energy"):
        SpectrumImageExplorer(Fake())


def test_huge_cube_only_views_travel():
    """1024 x 1024 x 2048 float32 (8 GiB) explored from a broadcast view: nothing is copied."""
    ne = 2048
    energy = np.linspace(0.0, 20.0, ne)
    spectrum = np.exp(-((energy - 5.0) ** 2)).astype(np.float32)
    ramp = np.linspace(0.5, 1.5, 1024, dtype=np.float32)

    class Lazy:  # any object with .data and .energy; data may be a memmap or a view
        data = np.broadcast_to(spectrum, (1024, 1024, ne))
        haadf = np.broadcast_to(ramp, (1024, 1024))
        pixel_size, pixel_unit, name = 0.5, "nm", "huge"

    Lazy.energy = energy
    cube_bytes = Lazy.data.size * 4
    ex, sent = _payload(lambda: SpectrumImageExplorer(Lazy(), energy_range=(4.0, 6.0)))
    assert cube_bytes == 8 * 2**30
    # two 512 x 512 float32 display images (1 MiB each) + spectra + small state
    assert sent < 3 * 2**20, sent
    assert ex.image_view._data.shape == (512, 512)
    ex.selection.pixel = (1000, 3)
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, spectrum)
    ex.selection.indices = np.arange(0, 1024 * 1024, 4099)
    np.testing.assert_allclose(ex.spectrum_view.overlay("selection mean"), spectrum, rtol=1e-5)
    sl = CubeAccess(Lazy()).energy_slice(4.0, 6.0)
    assert np.allclose(ex.energy_view.image, spectrum[sl].sum(dtype=np.float64), rtol=1e-5)


# ----------------------------------------------------------------------------- models
@pytest.fixture(scope="module")
def fitted(si):
    import torch

    torch.set_num_threads(1)
    clean = si.remove_zlp().clip(0)
    dec = ew.decompose(clean, n_components=4, random_state=0)
    vae = ew.SpectralVAE(latent_dim=2, epochs=1, seed=0).fit(clean, progress=False)
    rv = ew.MultichannelRVAE(latent_dim=2, window=6, epochs=1, seed=0).fit(
        dec.maps[[0, 1, 2]], progress=False)
    return clean, dec, vae, rv


def _no_new_widgets(fn, exc, match):
    before = len(_ipw._instances)
    with pytest.raises(exc, match=match):
        fn()
    return len(_ipw._instances) - before


def test_decomposition_explorer(fitted):
    from eelswidgets.widgets import DecompositionExplorer

    clean, dec, _vae, _rv = fitted
    dx = DecompositionExplorer(clean, dec)
    dx.selection.pixel = (6, 9)
    np.testing.assert_allclose(dx.spectrum_view.overlay("reconstruction"),
                               dec.maps[:, 6, 9] @ dec.spectra, rtol=1e-5)
    np.testing.assert_array_equal(dx.spectrum_view.lines["data"].y, clean.data[6, 9])
    assert "abundances at (6, 9)" in dx.abundances.value
    assert dx.channels == [0, 1, 2]
    dx.channels = [3, 1]
    assert dx.channels == [1, 3]
    stack = dx.stack()
    np.testing.assert_array_equal(stack, dec.maps[[1, 3]])
    stack[:] = 0                                   # a copy: the explorer is unaffected
    assert np.any(dx.stack() != 0)
    with pytest.raises(ValueError, match="component numbers"):
        dx.channels = [4]
    dx.channels = []
    with pytest.raises(ValueError, match="no channel"):
        dx.stack()


def test_shape_mismatches_raise_before_any_widget_exists(si, fitted):
    from eelswidgets.widgets import DecompositionExplorer, Im2SpecExplorer, LatentExplorer

    clean, dec, vae, rv = fitted
    small = clean.crop(0, 12, 0, 30)
    assert _no_new_widgets(lambda: DecompositionExplorer(small, dec), ValueError,
                           "12x30") == 0
    assert _no_new_widgets(lambda: DecompositionExplorer(clean.crop_energy(1.0, 2.0), dec),
                           ValueError, "channels") == 0
    assert _no_new_widgets(lambda: LatentExplorer(clean, rv), ValueError, "stack=") == 0
    assert _no_new_widgets(lambda: LatentExplorer(clean, rv, stack=dec.maps[:3, :10]),
                           ValueError, "stack must be") == 0
    assert _no_new_widgets(lambda: LatentExplorer(clean, vae, color=np.ones((3, 3))),
                           ValueError, "color") == 0
    assert _no_new_widgets(lambda: LatentExplorer(clean, vae, dims=(0, 5)),
                           ValueError, "dims") == 0
    no_haadf = clean.replace(haadf=None)
    assert _no_new_widgets(lambda: Im2SpecExplorer(no_haadf, object()), ValueError,
                           "HAADF") == 0


def test_vae_latent_explorer(fitted):
    from eelswidgets.widgets import LatentExplorer
    from eelswidgets.widgets.latent_scatter import points_in_region

    clean, _dec, vae, _rv = fitted
    ex = LatentExplorer(clean, vae)
    z = vae.encode(clean)
    assert ex.scatter.x.dtype == np.float32 and ex.scatter.x.size == 24 * 30
    np.testing.assert_array_equal(ex.scatter.x, z[..., 0].reshape(-1))
    ex.selection.pixel = (3, 4)
    assert ex.scatter.current == 3 * 30 + 4
    np.testing.assert_allclose(ex.spectrum_view.overlay("decoded"),
                               vae.decode(z[3, 4][None])[0], rtol=1e-5)
    ex.scatter.current = 5 * 30 + 7                 # what a click on a point does
    assert ex.selection.pixel == [5, 7]
    # a brush region -> exactly the pixels of the points inside it
    region = {"kind": "rect", "x0": float(np.median(ex.scatter.x)), "x1": 1e9,
              "y0": -1e9, "y1": 1e9}
    pts = points_in_region(ex.scatter.x, ex.scatter.y, region)
    ex.selection.indices = ex.scatter.point_pixel[pts]
    assert 0 < ex.selection.indices.size < 24 * 30
    np.testing.assert_allclose(ex.spectrum_view.overlay("selection mean"),
                               clean.data.reshape(-1, clean.ne)[ex.selection.indices].mean(0),
                               rtol=1e-5)
    ex.color_by.value = "z2"
    np.testing.assert_array_equal(ex.scatter.color, z[..., 1].reshape(-1))
    assert ex.manifold.tiles.shape == (8, 8, clean.ne)
    np.testing.assert_allclose(ex.manifold.decode([0.1, -0.2]),
                               vae.decode(np.array([[0.1, -0.2]], np.float32))[0], rtol=1e-5)


def test_rvae_latent_explorer_and_three_way_link(fitted):
    from eelswidgets.patches import window_bounds
    from eelswidgets.widgets import DecompositionExplorer, LatentExplorer

    clean, dec, vae, rv = fitted
    stack = dec.maps[[0, 1, 2]]
    rx = LatentExplorer(clean, rv, stack=stack)
    enc = rv.encode(stack)
    border = ~np.isfinite(enc["z"][..., 0])
    assert border.any() and rx.scatter.x.size == int((~border).sum())
    assert not np.isin(rx.scatter.point_pixel, np.flatnonzero(border)).any()
    y, x = 12, 15
    rx.selection.pixel = (y, x)
    b, _a = window_bounds(6)
    np.testing.assert_array_equal(rx.input_window(y, x), stack[:, y - b:y - b + 6, x - b:x - b + 6])
    np.testing.assert_allclose(rx.decoded_at(y, x),
                               rv.decode(enc["z"][y, x][None], angle=enc["angle"][y, x][None])[0],
                               rtol=1e-5)
    assert rx.window_views["decoded"].rgb.shape == (6, 6, 3)
    assert rx.decoded_at(0, 0) is None and rx.input_window(0, 0) is None
    rx.selection.pixel = (0, 0)                     # border: shown empty, nothing breaks
    assert np.isnan(rx.window_views["input"].rgb).all()
    vx, dx = LatentExplorer(clean, vae), DecompositionExplorer(clean, dec)
    shared = link(rx, vx, dx)
    shared.indices = [40, 41, 42]
    for ex in (rx, vx, dx):
        assert ex.selection is shared
        np.testing.assert_allclose(ex.spectrum_view.overlay("selection mean"),
                                   clean.data.reshape(-1, clean.ne)[[40, 41, 42]].mean(0),
                                   rtol=1e-5)
    shared.indices = []                             # empty selection: overlays hidden
    assert all(ex.spectrum_view.overlay("selection mean") is None for ex in (rx, vx, dx))
    # the manifold: the model's own grid over latent_ranges_, in the one orientation
    r = rv.latent_ranges_
    assert rx.manifold.extent == pytest.approx([r[0, 0], r[0, 1], r[1, 0], r[1, 1]])
    np.testing.assert_allclose(rx.manifold.tiles, np.moveaxis(rv.manifold(grid=8), 2, -1),
                               rtol=1e-6)
    lo = np.array([r[0, 0], r[1, 0]], np.float32)   # tile [0, 0]: lowest z1 and z2
    np.testing.assert_allclose(rx.manifold.decode(lo), rx.manifold.tiles[0, 0], atol=1e-6)


def test_latent_explorer_serves_any_latent_model_through_its_adapter(si):
    import torch

    from eelswidgets.widgets import LatentExplorer

    torch.set_num_threads(1)
    cubes = ew.datasets.nanocube_array(seed=0, shape=(20, 20), n_energy=32)
    m2 = ew.Im2Spec(latent_dim=3, window=8, epochs=1, seed=0).fit(cubes, progress=False)
    ex = LatentExplorer(cubes, m2, dims=(0, 2), manifold_grid=3)   # no branch of its own
    z = m2.encode(cubes)
    assert ex.scatter.x.size == int(np.isfinite(z[..., 0]).sum())
    ex.selection.pixel = (10, 10)
    np.testing.assert_allclose(ex.spectrum_view.overlay("decoded"), m2.decode(z[10, 10]),
                               rtol=1e-5)
    np.testing.assert_allclose(ex.manifold.tiles, m2.manifold(grid=3, dims=(0, 2)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="stack= is for models that encode maps"):
        LatentExplorer(cubes, m2, stack=np.zeros((1, 20, 20)))
    with pytest.raises(TypeError, match="fitted latent model"):
        LatentExplorer(si, object())


def test_im2spec_explorer():
    import torch

    from eelswidgets.widgets import Im2SpecExplorer

    torch.set_num_threads(1)
    si = ew.datasets.nanocube_array(seed=0, shape=(24, 24), n_energy=48)
    train = np.zeros((24, 24), bool)
    train[:, :12] = True
    m2 = ew.Im2Spec(latent_dim=2, window=8, epochs=1, seed=0).fit(si, train=train,
                                                                  progress=False)
    ex = Im2SpecExplorer(si, m2, train=train)
    assert ex.selection.indices.size == 24 * 12   # the training region, selected
    pred = m2.predict(si)
    ex.selection.pixel = (10, 16)
    np.testing.assert_allclose(ex.spectrum_view.overlay("prediction"), pred.data[10, 16])
    np.testing.assert_array_equal(ex.window_view.image, si.haadf[6:14, 12:20])
    np.testing.assert_allclose(ex.errors[0], ew.error_map(si, pred), equal_nan=True)
    ex.selection.pixel = (0, 23)
    assert ex.spectrum_view.overlay("prediction") is None
    assert np.isnan(ex.window_view.image).all()


# ----------------------------------------------------------------------------- monitor
def test_training_monitor_as_callback_and_stop():
    import torch

    from eelswidgets._progress import progress_factories
    from eelswidgets.models.trainer import Trainer
    from eelswidgets.widgets.training_monitor import (
        TrainingMonitor,
        _on_click_while_busy,
        progress_factory,
    )

    assert progress_factories()[0] is progress_factory  # registered by importing the widgets
    torch.manual_seed(0)
    x = torch.randn(64, 3)
    net = torch.nn.Linear(3, 3)
    mon = TrainingMonitor()

    class StopAt2:
        def on_epoch_end(self, trainer, info):
            if info["epoch"] == 2:
                mon.stop()                          # what the Stop button does

    hist = Trainer(epochs=50, batch_size=16, progress=mon, callbacks=[StopAt2()]).fit(
        net, (x,), lambda m, b: ((m(b[0]) - b[0]) ** 2).mean())
    assert hist["stop_reason"] == "stop_requested" and hist["epochs_run"] == 2
    assert mon.stopped and mon.epochs_done == 2
    np.testing.assert_allclose(mon._loss.y, hist["loss"], rtol=1e-6)
    assert mon.stop_button.disabled and mon.stop_button.description == "Stop"
    assert "stopped" in mon.status.value
    mon2 = TrainingMonitor()
    Trainer(epochs=3, batch_size=16, progress=mon2).fit(
        net, (x,), lambda m, b: ((m(b[0]) - b[0]) ** 2).mean())
    assert mon2.epochs_done == 3 and "done" in mon2.status.value and not mon2.stopped

    # the busy-kernel path: the click is seen where the kernel routes comm messages
    class FakeComm:
        def _reply_subshell_for(self, data, default):
            return default

    class FakeButton:
        comm = FakeComm()

    hits = []
    assert _on_click_while_busy(FakeButton(), lambda: hits.append(1))
    route = FakeButton.comm._reply_subshell_for
    assert route({"method": "update", "state": {}}, None) is None and hits == []
    assert route({"method": "custom", "content": {"event": "click"}}, "sub") == "sub"
    assert hits == [1]
