"""Hostile browsers: random and adversarial comm updates to every widget of the package.

The widgets are found by walking ``eelswidgets.widgets`` (a new widget class is covered, or
this test fails until it is), built on small data, and every explorer brings its children (the
views, figures, selectors, buttons it is made of). Each message goes through
``widget._handle_msg`` as a browser's would; after each one:

- the state of every widget of the package passes its own validation (invariants such as a
  pixel inside the image included);
- an update that names a trait the browser may not set changed nothing at all;
- no exception was raised out of code of the package (refusals are logged, not raised);
- the message made the kernel allocate no more than a small bound.
"""

from __future__ import annotations

import importlib
import inspect
import json
import logging
import pkgutil
import sys
import traceback
import tracemalloc
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ipywidgets.widgets.widget import _remove_buffers

import eelswidgets as ew
import eelswidgets.widgets as eww
from eelswidgets.widgets._explorer_base import _held_widgets
from eelswidgets.widgets._front_end import FrontEndGate

sys.path.insert(0, str(Path(__file__).resolve().parent))

from comm_messages import update_message, wire

#: most bytes the kernel may allocate (Python and numpy) while handling one small message
ALLOC_BOUND = 8 * 2**20
PACKAGE = str(Path(ew.__file__).resolve().parent)


def package_widget_classes() -> set[type]:
    """Every widget class defined in a module of ``eelswidgets.widgets``."""
    found = set()
    for info in pkgutil.iter_modules(eww.__path__):
        module = importlib.import_module(f"{eww.__name__}.{info.name}")
        for _name, obj in inspect.getmembers(module, inspect.isclass):
            if issubclass(obj, widgets.Widget) and obj.__module__ == module.__name__:
                found.add(obj)
    return found


def ours(widget) -> bool:
    return type(widget).__module__.startswith("eelswidgets.")


# ----------------------------------------------------------------------------- the widgets
@pytest.fixture(scope="module")
def groups():
    """Lists of widgets that belong together (an explorer and everything it is made of)."""
    import torch

    torch.set_num_threads(1)
    si = ew.datasets.nanowires(seed=0, shape=(16, 18), n_energy=64)
    clean = si.remove_zlp().clip(0)
    dec = ew.decompose(clean, n_components=3, random_state=0)
    vae = ew.SpectralVAE(latent_dim=2, epochs=1, seed=0).fit(clean, progress=False)
    cubes = ew.datasets.nanocube_array(seed=0, shape=(16, 16), n_energy=32)
    train = np.zeros((16, 16), bool)
    train[:, :8] = True
    im2spec = ew.Im2Spec(latent_dim=2, window=8, epochs=1, seed=0).fit(cubes, train=train,
                                                                       progress=False)
    rng = np.random.default_rng(0)
    roots = [
        eww.Selection((6, 7)),
        eww.ImageView(rng.random((6, 7)), window=3),
        eww.LatentScatter(rng.random(20), rng.random(20), color=rng.random(20),
                          point_pixel=rng.permutation(42)[:20], image_shape=(6, 7)),
        eww.ManifoldView(rng.random((3, 3, 5, 5)), extent=(-1, 1, -1, 1),
                         decoder=lambda z: np.full((5, 5), z.sum())),
        eww.SpectrumView(np.linspace(0.0, 3.0, 40)),
        eww.TrainingMonitor(),
        eww.SpectrumImageExplorer(si),
        eww.DecompositionExplorer(clean, dec),
        eww.LatentExplorer(clean, vae),
        eww.Im2SpecExplorer(cubes, im2spec, train=train),
    ]
    out = []
    for root in roots:
        members = [root, *(w for w in _held_widgets(root)
                           if not isinstance(w, (widgets.Layout, widgets.Style)))]
        sel = getattr(root, "selection", None)
        if isinstance(root, widgets.Box) and sel is not None:
            members.append(sel)
        out.append(members)
    yield out
    for members in out:
        members[0].close()


def test_every_widget_class_is_gated_and_fuzzed(groups):
    classes = package_widget_classes()
    assert len(classes) >= 10
    assert all(issubclass(c, FrontEndGate) for c in classes), \
        [c.__name__ for c in classes if not issubclass(c, FrontEndGate)]
    built = [w for members in groups for w in members]
    missing = [c.__name__ for c in classes if not any(isinstance(w, c) for w in built)]
    assert missing == []


# ----------------------------------------------------------------------------- checks
def snapshot(widget):
    """The widget's state as the wire carries it (JSON part, buffers as bytes)."""
    state, paths, buffers = _remove_buffers(widget.get_state())
    return (json.dumps(state, sort_keys=True, default=repr), paths,
            [bytes(b) for b in buffers])


def assert_valid(widget) -> None:
    """Every synced trait of ``widget`` passes its own validation, plus explicit invariants."""
    for name in widget.keys:
        trait = widget.traits()[name]
        value = getattr(widget, name)
        if value is None and trait.allow_none:
            continue
        trait._validate(widget, value)
    if isinstance(widget, eww.Selection):
        ny, nx = widget.shape
        assert 0 <= widget.pixel[0] < ny and 0 <= widget.pixel[1] < nx
        idx = widget.indices
        assert idx.dtype == np.int32 and np.all(np.diff(idx) > 0)
        assert idx.size == 0 or (idx[0] >= 0 and idx[-1] < ny * nx)
        rng = widget.energy_range
        assert rng is None or (np.all(np.isfinite(rng)) and rng[0] <= rng[1])
    if isinstance(widget, eww.ImageView) and widget.image is not None:
        assert tuple(widget.shape) == widget.image.shape


class Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture(scope="module")
def watch():
    """The log records of the run (WARNING and above)."""
    handler = Records()
    logging.getLogger().addHandler(handler)
    yield handler
    logging.getLogger().removeHandler(handler)


def deliver(group, target, msg, watch) -> None:
    """Send ``msg`` to ``target``, then check the whole group."""
    state = msg["content"]["data"].get("state")
    refused = ours(target) and isinstance(state, dict) and bool(
        set(state) & (set(target.keys) - target._from_browser))
    before = snapshot(target) if refused else None
    watch.records.clear()
    tracemalloc.start()
    try:
        target._handle_msg(msg)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < ALLOC_BOUND, (type(target).__name__, peak)
    if refused:  # refused whole: nothing changed, no reaction ran
        assert snapshot(target) == before, f"{type(target).__name__} changed on a refused update"
        assert_valid(target)
    else:
        for w in group:
            if ours(w) and w.comm is not None:
                assert_valid(w)
    for rec in watch.records:
        if rec.exc_info:
            frames = traceback.extract_tb(rec.exc_info[2])
            inside = [f for f in frames if f.filename.startswith(PACKAGE)]
            assert not inside, (f"an exception escaped from the package: "
                                f"{rec.getMessage()}\n{''.join(traceback.format_list(inside))}")


# ----------------------------------------------------------------------------- adversarial
ADVERSARIAL = [
    None, True, -1, 10**30, 10**400, float("nan"), float("inf"), "", "IPY_MODEL_x" * 3,
    [10**6, 10**6], [-1, -1], [float("nan"), 0.0], [[1, 2], [3]], {"kind": "rect"},
    {"buffer": memoryview(b"\0" * 7), "dtype": "int32", "shape": [10**6, 10**6]},
    {"buffer": memoryview(b""), "dtype": "int32", "shape": [2**32, 2**32]},
    wire(np.array([0, 2**31 - 1], np.int32)), wire(np.array([1.5, np.nan], np.float32)),
]


def test_adversarial_value_for_every_trait_of_every_widget_class(groups, watch):
    done = set()
    for group in groups:
        for target in (w for w in group if ours(w)):
            cls = next(c for c in type(target).__mro__ if c.__module__ == type(target).__module__
                       and "__init__" in c.__dict__)
            if cls in done:
                continue
            done.add(cls)
            for i, key in enumerate(sorted(target.keys)):
                # a kernel-only trait is refused before its value is looked at: two suffice
                tried = ADVERSARIAL if key in target._from_browser else ADVERSARIAL[i % 9::9]
                for value in tried:
                    deliver(group, target, update_message({key: value}), watch)
    assert len(done) >= 10


# ----------------------------------------------------------------------------- random
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.just(10**400),
    st.integers(-3, 50), st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=6))
values = st.recursive(
    scalars, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                     st.dictionaries(st.text(max_size=4), inner, max_size=3)),
    max_leaves=8)
buffers = st.one_of(
    st.builds(lambda b, d, s: {"buffer": memoryview(b), "dtype": d, "shape": s},
              st.binary(max_size=64),
              st.sampled_from(["int32", "uint8", "float32", "float64", "uint32", "object", 3]),
              st.one_of(st.lists(st.integers(-2, 2**40), max_size=4), values)),
    st.lists(st.integers(-3, 400), max_size=30).map(lambda v: wire(np.array(v, np.int32))),
    st.lists(st.floats(width=32), max_size=8).map(lambda v: wire(np.array(v, np.float32))))
pixels = st.lists(st.integers(-3, 30), min_size=0, max_size=3)
regions = st.fixed_dictionaries({
    "kind": st.sampled_from(["rect", "lasso", "bogus"]),
    "x0": st.floats(), "x1": st.floats(), "y0": scalars, "y1": st.floats(),
    "xs": st.lists(st.floats(), max_size=5), "ys": st.lists(st.floats(), max_size=5)})
anything = st.one_of(values, buffers, pixels, regions)


@pytest.mark.filterwarnings("ignore:Passing unrecognized arguments:DeprecationWarning")
@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_random_updates_keep_every_widget_valid(groups, watch, data):
    group = data.draw(st.sampled_from(groups))
    target = data.draw(st.sampled_from([w for w in group if w.comm is not None]))
    keys = st.one_of(st.sampled_from(sorted(target.keys)), st.text(max_size=6))
    kind = data.draw(st.sampled_from(["update", "update", "update", "not a dict", "method"]))
    if kind == "update":
        msg = update_message(data.draw(st.dictionaries(keys, anything, min_size=1,
                                                       max_size=3)))
    elif kind == "not a dict":
        msg = update_message(data.draw(values))
    else:
        msg = {"content": {"data": {"method": data.draw(
            st.sampled_from(["request_state", "custom", "echo_update", "", None])),
            "content": data.draw(values)}}, "buffers": []}
    deliver(group, target, msg, watch)
