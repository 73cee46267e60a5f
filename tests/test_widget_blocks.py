"""Python side of the anywidget building blocks: codec, ImageView, LatentScatter, ManifoldView.

The browser side is covered by the node tests in js/test and by the browser tests.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import traitlets
from ipywidgets.widgets.widget import _remove_buffers

from eelswidgets.widgets._codec import (
    ArrayTrait,
    array_from_json,
    array_to_json,
    coerce_array,
)
from eelswidgets.widgets._color_scale import percentile_clim
from eelswidgets.widgets._pixels import sorted_unique
from eelswidgets.widgets.image_view import ImageView, block_mean, display_factor
from eelswidgets.widgets.latent_scatter import LatentScatter, points_in_region
from eelswidgets.widgets.manifold_view import ManifoldView, as_tile, as_tiles


def wire(arr, dtype=None):
    """What codec.js encodeArray sends: a dict with a bytes-like buffer."""
    a = np.ascontiguousarray(arr, dtype=dtype)
    return {"buffer": memoryview(a).cast("B"), "dtype": str(a.dtype), "shape": list(a.shape)}


def sent_state(widget):
    """The state as ipywidgets puts it on the wire: (JSON part, buffer paths, buffers).

    The JSON part leaves out anywidget's ``_esm`` (the module's source text).
    """
    state, paths, buffers = _remove_buffers(widget.get_state())
    state = {k: v for k, v in state.items() if k not in ("_esm", "_css")}
    return state, paths, buffers


# ----------------------------------------------------------------------------- codec
def test_codec_float64_round_trip_to_float32():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(3, 4))
    a[1, 2] = np.nan
    msg = array_to_json(a)
    assert isinstance(msg["buffer"], memoryview)
    assert msg["dtype"] == "float32" and msg["shape"] == [3, 4]
    assert msg["buffer"].nbytes == 3 * 4 * 4
    back = array_from_json({**msg, "buffer": bytes(msg["buffer"])})
    assert back.dtype == np.float32 and back.shape == (3, 4)
    np.testing.assert_array_equal(back, a.astype(np.float32))  # NaN == NaN here
    assert not back.flags.writeable


@pytest.mark.parametrize(("value", "dtype"), [
    (np.array([1, 2, 3], np.int64), "int32"),
    (np.array([True, False]), "uint8"),
    (np.array([0, 255], np.uint8), "uint8"),
    (np.array([1.5], np.float16), "float32"),
])
def test_codec_dtypes(value, dtype):
    msg = array_to_json(value)
    assert msg["dtype"] == dtype
    back = array_from_json(msg)
    np.testing.assert_array_equal(back, value.astype(dtype))


def test_codec_non_contiguous_and_none():
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    view = a.T[::2]  # strided, not C-contiguous
    back = array_from_json(array_to_json(view))
    np.testing.assert_array_equal(back, view)
    assert array_to_json(None) is None and array_from_json(None) is None
    empty = array_from_json(array_to_json(np.zeros(0, np.int32)))
    assert empty.shape == (0,) and empty.dtype == np.int32


def test_codec_rejects_bad_input():
    with pytest.raises(ValueError, match="int32 range"):
        array_to_json(np.array([2**40]))
    with pytest.raises(TypeError, match="dtype"):
        array_to_json(np.array([1 + 2j]))
    with pytest.raises(ValueError, match="needs"):
        array_from_json({"buffer": b"\x00" * 8, "dtype": "float32", "shape": [3]})
    with pytest.raises(TypeError, match="unsupported"):
        array_from_json({"buffer": b"\x00" * 8, "dtype": "complex64", "shape": [1]})
    with pytest.raises(TypeError, match="dict"):
        array_from_json([1.0, 2.0])


def test_coerce_array_never_aliases_and_checks():
    src = np.ones((2, 2), np.float32)
    out = coerce_array(src, "x", dtype="float32", ndim=2)
    assert not np.shares_memory(out, src)
    src[0, 0] = 5.0
    assert out[0, 0] == 1.0
    assert not out.flags.writeable
    with pytest.raises(ValueError, match="2 dimension"):
        coerce_array(np.ones(3), "x", ndim=2)
    with pytest.raises(TypeError, match="integers"):
        coerce_array([1.5], "idx", dtype="int32")
    with pytest.raises(TypeError, match="numbers"):
        coerce_array(["a"], "x")
    assert coerce_array([], "idx", dtype="int32").dtype == np.int32


def test_array_trait_validates_on_assignment():
    class Holder(traitlets.HasTraits):
        a = ArrayTrait("float32", ndim=1)

    h = Holder()
    user = np.array([1.0, 2.0])
    h.a = user
    assert h.a.dtype == np.float32
    user[0] = 99
    assert h.a[0] == 1.0  # the user's later edits do not leak in
    with pytest.raises(ValueError, match="1 dimension"):
        h.a = np.ones((2, 2))
    with pytest.raises(ValueError, match="read-only"):
        h.a[0] = 3.0
    changes = []
    h.observe(lambda c: changes.append(c["new"]), "a")
    h.a = np.array([1.0, 2.0])  # equal values: nothing to send
    h.a = [1.0, np.nan]
    h.a = [1.0, np.nan]  # NaN equals NaN here
    h.a = None
    assert len(changes) == 2 and changes[-1] is None


# ----------------------------------------------------------------------------- ImageView
def test_image_view_state_uses_binary_buffers_only():
    img = np.random.default_rng(1).random((256, 256))
    view = ImageView(img, pixel_size=0.5, unit="nm")
    view.selection = np.arange(100)
    state, paths, buffers = sent_state(view)
    assert ["_data", "buffer"] in paths and ["selection", "buffer"] in paths
    assert "image" not in state  # the full-resolution image stays in the kernel
    text = json.dumps(state)  # would fail on arrays; must be small: no number lists
    assert len(text) < 3000
    nbytes = {tuple(p): b.nbytes for p, b in zip(paths, buffers, strict=True)}
    assert nbytes[("_data", "buffer")] == 256 * 256 * 4
    assert nbytes[("selection", "buffer")] == 100 * 4


def test_image_view_downsamples_large_images_for_display():
    big = np.arange(1100 * 700, dtype=np.float64).reshape(1100, 700)
    view = ImageView(big, max_display=512)
    assert view.shape == (1100, 700)
    assert view._factor == 3 == display_factor((1100, 700), 512)
    assert view._data.shape == (367, 234)
    np.testing.assert_allclose(view._data[0, 0], big[:3, :3].mean(), rtol=1e-6)
    # the last block holds the pixels that remain (1100 = 366 * 3 + 2)
    np.testing.assert_allclose(view._data[366, 0], big[1098:, :3].mean(), rtol=1e-6)
    _state, _paths, buffers = sent_state(view)
    assert sum(b.nbytes for b in buffers) <= 512 * 512 * 4
    # pixel coordinates stay full resolution: display (dy, dx) -> pixel, clamped
    assert view.display_to_pixel(0.5, 0.5) == (1, 1)
    assert view.display_to_pixel(100.2, 7.9) == (300, 23)
    assert view.display_to_pixel(366.9, 233.9) == (1099, 699)
    # a click in the browser reports full-resolution pixels
    view.set_state({"pixel": [1000, 650]})
    assert view.pixel == [1000, 650]


def test_block_mean_ignores_nan_and_keeps_all_nan_blocks():
    a = np.arange(16, dtype=np.float32).reshape(4, 4)
    a[0, 0] = np.nan
    a[2:, 2:] = np.nan
    out = block_mean(a, 2)
    assert out.dtype == np.float32 and out.shape == (2, 2)
    np.testing.assert_allclose(out[0, 0], np.mean([1, 4, 5]))
    assert np.isnan(out[1, 1])
    rgb = np.zeros((3, 3, 3), np.float32)
    rgb[..., 1] = 1
    assert block_mean(rgb, 2).shape == (2, 2, 3)
    src = a.copy()
    block_mean(a, 2)
    np.testing.assert_array_equal(a, src)  # input untouched


def test_image_view_nan_pixels_and_clim():
    img = np.linspace(0, 100, 101 * 50).reshape(101, 50)
    img[:10] = np.nan
    view = ImageView(img)
    lo, hi = view.clim
    finite = img[np.isfinite(img)]
    assert (lo, hi) == pytest.approx(tuple(np.percentile(finite, [1, 99])))
    assert np.isnan(view._data[0, 0])  # NaN travels (drawn transparent)
    view.percentiles = (0, 100)
    assert view.clim == pytest.approx((finite.min(), finite.max()))
    view.clim = (10, 20)  # user clim: autoscale off, kept for the next image
    assert not view.autoscale
    view.set_image(img * 2)
    assert view.clim == (10.0, 20.0)
    assert ImageView(np.full((4, 4), np.nan)).clim == (0.0, 1.0)
    with pytest.raises(ValueError, match="low <= high"):
        view.clim = (3, 1)


def test_image_view_bad_input_raises_before_display():
    with pytest.raises(ValueError, match="2 dimension"):
        ImageView(np.zeros((4, 4, 4)))
    with pytest.raises(ValueError, match=r"\(ny, nx, 3\)"):
        ImageView(rgb=np.zeros((4, 4, 4), np.uint8))
    with pytest.raises(ValueError, match="same"):
        ImageView(np.zeros((4, 4)), rgb=np.zeros((5, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="unknown colormap"):
        ImageView(np.zeros((4, 4)), colormap="jet2")
    view = ImageView(np.zeros((4, 6)))
    with pytest.raises(ValueError, match="outside the image"):
        view.pixel = (4, 0)
    with pytest.raises(ValueError, match=r"\[0, 24\)"):
        view.selection = [0, 24]
    with pytest.raises(ValueError, match="mask"):
        view.selection = np.zeros((6, 4), bool)
    with pytest.raises(ValueError, match="positive"):
        view.pixel_size = 0
    assert ImageView(np.zeros((4, 4)), colormap="magma_r").colormap == "magma_r"


def test_image_view_pixel_and_selection_from_browser_and_python():
    view = ImageView(np.zeros((8, 10)))
    assert view.pixel == [4, 5]  # the centre by default
    sel = np.array([17, 3, 3, 79], np.int32)
    view.set_state({"selection": wire(sel)})  # as sent by the browser
    np.testing.assert_array_equal(view.selection, [3, 17, 79])
    assert view.selection.dtype == np.int32
    mask = np.zeros((8, 10), bool)
    mask[2, 3] = True
    view.selection = mask
    np.testing.assert_array_equal(view.selection, [23])
    np.testing.assert_array_equal(view.selection_mask(), mask)
    view.pixel = (7, 9)
    assert view.flat_pixel == 79


def test_image_view_empty_selection_and_shape_change():
    view = ImageView(np.ones((5, 5)), pixel=(4, 4))
    view.selection = []
    assert view.selection.shape == (0,) and view.selection.dtype == np.int32
    assert not view.selection_mask().any()
    view.set_state({"selection": wire(np.zeros(0, np.int32))})
    assert view.selection.size == 0
    view.selection = [1, 2]
    view.set_image(np.ones((3, 3)))  # another shape: selection cleared, pixel moved inside
    assert view.selection.size == 0 and view.pixel == [1, 1]
    view.set_image(np.ones((3, 3)) * 2)
    assert view.pixel == [1, 1]
    view.image = np.full((2, 7), 4.0)  # plain assignment refreshes the display too
    assert view.shape == (2, 7) and view._data.shape == (2, 7) and view._data[0, 0] == 4
    with pytest.raises(traitlets.TraitError):
        view.shape = (9, 9)  # read only


def test_image_view_rgb():
    rgb = np.random.default_rng(2).random((6, 4, 3))
    rgb[0, 0, 1] = np.nan
    view = ImageView(rgb=rgb)
    assert view._rgba.shape == (6, 4, 4) and view._rgba.dtype == np.uint8
    assert view._rgba[0, 0, 3] == 0 and view._rgba[1, 1, 3] == 255
    assert view._rgba[1, 1, 0] == round(rgb[1, 1, 0] * 255)
    assert view._data is None and view.shape == (6, 4)
    with pytest.raises(TypeError, match="uint8"):
        ImageView(rgb=np.zeros((2, 2, 3), np.int64))


def test_sorted_unique_matches_np_unique():
    rng = np.random.default_rng(6)
    for values in (rng.integers(0, 500, 1000), np.arange(10), np.array([3]), np.zeros(0, int),
                   np.array([5, 5, 5]), np.array([1, 2, 2, 3])):
        out = sorted_unique(values)
        assert out.dtype == np.int32
        np.testing.assert_array_equal(out, np.unique(values))


def test_percentile_clim_checks():
    assert percentile_clim(np.array([np.nan, 1.0, 3.0]), (0, 100)) == (1.0, 3.0)
    with pytest.raises(ValueError, match="percentiles"):
        percentile_clim(np.ones(3), (50, 10))


# ----------------------------------------------------------------------------- LatentScatter
def _colormapped(kind, scale=1.0, **kwargs):
    """One view of each colour-mapped kind, showing values 0..99 times ``scale``."""
    v = np.arange(100, dtype=np.float32) * scale
    if kind == "image":
        return ImageView(v.reshape(10, 10), **kwargs)
    if kind == "scatter":
        return LatentScatter(v, v, color=v, **kwargs)
    return ManifoldView(v.reshape(2, 2, 5, 5), **kwargs)


@pytest.mark.parametrize("kind", ["image", "scatter", "manifold"])
def test_colour_scale_rule_is_the_same_in_every_view(kind):
    view = _colormapped(kind)
    pct = (1, 99) if kind != "manifold" else (0.5, 99.5)
    assert view.clim == pytest.approx(tuple(np.percentile(np.arange(100), pct)))
    view.percentiles = (0, 100)                      # autoscale follows the percentiles
    assert view.clim == (0.0, 99.0)
    with pytest.raises(ValueError, match=r"low <= high.*'_r'"):
        view.clim = (3, 1)                           # refused, never swapped
    assert view.clim == (0.0, 99.0) and view.autoscale
    with pytest.raises(ValueError, match="percentiles"):
        view.percentiles = (60, 40)
    with pytest.raises(ValueError, match="unknown colormap"):
        view.colormap = "rainbow"
    view.clim = (10, 20)                             # a user's limits switch autoscale off
    assert not view.autoscale
    fresh = _colormapped(kind, scale=3.0)            # new values keep the user's limits
    if kind == "image":
        view.set_image(fresh.image)
    elif kind == "scatter":
        view.set_points(fresh.x, fresh.y, color=fresh.color)
    else:
        view.tiles = fresh.tiles
    assert view.clim == (10.0, 20.0)
    view.autoscale = True                            # and switching it back on rescales
    assert view.clim == (0.0, 297.0)
    given = _colormapped(kind, clim=(2, 5))          # limits given to the constructor stick
    assert given.clim == (2.0, 5.0) and not given.autoscale


def test_manifold_colour_scale_measures_grey_tiles_only():
    mv = ManifoldView(np.full((2, 2, 8), 5.0))       # spectra: the limits stay as they were
    assert mv.clim == (0.0, 1.0) and mv.colormap == "gray"
    mv.tiles = np.arange(16.0).reshape(2, 2, 2, 2)
    assert mv.clim == pytest.approx(tuple(np.percentile(np.arange(16.0), [0.5, 99.5])))


def test_image_view_helper_builds_the_view_with_its_image():
    from eelswidgets.widgets._views import image_view

    img = np.arange(12, dtype=np.int64).reshape(3, 4)
    view = image_view(img, title="t", pixel_size=2, unit="nm")
    assert view.image.dtype == np.float32 and np.array_equal(view.image, img)
    assert view.shape == (3, 4) and view.pixel == [1, 2] and view.unit == "nm"


def test_latent_scatter_sends_float32_buffers():
    rng = np.random.default_rng(3)
    z = rng.normal(size=(5000, 2))
    sc = LatentScatter(z[:, 0], z[:, 1], color=z[:, 0], image_shape=(50, 100))
    assert sc.x.dtype == np.float32 and sc.point_pixel.dtype == np.int32
    np.testing.assert_array_equal(sc.point_pixel, np.arange(5000))
    state, paths, buffers = sent_state(sc)
    for name in ("x", "y", "color", "point_pixel", "selection"):
        assert [name, "buffer"] in paths
    assert len(json.dumps(state)) < 3000
    assert sum(b.nbytes for b in buffers) == 5000 * 4 * 4
    assert sc.clim == pytest.approx(tuple(np.percentile(z[:, 0].astype(np.float32), [1, 99])))


def test_latent_scatter_from_maps_drops_nan_codes():
    z1 = np.arange(12, dtype=np.float32).reshape(3, 4)
    z2 = -z1
    z1[0, :] = np.nan  # border without codes (windowed models)
    sc = LatentScatter.from_maps(z1, z2, color=z1 * 2)
    assert sc.image_shape == (3, 4)
    np.testing.assert_array_equal(sc.point_pixel, np.arange(4, 12))
    np.testing.assert_array_equal(sc.x, z1.reshape(-1)[4:])
    np.testing.assert_array_equal(sc.color, 2 * z1.reshape(-1)[4:])
    with pytest.raises(ValueError, match="zy"):
        LatentScatter.from_maps(z1, z2[:2])


def test_latent_scatter_bad_input():
    with pytest.raises(ValueError, match="y has"):
        LatentScatter(np.zeros(5), np.zeros(4))
    with pytest.raises(ValueError, match="color has"):
        LatentScatter(np.zeros(5), np.zeros(5), color=np.zeros(3))
    with pytest.raises(ValueError, match="point_pixel has"):
        LatentScatter(np.zeros(5), np.zeros(5), point_pixel=np.arange(4))
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        LatentScatter(np.zeros(5), np.zeros(5), image_shape=(2, 2))
    with pytest.raises(ValueError, match="1 dimension"):
        LatentScatter(np.zeros((5, 2)), np.zeros(5))
    sc = LatentScatter(np.zeros(4), np.zeros(4), image_shape=(2, 2))
    with pytest.raises(ValueError, match="current"):
        sc.current = 4
    with pytest.raises(ValueError, match=r"\[0, 4\)"):
        sc.selection = [7]
    # NaN coordinates and colours are allowed (not drawn / drawn grey)
    ok = LatentScatter(np.array([np.nan, 1.0]), np.array([0.0, 1.0]), color=[np.nan, 2.0])
    assert ok.n_points == 2


def test_latent_scatter_selection_is_pixels_and_empty_works():
    x = np.array([0.0, 1.0, 2.0, 3.0])
    sc = LatentScatter(x, x, point_pixel=[10, 11, 10, 12], image_shape=(4, 4))
    sc.set_state({"selection": wire(np.array([12, 10], np.int32)),
                  "selection_region": {"kind": "rect", "x0": 1.5, "x1": 3.5, "y0": -1,
                                       "y1": 9}})
    np.testing.assert_array_equal(sc.selection, [10, 12])
    np.testing.assert_array_equal(sc.selected_points(), [0, 2, 3])
    np.testing.assert_array_equal(sc.points_in_region(), [2, 3])
    np.testing.assert_array_equal(sc.pixels_in_region(), [10, 12])
    sc.selection = np.zeros(0, np.int32)
    assert sc.selection.size == 0 and sc.selected_points().size == 0
    sc.set_state({"selection": wire(np.zeros(0, np.int32)), "selection_region": None})
    assert sc.points_in_region().size == 0


def test_points_in_region_rect_and_lasso():
    rng = np.random.default_rng(4)
    x, y = rng.random(4000).astype(np.float32), rng.random(4000).astype(np.float32)
    x[0] = np.nan
    rect = {"kind": "rect", "x0": 0.6, "x1": 0.2, "y0": 0.3, "y1": 0.7}  # corners any order
    got = points_in_region(x, y, rect)
    want = np.flatnonzero((x >= 0.2) & (x <= 0.6) & (y >= 0.3) & (y <= 0.7))
    np.testing.assert_array_equal(got, want)
    assert 0 not in got
    # concave lasso (a "U"): compare with matplotlib's point-in-polygon
    from matplotlib.path import Path

    xs = [0.1, 0.9, 0.9, 0.6, 0.6, 0.4, 0.4, 0.1]
    ys = [0.1, 0.1, 0.9, 0.9, 0.3, 0.3, 0.9, 0.9]
    lasso = {"kind": "lasso", "xs": xs, "ys": ys}
    got = points_in_region(x, y, lasso)
    inside = Path(np.c_[xs, ys]).contains_points(np.c_[x, y])
    np.testing.assert_array_equal(got, np.flatnonzero(inside))
    assert got.size > 1000
    assert points_in_region(x, y, {"kind": "lasso", "xs": [0, 1], "ys": [0, 1]}).size == 0
    with pytest.raises(ValueError, match="kind"):
        points_in_region(x, y, {"kind": "circle"})


# ----------------------------------------------------------------------------- ManifoldView
def test_manifold_tiles_kinds_and_layout():
    spectra, kind = as_tiles(np.zeros((4, 5, 30)))
    assert kind == "spectra" and spectra.dtype == np.float32
    assert as_tiles(np.zeros((3, 3, 8, 8)))[1] == "grey"
    cf = np.random.default_rng(5).random((3, 4, 3, 6, 7))  # (gy, gx, C, h, w), as rVAE gives
    rgb, kind = as_tiles(cf)
    assert kind == "rgb" and rgb.shape == (3, 4, 6, 7, 3)
    np.testing.assert_allclose(rgb[1, 2, 5, 6], cf[1, 2, :, 5, 6].astype(np.float32))
    two, kind = as_tiles(np.ones((2, 2, 2, 5, 5)))  # two channels: red, green, zero blue
    assert kind == "rgb" and two.shape == (2, 2, 5, 5, 3) and not two[..., 2].any()
    assert as_tiles(np.ones((2, 2, 1, 5, 5)))[1] == "grey"
    with pytest.raises(ValueError, match="pick three"):
        as_tiles(np.ones((2, 2, 4, 5, 5)))
    with pytest.raises(ValueError, match="dimension"):
        as_tiles(np.ones((2, 5)))
    assert as_tile(np.ones((1, 30)), "spectra").shape == (30,)
    assert as_tile(np.ones((3, 6, 7)), "rgb").shape == (6, 7, 3)
    assert as_tile(np.ones((1, 6, 7)), "grey").shape == (6, 7)


def test_manifold_click_decodes_in_the_kernel():
    calls = []

    def decoder(z):
        calls.append(np.array(z))
        return np.full(30, z[0] + 10 * z[1])

    mv = ManifoldView(np.zeros((4, 5, 30)), extent=(-2, 2, -1, 1), decoder=decoder)
    assert mv.kind == "spectra"
    mv.set_state({"clicked": [0.5, -0.25]})  # as sent by the browser
    assert len(calls) == 1 and calls[0].shape == (2,)
    np.testing.assert_allclose(mv.decoded, np.full(30, 0.5 - 2.5))
    assert mv._decode_serial == 1 and mv.status == ""
    _state, paths, _ = sent_state(mv)
    assert ["tiles", "buffer"] in paths and ["decoded", "buffer"] in paths


def test_manifold_decoder_errors_and_shapes():
    mv = ManifoldView(np.zeros((3, 3, 8, 8)), extent=(0, 1, 0, 1),
                      decoder=lambda z: np.zeros((9, 9)))
    assert mv.kind == "grey"
    with pytest.raises(ValueError, match="shape"):
        mv.decode([0.1, 0.2])
    assert "decoder failed" in mv.status
    with pytest.raises(TypeError, match="callable"):
        mv.decoder = 3
    mv.decoder = None
    with pytest.raises(ValueError, match="no decoder"):
        mv.decode([0, 0])
    mv.set_state({"clicked": [0.3, 0.3]})  # without a decoder nothing happens
    assert mv.decoded is None
    with pytest.raises(ValueError, match="finite"):
        mv.extent = [0, np.nan, 0, 1]


def test_manifold_tile_latents_match_manifold_grid():
    from eelswidgets.analysis import manifold_grid

    mv = ManifoldView(np.zeros((4, 3, 10)), extent=(-1, 1, 0, 3))
    grid = manifold_grid([[-1, 1], [0, 3]], grid=4)  # (4, 4, 2): out[i, j] = (z1[j], z2[i])
    lat = mv.tile_latents()
    assert lat.shape == (4, 3, 2)
    np.testing.assert_allclose(lat[:, 0, 1], grid[:, 0, 1])  # rows vary z2 the same way
    np.testing.assert_allclose(lat[0, :, 0], np.linspace(-1, 1, 3))
