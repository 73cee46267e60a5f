"""TrainingMonitor in JupyterLab: fit(progress="auto") shows it; Stop ends a running fit."""

from __future__ import annotations

import pytest

from .harness import notebook_errors, open_notebook, write_notebook

NB = "training_monitor.ipynb"
EPOCHS = 400
CELLS = [
    "import torch\ntorch.set_num_threads(1)\nimport eelswidgets as ew\nimport eelswidgets.widgets\n"
    "si = ew.datasets.nanowires(seed=0, shape=(24, 30), n_energy=96)",
    # a long fit: only the Stop button can end it within the test's time
    f"vae = ew.SpectralVAE(latent_dim=2, epochs={EPOCHS}, batch_size=8, seed=0)\n"
    "vae.fit(si)   # progress='auto': the TrainingMonitor in a notebook",
    "hist = vae.history_\nz = vae.encode(si)",
]


@pytest.fixture(scope="module")
def nbp(browser, lab_server):
    write_notebook(lab_server["root"], NB, CELLS)
    p = open_notebook(browser, lab_server, NB, run_all=False)
    # start Run All without awaiting it: the fit keeps the kernel busy
    p.page.evaluate("() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }")
    yield p
    p.page.context.close()


def test_stop_button_stops_a_running_fit(nbp, artifacts):
    page = nbp.page
    stop = page.locator(".ew-stop-button button, button.ew-stop-button").first
    status = page.locator(".ew-training-status").first
    # live: the epoch counter moves while the cell runs, the loss curve is drawn
    page.wait_for_function("() => /epoch <b>[2-9]/.test(document.querySelector("
                           "'.ew-training-status')?.innerHTML || '')")
    page.locator(".ew-training-monitor path.line").first.wait_for(state="attached")
    assert stop.is_enabled()
    nbp.shot(artifacts / "training_monitor_running.png", page.locator(".ew-training-box"))
    stop.click()
    page.wait_for_function("() => /stopped/.test(document.querySelector("
                           "'.ew-training-status')?.textContent || '')", timeout=30_000)
    page.wait_for_function("""() => {
        const k = window.jupyterapp.shell.currentWidget.sessionContext.session?.kernel;
        return k && k.status === 'idle'; }""")
    assert nbp.wait_kernel("'z' in globals()", True) is True  # the cells after fit ran
    hist = nbp.kjson("{k: hist[k] for k in ('stop_reason', 'epochs_run', 'best_epoch')}")
    assert hist["stop_reason"] == "stop_requested", hist
    assert 1 <= hist["epochs_run"] < EPOCHS
    assert nbp.kjson("bool(__import__('numpy').isfinite(z).all())") is True  # model usable
    assert stop.is_disabled()
    assert "stopped" in status.text_content()
    assert not notebook_errors(nbp)
    assert not nbp.real_errors(), nbp.errors
    nbp.shot(artifacts / "training_monitor_stopped.png", page.locator(".ew-training-box"))
