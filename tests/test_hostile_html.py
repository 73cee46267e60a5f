"""Text from data never becomes markup: every explorer built from a hostile spectrum image.

The spectrum image's name, pixel unit and metadata, the model's class name and the
decomposition's method carry HTML/JS payloads. A generic walker visits every widget reachable
from an explorer (children, and any trait holding widgets: bqplot marks, axes, ...) and checks
that each HTML value holds only the package's own markup (``<b>``, ``<i>``, ``<span>`` with a
colour) and that the payloads are there as text. A widget added later is walked the same way.
"""

from __future__ import annotations

import re
import types
from html.parser import HTMLParser
from pathlib import Path

import ipywidgets as widgets
import numpy as np
import pytest
import traitlets

import eelswidgets as ew
from eelswidgets.widgets import (
    DecompositionExplorer,
    Im2SpecExplorer,
    LatentExplorer,
    ManifoldView,
    SpectrumImageExplorer,
    TrainingMonitor,
)
from eelswidgets.widgets._html import Markup, SafeHTML, bold, colored, concat, join, text

PAYLOADS = (
    "<img src=x onerror=alert(1)>",
    "<script>alert(2)</script>",
    '"><svg onload=alert(3)>',
    "&lt;b&gt;not bold&lt;/b&gt;",          # an entity must show as typed, not decode into a tag
    "'><iframe src=javascript:alert(4)>",
)
NAME = "wires " + " ".join(PAYLOADS)
UNIT = "<img src=x onerror=alert(5)>nm"
MODEL = "<img src=x onerror=alert(6)>VAE"
METHOD = "<svg onload=alert(7)>"
ALLOWED_TAGS = {"b", "i", "span"}
ALLOWED_STYLE = re.compile(r"color:#[0-9a-fA-F]{3,6}(;margin-right:\d+px)?\Z")


class EvilStr:
    """A non-str value whose ``__str__`` claims to be trusted markup."""

    def __str__(self):
        return Markup("<img src=x onerror=alert(8)>")


# ----------------------------------------------------------------------------- the walker
class _Markup(HTMLParser):
    """Tags, attributes and text of an HTML value."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.tags, self.attrs, self.text, self.other = [], [], [], []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs.extend(attrs)

    def handle_startendtag(self, tag, attrs):
        self.handle_starttag(tag, attrs)

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.other.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.other.append(decl)

    def handle_pi(self, data):
        self.other.append(data)

    unknown_decl = handle_decl


def widget_tree(root) -> list[widgets.Widget]:
    """Every widget reachable from ``root`` through traits holding widgets (or lists of them)."""
    seen, stack, out = set(), [root], []
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        out.append(w)
        for name in w.trait_names():
            if name in ("comm", "keys", "log"):
                continue
            value = getattr(w, name, None)
            items = (value.values() if isinstance(value, dict)
                     else value if isinstance(value, list | tuple) else (value,))
            stack.extend(v for v in items if isinstance(v, widgets.Widget))
    return out


def _is_html(w) -> bool:
    return isinstance(w, widgets.HTML | widgets.HTMLMath) or getattr(
        w, "_view_name", None) in ("HTMLView", "HTMLMathView")


def shown_text(root) -> tuple[str, set[str]]:
    """All text ``root`` shows (HTML values as the browser reads them) and the tags used.

    Fails on anything else than the package's own markup in an HTML value, and on a widget
    that lets its description be HTML.
    """
    texts, tags = [], set()
    for w in widget_tree(root):
        assert not getattr(w, "description_allow_html", False), type(w).__name__
        if _is_html(w):
            assert isinstance(w, SafeHTML), f"{type(w).__name__} is not escaped by construction"
            p = _Markup()
            p.feed(w.value)
            p.close()
            assert set(p.tags) <= ALLOWED_TAGS, (p.tags, w.value)
            assert not p.other, (p.other, w.value)
            for key, val in p.attrs:
                assert key == "style" and ALLOWED_STYLE.match(val or ""), (key, val, w.value)
            texts.append("".join(p.text))
            tags.update(p.tags)
            continue
        for name in w.trait_names():  # everything else reaches the page as text
            value = getattr(w, name, None) if not name.startswith("_") else None
            strings = value if isinstance(value, list | tuple) else (value,)
            texts.extend(s for s in strings if isinstance(s, str))
    return "\n".join(texts), tags


# ----------------------------------------------------------------------------- data
@pytest.fixture(scope="module")
def hostile():
    si = ew.datasets.nanocube_array(seed=0, shape=(16, 16), n_energy=32)
    return si.replace(name=NAME, pixel_unit=UNIT,
                      metadata={"title": PAYLOADS[0], PAYLOADS[1]: {"unit": PAYLOADS[2]}})


@pytest.fixture(scope="module")
def models(hostile):
    import torch

    torch.set_num_threads(1)
    clean = hostile.clip(0)
    dec = ew.decompose(clean, n_components=3, random_state=0)
    vae = ew.SpectralVAE(latent_dim=2, epochs=1, seed=0).fit(clean, progress=False)
    vae.__class__ = type(MODEL, (ew.SpectralVAE,), {})    # a hostile class name
    rv = ew.MultichannelRVAE(latent_dim=2, window=6, epochs=1, seed=0).fit(
        dec.maps, progress=False)
    im = ew.Im2Spec(latent_dim=2, window=8, epochs=1, seed=0).fit(clean, progress=False)
    return clean, dec, vae, rv, im


def _check(root, *expected, tags=("b", "span")):
    shown, used = shown_text(root)
    for s in expected:
        assert s in shown, f"{s!r} is not shown as text"
    assert set(tags) <= used, used
    return shown


# ----------------------------------------------------------------------------- the helper
def test_text_escapes_everything_but_its_own_markup():
    for p in PAYLOADS:
        assert "<" not in text(p) and '"' not in text(p) and "'" not in text(p)
    assert text("&lt;") == "&amp;lt;"                          # no double-escape shortcut
    assert text(Markup("<i>forged</i>")) == "&lt;i&gt;forged&lt;/i&gt;"  # only builders' own
    assert text(EvilStr()) == "&lt;img src=x onerror=alert(8)&gt;"
    assert text(3.5) == "3.5"
    assert concat(bold("<b>"), " & ", text("x")) == "<b>&lt;b&gt;</b> &amp; x"
    assert join(" · ", ["<i>", bold("a")]) == "&lt;i&gt; · <b>a</b>"
    assert type(bold("a") + "<script>") is str                 # not Markup: escaped when set
    with pytest.raises(ValueError, match="hex colour"):
        colored("red;background:url(//x)", "a")


def test_safe_html_escapes_plain_values_set_later():
    w = SafeHTML(bold("ok"))
    assert w.value == "<b>ok</b>"
    w.value = f"<b>{PAYLOADS[0]}</b>"                          # an f-string is not Markup
    assert "<" not in w.value and PAYLOADS[0] in shown_text(w)[0]
    w.value = str(EvilStr())                                   # a Markup from __str__
    assert w.value == "&lt;img src=x onerror=alert(8)&gt;"
    with pytest.raises(traitlets.TraitError):
        w.value = EvilStr()                                    # not a string: refused


def test_only_the_html_module_writes_html():
    pkg = Path(ew.__file__).parent
    for path in pkg.rglob("*.py"):
        if path.name == "_html.py":
            continue
        src = path.read_text(encoding="utf-8")
        assert not re.search(r"(?<![\w])HTML(Math)?\s*\(", src), path
        assert "allow_html" not in src and "_repr_html_" not in src, path


# ----------------------------------------------------------------------------- explorers
def test_spectrum_image_explorer_from_a_hostile_file(hostile, tmp_path):
    path = tmp_path / "hostile.npz"
    hostile.save(path)
    si = ew.load(path)
    assert si.name == NAME and si.pixel_unit == UNIT            # the file carries the payloads
    ex = SpectrumImageExplorer(si)
    ex.selection.pixel = (3, 4)
    shown = _check(ex, *PAYLOADS, UNIT)
    assert ex.image_view.unit == UNIT                           # JS writes it as text
    assert "<" not in ex.children[0].value.replace("<b>", "").replace("</b>", "").replace(
        "<span style='color:#666'>", "").replace("</span>", "")
    assert "&amp;lt;b&amp;gt;" in ex.children[0].value          # the entity shows as typed
    assert "&lt;b&gt;not bold" in shown


def test_explorer_of_a_duck_cube_with_an_evil_str(hostile):
    cube = types.SimpleNamespace(data=hostile.data, energy=hostile.energy, name=EvilStr(),
                                 pixel_unit=EvilStr())
    ex = SpectrumImageExplorer(cube)
    _check(ex, "<img src=x onerror=alert(8)>")
    assert type(ex.cube.name) is str and type(ex.image_view.unit) is str


def test_decomposition_explorer(hostile, models):
    clean, dec, *_ = models
    ex = DecompositionExplorer(clean, types.SimpleNamespace(
        maps=dec.maps, spectra=dec.spectra, scree=dec.scree, method=METHOD))
    ex.selection.pixel = (5, 6)
    _check(ex, *PAYLOADS, METHOD.upper())
    assert "color:#1f77b4" in ex.abundances.value               # legitimate markup kept


def test_latent_explorers(hostile, models):
    clean, dec, vae, rv, _im = models
    vx = LatentExplorer(clean, vae, manifold_grid=3)
    vx.selection.pixel = (8, 8)
    _check(vx, *PAYLOADS, MODEL, UNIT)
    rx = LatentExplorer(clean, rv, stack=dec.maps, manifold_grid=3)
    _check(rx, *PAYLOADS, UNIT)
    mv = ManifoldView(np.zeros((2, 2, 32), np.float32), title=NAME, xlabel=UNIT)
    _check(mv, *PAYLOADS, UNIT, tags=())


def test_im2spec_explorer(hostile, models):
    clean, *_, im = models
    im.__class__ = type(MODEL, (ew.Im2Spec,), {})
    ex = Im2SpecExplorer(clean, im)
    ex.selection.pixel = (8, 8)
    _check(ex, *PAYLOADS, MODEL, UNIT)
    assert "<b>" in ex.scores.value


def test_training_monitor_status():
    mon = TrainingMonitor(title=PAYLOADS[1])
    trainer = types.SimpleNamespace(stop_requested=True)
    mon.on_train_begin(trainer, {"epochs": 2, "n_train": 4, "device": PAYLOADS[0]})
    _check(mon, PAYLOADS[0], PAYLOADS[1], tags=())
    mon.on_epoch_end(trainer, {"epoch": 1, "loss": 0.5, "history": {"loss": [0.5]}})
    assert mon.status.value.startswith("epoch <b>1/2</b>")
    mon.on_train_end(trainer, {"stop_reason": PAYLOADS[2], "epochs_run": 1, "best_epoch": 1,
                               "best_loss": 0.5, "loss": [0.5]})
    _check(mon, PAYLOADS[2], tags=("b",))
