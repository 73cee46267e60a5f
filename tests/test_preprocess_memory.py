"""Background removal works block by block: bounded peak memory, results unchanged.

Peak memory is measured with ``tracemalloc`` (numpy reports its allocations to it), as a
multiple of the cube's bytes, not timed.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets import preprocess as pp


@pytest.fixture(scope="module")
def core_loss():
    return ew.datasets.perovskite_interface(seed=0)            # 64 x 64 x 512: 8 MiB


def whole_cube(cube, energy, window, model, channels=None):
    """The kernel as it was before blocks: every float64 temporary the size of the cube."""
    sl = pp.energy_slice(energy, *window)
    keep = slice(None) if channels is None else channels
    e = energy[keep].astype(np.float64)
    if model == "powerlaw":
        a, r = pp.fit_power_law(cube, energy, sl)
        bg = a[..., None] * np.power(e[None, None, :], -r[..., None])
    else:
        amps, (t1, t2, e0) = pp.fit_two_exponentials(cube, energy, sl)
        bg = amps @ np.stack([np.exp(-(e - e0) / t1), np.exp(-(e - e0) / t2)], axis=1).T
    bg = np.where(np.isfinite(bg), bg, 0.0)
    return (cube[..., keep].astype(np.float64) - bg).astype(np.float32)


@pytest.mark.parametrize("model", ["powerlaw", "exp2"])
@pytest.mark.parametrize("block", [None, 3000])                # default, or a few pixels a block
def test_blocks_give_the_whole_cube_results(core_loss, monkeypatch, model, block):
    if block is not None:
        monkeypatch.setattr(pp, "BLOCK_BYTES", block)
    si = core_loss
    window = next(iter(si.truth["background_windows"].values()))
    got = pp.subtract_background(si.data, si.energy, window, model)
    np.testing.assert_allclose(got, whole_cube(si.data, si.energy, window, model),
                               rtol=1e-6, atol=1e-6 * float(np.abs(got).max()))
    low = ew.datasets.nanowires(seed=0, shape=(16, 16), n_energy=96)
    keep = pp.energy_slice(low.energy, 0.2, 3.0)
    got = pp.subtract_background(low.data, low.energy, (0.2, 0.45), model, channels=keep)
    np.testing.assert_allclose(got, whole_cube(low.data, low.energy, (0.2, 0.45), model, keep),
                               rtol=1e-6, atol=1e-6 * float(np.abs(got).max()))
    one = pp.subtract_background(low.data[3, 4], low.energy, (0.2, 0.45), model, channels=keep)
    if model == "powerlaw":                                      # a single spectrum
        np.testing.assert_array_equal(one, got[3, 4])


def _extra_peak(fn) -> float:
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        before = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    del result
    return peak - before


@pytest.mark.parametrize("model", ["powerlaw", "exp2"])
def test_background_removal_peaks_below_twice_the_cube(core_loss, monkeypatch, model):
    monkeypatch.setattr(pp, "BLOCK_BYTES", 2**20)               # 1 MiB blocks of an 8 MiB cube
    window = next(iter(core_loss.truth["background_windows"].values()))
    si = core_loss.replace(truth={})                             # truth holds another cube
    cube_bytes = si.data.nbytes
    new = _extra_peak(lambda: si.remove_background(window, model)) / cube_bytes
    old = _extra_peak(lambda: whole_cube(si.data, si.energy, window, model)) / cube_bytes
    assert new < 1.5, new            # the result (1x) and a few 1 MiB blocks
    assert old > 4, old              # the whole-cube way held several float64 cubes



def test_an_overflow_in_a_later_block_is_refused(monkeypatch):
    monkeypatch.setattr(pp, "BLOCK_BYTES", 1)                    # one row per block
    energy = np.arange(1.0, 101.0)
    cube = np.ones((3, 2, 100), np.float32)
    cube[2, 1, 1] = 1e30          # a window rising 1e30-fold: the power law explodes above it
    with pytest.raises(ValueError, match=r"overflows float32: background subtraction"):
        pp.subtract_background(cube, energy, (1.0, 2.0))
