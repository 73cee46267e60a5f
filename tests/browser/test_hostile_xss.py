"""A data file whose name, units and metadata carry HTML/JS payloads, in every explorer.

The notebook writes a spectrum image to the package's own ``.npz`` and to a HyperSpy ``.hspy``
(``General.title``) with payloads that would open a dialog, request a canary URL, add an
element or set ``window.__pwned`` if they ever became markup; loads both with ``ew.load``; and
shows every explorer, a ManifoldView and a live TrainingMonitor. Nothing may run, and the
payloads must be on the page as literal text.
"""

from __future__ import annotations

import pytest

from .harness import notebook_errors, open_notebook, wait_rendered, write_notebook

NB = "hostile_xss.ipynb"
PWN = "document.body.append(Object.assign(document.createElement('b'),{id:'ew-pwned'}))"
NAME = " ".join((
    "wires",
    "<img src=/canary-img onerror=\"window.__pwned=1;alert(1)\">",
    "<script>window.__pwned=2;fetch('/canary-script')</script>",
    f"\"><svg onload=\"fetch('/canary-svg');{PWN}\">",
    "&lt;b&gt;not bold&lt;/b&gt;",
))
UNIT = "<img src=/canary-unit onerror=alert(5)>nm"
TITLE = ("hs <iframe srcdoc=\"<script>parent.__pwned=3</script>\"></iframe>"
         f"<img src=/canary-hs onerror={PWN}>")
META = {"title": NAME, "General": {"title": UNIT}, "<img src=/canary-key>": [UNIT]}
CELLS = [
    "import torch\ntorch.set_num_threads(1)\nfrom IPython.display import display\n"
    "import eelswidgets as ew\n"
    "from eelswidgets.widgets import (DecompositionExplorer, Im2SpecExplorer, LatentExplorer,\n"
    "    ManifoldView, SpectrumImageExplorer, TrainingMonitor)\n"
    f"NAME, UNIT, TITLE, META = {NAME!r}, {UNIT!r}, {TITLE!r}, {META!r}\n"
    "base = ew.datasets.nanocube_array(seed=0, shape=(16, 16), n_energy=32).clip(0)\n"
    "base.replace(name=NAME, pixel_unit=UNIT, metadata=META).save('hostile.npz')\n"
    "base.replace(name=TITLE, pixel_unit=UNIT).to_hyperspy().save('hostile.hspy', "
    "overwrite=True)\n"
    "si, hs = ew.load('hostile.npz'), ew.load('hostile.hspy')\n"
    "assert (si.name, si.pixel_unit, hs.name, hs.pixel_unit) == (NAME, UNIT, TITLE, UNIT)",
    "mon = TrainingMonitor(title=NAME)\ndisplay(mon)\n"
    "vae = ew.SpectralVAE(latent_dim=2, epochs=2, seed=0).fit(si, progress=mon)\n"
    "dec = ew.decompose(si, n_components=3, random_state=0)\n"
    "rv = ew.MultichannelRVAE(latent_dim=2, window=6, epochs=1, seed=0).fit(dec.maps, "
    "progress=False)\n"
    "im = ew.Im2Spec(latent_dim=2, window=8, epochs=1, seed=0).fit(si, progress=False)",
    "sx, hx = SpectrumImageExplorer(si), SpectrumImageExplorer(hs)\n"
    "dx = DecompositionExplorer(si, dec)\n"
    "vx = LatentExplorer(si, vae, manifold_grid=3)\n"
    "rx = LatentExplorer(si, rv, stack=dec.maps, manifold_grid=3)\n"
    "ix = Im2SpecExplorer(si, im)\n"
    "mv = ManifoldView(rv.manifold(grid=3)[:, :, 0], title=NAME, xlabel=UNIT, ylabel=TITLE)\n"
    "display(sx, hx, dx, vx, rx, ix, mv)\n"
    "ids = [sx.image_view.model_id, hx.image_view.model_id, dx.map_views[0].model_id,\n"
    "       vx.scatter.model_id, rx.manifold.model_id, ix.haadf_view.model_id, mv.model_id]",
]


@pytest.fixture(scope="module")
def watched(browser, lab_server):
    """The notebook page with dialogs and requests recorded from before the first cell."""
    write_notebook(lab_server["root"], NB, CELLS)
    p = open_notebook(browser, lab_server, NB, run_all=False)
    seen = {"dialogs": [], "requests": []}

    def on_dialog(d):
        seen["dialogs"].append(f"{d.type}: {d.message}")
        d.dismiss()

    p.page.on("dialog", on_dialog)
    p.page.on("request", lambda r: seen["requests"].append(r.url))
    p.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    p.page.wait_for_function("""() => {
        const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
        return k && k.status === 'idle'; }""")
    yield p, seen
    p.page.context.close()


@pytest.fixture(scope="module")
def nbp(watched):
    return watched[0]


def test_payloads_show_as_text_and_nothing_runs(watched, artifacts):
    nbp, seen = watched
    page = nbp.page
    assert not notebook_errors(nbp)
    for mid in nbp.kjson("ids"):
        wait_rendered(page, mid)
    page.wait_for_timeout(500)       # time for an onerror/onload that should never come
    assert seen["dialogs"] == []
    assert [u for u in seen["requests"] if "canary" in u] == []
    assert page.evaluate("() => window.__pwned") is None
    assert page.evaluate("() => document.getElementById('ew-pwned')") is None
    injected = page.evaluate("""() => Array.from(document.querySelectorAll(
        '.jp-OutputArea-output img, .jp-OutputArea-output iframe, .jp-OutputArea-output script,'
        + ' .jp-OutputArea-output [onerror], .jp-OutputArea-output [onload]'))
        .map(e => e.outerHTML.slice(0, 80))""")
    assert injected == []
    assert not nbp.real_errors(), nbp.errors

    def text(selector: str, nth: int = 0) -> str:
        return page.locator(selector).nth(nth).evaluate("e => e.textContent")

    for sel in (".ew-si-explorer", ".ew-decomposition-explorer", ".ew-im2spec-explorer",
                ".ew-latent-explorer"):
        assert NAME in text(sel), sel                  # the header, as typed
    assert TITLE in text(".ew-si-explorer", 1)         # the HyperSpy General.title
    assert UNIT in text(".ew-si-explorer .ew-image-view .ew-readout")
    assert NAME in text(".ew-training-monitor")         # bqplot's title
    assert NAME in text(".ew-manifold-view .ew-title", -1)  # the standalone one, last
    # what a reader sees: the entity as typed, not a bold "not bold"
    assert "&lt;b&gt;not bold&lt;/b&gt;" in page.locator(".ew-si-explorer").first.inner_text()
    nbp.shot(artifacts / "hostile_xss.png", page.locator(".ew-si-explorer").first)
