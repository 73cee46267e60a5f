"""Updates from the browser: only what the front end may set, validated, refused whole.

Every test sends a real comm message through ``widget._handle_msg`` (the path of a browser
update) and checks the kernel's state, what the kernel sends back and what it logs.
"""

from __future__ import annotations

import logging
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import traitlets

from eelswidgets.widgets import ImageView, LatentScatter, ManifoldView, Selection
from eelswidgets.widgets._codec import array_from_json
from eelswidgets.widgets._front_end import InvalidType, InvalidValue

sys.path.insert(0, str(Path(__file__).resolve().parent))

from comm_messages import record_sent, send_from_browser, wire


@pytest.fixture
def warnings_logged(caplog):
    caplog.set_level(logging.WARNING)
    return caplog


def _updates(sent):
    return [m["state"] for m in sent if m["method"] == "update"]


# ----------------------------------------------------------------------------- errors
def test_validator_errors_are_trait_errors_that_python_callers_still_catch():
    sel = Selection((4, 5))
    for bad, kind in (((4, 0), ValueError), ([1.5], TypeError)):
        name = "pixel" if len(bad) == 2 else "indices"
        with pytest.raises(kind) as info:
            setattr(sel, name, bad)
        assert isinstance(info.value, traitlets.TraitError)
    with pytest.raises(InvalidValue, match=r"energy_range.*finite.*nan"):
        sel.energy_range = (float("nan"), 1.0)
    with pytest.raises(InvalidValue, match=r"selection must lie in \[0, 12\).*12"):
        ImageView(np.zeros((3, 4))).selection = [12]
    with pytest.raises(InvalidType, match="must hold numbers"):
        ImageView(np.zeros((3, 4))).selection = np.array(["a"])


# ----------------------------------------------------------------------------- Selection
def test_out_of_range_pixel_from_the_browser_is_rolled_back_resynced_and_logged(
        monkeypatch, warnings_logged):
    sel = Selection((8, 10), pixel=(2, 3))
    seen = []
    sel.observe(lambda c: seen.append(c["new"]), names="pixel")
    sent = record_sent(monkeypatch, sel)
    for bad in ([8, 0], [-1, 3], [0, 10**30], [2.5, 3], ["2", 3], [[2], 3], [2, 3, 4]):
        send_from_browser(sel, {"pixel": bad})
        assert sel.pixel == [2, 3], bad
    assert seen == []                               # no observer saw a bad value
    assert _updates(sent)[-1] == {"pixel": [2, 3]}  # the browser is told the kernel's value
    assert "refused" in warnings_logged.text and "outside the image of 8x10" in warnings_logged.text
    send_from_browser(sel, {"pixel": [7, 9]})       # a good click still works
    assert sel.pixel == [7, 9] and seen == [[7, 9]]


def test_indices_from_the_browser_must_be_integer_pixels_of_the_image(warnings_logged):
    sel = Selection((4, 5))
    send_from_browser(sel, {"indices": wire(np.array([3, 7], np.int32))})
    assert sel.indices.tolist() == [3, 7]
    for bad in (wire(np.array([1.0, 2.0], np.float32)),        # float dtype
                wire(np.array([3, 20], np.int32)),              # outside 4x5
                wire(np.array([-1], np.int32)),
                wire(np.arange(21) % 20, np.int32),             # more than one per pixel
                {"buffer": memoryview(b"\0" * 8), "dtype": "int32", "shape": [3]},
                {"buffer": memoryview(b""), "dtype": "int32", "shape": [2**32, 2**32]},
                {"buffer": memoryview(b"\0" * 4), "dtype": "object", "shape": [1]},
                [3, 7], "3,7", 12):
        send_from_browser(sel, {"indices": bad})
        assert sel.indices.tolist() == [3, 7], bad
    assert warnings_logged.text.count("Selection refused") == 10


def test_kernel_only_traits_of_a_selection_cannot_come_from_the_browser(
        monkeypatch, warnings_logged):
    sel = Selection((8, 10), pixel=(1, 1))
    sent = record_sent(monkeypatch, sel)
    tracemalloc.start()
    try:
        send_from_browser(sel, {"shape": [10**6, 10**6]})
        mask = sel.mask()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert sel.shape == (8, 10) and mask.shape == (8, 10) and peak < 2**20
    assert "shape can only be set from Python" in warnings_logged.text
    # an update with one kernel-only trait is refused whole: the good pixel is not applied
    send_from_browser(sel, {"pixel": [5, 5], "energy_range": [1.0, 2.0], "_relay": []})
    assert sel.pixel == [1, 1] and sel.energy_range is None
    assert not any(m["method"] == "echo_update" for m in sent)  # nothing was acknowledged
    assert _updates(sent)[-1] == {"pixel": [1, 1], "energy_range": None, "_relay": []}


# ----------------------------------------------------------------------------- views
@pytest.mark.parametrize("state", [
    {"shape": [10**6, 10**6]}, {"clim": [0, float("inf")]}, {"clim": [5, 1]},
    {"display_size": 10**9}, {"overlay_alpha": 7.0}, {"colormap": "jet"}, {"window": -3},
    {"_tied": False}, {"_data": wire(np.zeros((2, 2), np.float32))}, {"title": "<b>x</b>"},
])
def test_image_view_refuses_kernel_only_traits(state, monkeypatch, warnings_logged):
    view = ImageView(np.arange(12.0).reshape(3, 4), pixel=(1, 1))
    before = view.get_state()
    sent = record_sent(monkeypatch, view)
    send_from_browser(view, {**state, "pixel": [2, 2]})
    after = view.get_state()
    assert view.pixel == [1, 1] and view.shape == (3, 4)
    assert {k: v for k, v in after.items() if not k.startswith("_d")} == \
        {k: v for k, v in before.items() if not k.startswith("_d")}
    assert np.array_equal(view._data, np.arange(12.0).reshape(3, 4))
    key = next(iter(state))
    assert f"{key} can only be set from Python" in warnings_logged.text
    assert set(_updates(sent)[-1]) == {key, "pixel"}


def test_image_view_takes_pixel_selection_and_mode_from_the_browser(warnings_logged):
    view = ImageView(np.zeros((3, 4)))
    send_from_browser(view, {"pixel": [2, 3], "selection": wire(np.array([11, 0], np.int32)),
                             "mode": "lasso"})
    assert view.pixel == [2, 3] and view.selection.tolist() == [0, 11] and view.mode == "lasso"
    send_from_browser(view, {"pixel": [0, 0], "mode": "scribble"})   # refused whole
    assert view.pixel == [2, 3] and view.mode == "lasso"
    assert warnings_logged.text.count("refused") == 1


def test_latent_scatter_checks_current_and_regions_from_the_browser(warnings_logged):
    sc = LatentScatter(np.arange(4.0), np.arange(4.0), image_shape=(2, 2))
    good = {"selection": wire(np.array([1, 2], np.int32)),
            "selection_region": {"kind": "rect", "x0": 0.5, "x1": 2.5, "y0": 0, "y1": 3}}
    send_from_browser(sc, good)
    assert sc.selection.tolist() == [1, 2] and sc.selection_region["x1"] == 2.5
    for bad in ({"current": 4}, {"current": -2}, {"current": 10**40},
                {"selection_region": {"kind": "rect", "x0": float("nan"), "x1": 1, "y0": 0,
                                      "y1": 1}},
                {"selection_region": {"kind": "lasso", "xs": [0, 1, 2], "ys": [0, 1]}},
                {"selection_region": {"kind": "lasso", "xs": [0.0] * 60_000,
                                      "ys": [0.0] * 60_000}},
                {"selection_region": {"kind": "circle"}},
                {"selection": wire(np.array([0], np.int32)), "current": 99},  # atomic
                {"image_shape": [10**6, 10**6]}, {"clim": [1, 0]}, {"colormap": "nope"}):
        send_from_browser(sc, bad)
        assert sc.current == -1 and sc.selection.tolist() == [1, 2], bad
        assert sc.image_shape == (2, 2) and sc.colormap == "viridis"
    assert warnings_logged.text.count("LatentScatter refused") == 11
    send_from_browser(sc, {"current": 3})
    assert sc.current == 3


def test_latent_scatter_without_image_shape_bounds_pixels_by_its_points():
    sc = LatentScatter(np.zeros(3), np.zeros(3), point_pixel=[0, 5, 9])
    sc.current = 9
    with pytest.raises(InvalidValue, match=r"\[0, 10\)"):
        sc.current = 2**31 - 1
    with pytest.raises(InvalidValue, match=r"\[0, 10\)"):
        sc.selection = [2**31 - 1]                  # selected_points() would allocate 2 GiB


def test_manifold_click_must_be_finite_and_a_failing_decoder_does_not_raise(warnings_logged):
    def decoder(z):
        raise RuntimeError("decoder exploded")

    mv = ManifoldView(np.zeros((2, 2, 5)), decoder=decoder)
    for bad in ([float("nan"), 0.0], [float("inf"), 0.0], [10**400, 0.0], [1.0], "1,2"):
        send_from_browser(mv, {"clicked": bad})
        assert mv.clicked is None, bad
    assert warnings_logged.text.count("ManifoldView refused") == 5
    assert "OverflowError" in warnings_logged.text        # not only TraitErrors are caught
    send_from_browser(mv, {"clicked": [0.5, 0.5]})
    assert mv.clicked == [0.5, 0.5] and "decoder exploded" in mv.status
    assert "decoding z = [0.5, 0.5] failed" in warnings_logged.text


def test_a_non_dict_state_is_refused(warnings_logged):
    sel = Selection((2, 2))
    send_from_browser(sel, ["pixel", [0, 0]])
    assert sel.pixel == [1, 1] and "must be a dict" in warnings_logged.text


# ----------------------------------------------------------------------------- codec
@pytest.mark.parametrize(("payload", "error", "match"), [
    ([1, 2], InvalidType, "dict"),
    ({"dtype": "int32", "shape": [1]}, InvalidType, "dict"),
    ({"buffer": memoryview(b"\0" * 4), "dtype": "float128", "shape": [1]}, InvalidType,
     "unsupported"),
    ({"buffer": memoryview(b"\0" * 4), "dtype": ["int32"], "shape": [1]}, InvalidType,
     "unsupported"),
    ({"buffer": "AAAA", "dtype": "int32", "shape": [1]}, InvalidType, "binary"),
    ({"buffer": [0, 0, 0, 0], "dtype": "uint8", "shape": [4]}, InvalidType, "binary"),
    ({"buffer": memoryview(b"\0" * 4), "dtype": "int32", "shape": 1}, InvalidType, "list"),
    ({"buffer": memoryview(b"\0" * 4), "dtype": "int32", "shape": [1.0]}, InvalidType,
     "integers"),
    ({"buffer": memoryview(b"\0" * 4), "dtype": "int32", "shape": [True]}, InvalidType,
     "integers"),
    ({"buffer": memoryview(b""), "dtype": "int32", "shape": [-1, 0]}, InvalidValue, ">= 0"),
    ({"buffer": memoryview(b""), "dtype": "uint8", "shape": [1] * 9}, InvalidValue,
     "at most 8"),
    ({"buffer": memoryview(b"\0" * 8), "dtype": "float32", "shape": [3]}, InvalidValue,
     "needs 3"),
    ({"buffer": memoryview(b"\0" * 3), "dtype": "int32", "shape": []}, InvalidValue,
     "needs 1"),
    # 2**32 * 2**32 wraps to 0 in int64: the exact product must be used
    ({"buffer": memoryview(b""), "dtype": "int32", "shape": [2**32, 2**32]}, InvalidValue,
     "needs 18446744073709551616"),
])
def test_codec_refuses_bad_payloads_before_allocating(payload, error, match):
    tracemalloc.start()
    try:
        with pytest.raises(error, match=match):
            array_from_json(payload)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**16


def test_codec_reads_a_good_payload_without_copying():
    buf = bytearray(np.arange(6, dtype=np.int32).tobytes())
    arr = array_from_json({"buffer": memoryview(buf), "dtype": "int32", "shape": [2, 3]})
    assert arr.tolist() == [[0, 1, 2], [3, 4, 5]] and not arr.flags.writeable
    assert np.shares_memory(arr, np.frombuffer(buf, np.int32))
