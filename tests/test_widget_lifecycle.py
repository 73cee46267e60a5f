"""Explorers close every widget model they made; a failed construction leaves none behind."""

from __future__ import annotations

import gc
import sys

import numpy as np
import pytest
from ipywidgets.widgets.widget import _instances as open_widgets

import eelswidgets as ew
from eelswidgets.widgets import LatentExplorer, SpectrumImageExplorer, link


@pytest.fixture(scope="module")
def si():
    return ew.datasets.nanowires(seed=0, shape=(16, 18), n_energy=64)


@pytest.fixture
def unraisable(monkeypatch):
    """Exceptions raised where Python can only report them (``__del__`` at collection)."""
    seen = []
    monkeypatch.setattr(sys, "unraisablehook", seen.append)
    return seen


def _made_by(build):
    before = set(open_widgets)
    result = build()
    return result, set(open_widgets) - before


def test_close_closes_every_model_the_explorer_made(si, unraisable):
    ex, made = _made_by(lambda: SpectrumImageExplorer(si))
    assert len(made) > 25                      # views, layouts, styles, marks, axes, scales
    comms = [open_widgets[m].comm for m in made]
    ex.close()
    assert made.isdisjoint(open_widgets)
    assert all(c is not None and c.comm_id not in open_widgets for c in comms)
    ex.close()                                 # twice: harmless
    gc.collect()
    assert unraisable == []


def test_a_view_closed_first_does_not_break_close_or_collection(si, unraisable):
    ex, made = _made_by(lambda: SpectrumImageExplorer(si))
    ex.image_view.close()                      # its model id is gone with its comm
    ex.close()
    assert made.isdisjoint(open_widgets) and ex.selection is None
    del ex
    gc.collect()
    assert unraisable == []


def test_a_shared_selection_stays_open_while_an_explorer_uses_it(si):
    a, b = SpectrumImageExplorer(si), SpectrumImageExplorer(si)
    shared = link(a, b)
    a.close()
    assert shared.comm is not None and shared.tied() == [b.image_view.model_id,
                                                         b.energy_view.model_id]
    shared.pixel = (3, 4)                      # b still follows it
    np.testing.assert_array_equal(b.spectrum_view.lines["data"].y, si.data[3, 4])
    b.close()
    assert shared.comm is None                 # the last user closed it


def test_a_selection_passed_in_is_left_open(si):
    from eelswidgets.widgets import Selection

    mine = Selection(si.shape[:2])
    ex = SpectrumImageExplorer(si, selection=mine)
    ex.close()
    assert mine.comm is not None and mine.tied() == []


@pytest.mark.parametrize("build", [
    # raises before any widget exists (an unfitted rVAE; it would also need stack=)
    lambda si: LatentExplorer(si, ew.MultichannelRVAE(latent_dim=2, window=4)),
    # raises after every view is built and tied (an energy range that is not finite)
    lambda si: SpectrumImageExplorer(si, energy_range=(float("nan"), 1.0)),
])
def test_a_failed_construction_leaves_no_widget_and_collects_cleanly(si, build, unraisable):
    before = set(open_widgets)
    with pytest.raises(ValueError, match=r"stack=|finite|not fitted"):
        build(si)
    assert set(open_widgets) == before
    gc.collect()
    assert unraisable == []
