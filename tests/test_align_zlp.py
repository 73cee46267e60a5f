"""Zero-loss-peak alignment on synthetic spectra with a known drift map."""

import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets.zlp_align import zlp_positions


def drifting_si(ny=6, nx=7, seed=0, dispersion=0.1):
    """A Gaussian-ish, asymmetric ZLP plus a plasmon, drifting by a known map, Poisson noise."""
    rng = np.random.default_rng(seed)
    e = np.arange(-5.0, 30.0, dispersion)
    yy, xx = np.mgrid[:ny, :nx]
    drift = 0.8 + 0.13 * xx + 0.07 * yy + 0.05 * np.sin(yy * xx)   # eV, not on channels
    x = e[None, None, :] - drift[..., None]
    zlp = np.where(x < 0, np.exp(-0.5 * (x / 0.35) ** 2), np.exp(-0.5 * (x / 0.5) ** 2))
    plasmon = 0.02 / (1 + ((x - 15.0) / 2.5) ** 2) * (x > 0)
    cube = rng.poisson(2e4 * (zlp + plasmon) + 5).astype(float)
    return ew.SpectrumImage(cube, energy=e), drift


def test_recovered_shifts_match_the_known_drift_map():
    si, drift = drifting_si()
    aligned, shifts = si.align_zlp(return_shifts=True)
    # the asymmetric peak's maximum sits at a fixed offset from the drift value, so the
    # shifts match the drift map up to one constant and to a small fraction of a channel
    err = shifts - drift
    assert np.ptp(err) < 0.02, np.ptp(err)
    assert abs(np.mean(err)) < 0.1
    after = zlp_positions(aligned.data, aligned.energy)
    assert np.ptp(after) < 0.02 and np.max(np.abs(after)) < 0.05
    assert aligned.data.dtype == np.float32
    assert np.any(np.isclose(aligned.energy, 0.0, atol=1e-9))      # a channel at 0 eV


def test_axis_is_cropped_to_the_range_every_pixel_measured():
    si, _ = drifting_si()
    aligned, shifts = si.align_zlp(return_shifts=True)
    e = si.energy
    assert aligned.energy[0] + shifts.min() >= e[0] - 1e-9
    assert aligned.energy[-1] + shifts.max() <= e[-1] + 1e-9
    assert aligned.ne >= si.ne - int(np.ceil(np.ptp(shifts) / 0.1)) - 2
    np.testing.assert_allclose(np.diff(aligned.energy), 0.1, atol=1e-9)


def test_the_shift_map_is_kept_in_metadata_and_the_input_is_untouched():
    si, _ = drifting_si()
    before = si.data.copy()
    aligned, shifts = si.align_zlp(return_shifts=True)
    np.testing.assert_array_equal(si.data, before)
    np.testing.assert_allclose(np.array(aligned.metadata["zlp_shifts"]), shifts)
    assert aligned.metadata["processing"][-1].startswith("align_zlp(")
    assert isinstance(si.align_zlp(), ew.SpectrumImage)


def test_a_spike_higher_than_the_zlp_is_not_taken_for_it():
    si, drift = drifting_si(ny=2, nx=3)
    cube = si.data.copy()
    cube[1, 2, 250] = 10 * cube.max()                          # a one-channel spike at +20 eV
    _, shifts = si.replace(data=cube).align_zlp(return_shifts=True)
    assert np.ptp(shifts - drift) < 0.02


def test_invalid_pixels_are_skipped_and_stay_nan():
    si, _ = drifting_si(ny=3, nx=3)
    valid = np.ones((3, 3), bool)
    valid[0, 0] = False
    cube = si.data.copy()
    cube[0, 0] = np.nan
    aligned, shifts = si.replace(data=cube, valid=valid).align_zlp(return_shifts=True)
    assert np.isnan(shifts[0, 0]) and np.all(np.isnan(aligned.data[0, 0]))
    assert np.isfinite(aligned.data[valid]).all()
    assert aligned.metadata["zlp_shifts"][0][0] is None


def test_spectra_without_a_zlp_are_named_in_a_clear_error():
    e = np.linspace(100, 200, 200)
    cube = np.broadcast_to(1e4 * (e / 100) ** -3, (2, 2, 200)).copy()   # core loss: no ZLP
    with pytest.raises(ValueError, match=r"no clear zero-loss peak at 4 pixel\(s\).*search="):
        ew.SpectrumImage(cube, energy=e).align_zlp()


def test_search_window_is_checked_and_used():
    si, drift = drifting_si(ny=2, nx=2)
    with pytest.raises(ValueError, match="at least 3 channels"):
        si.align_zlp(search=(3.0, 3.05))
    _, shifts = si.align_zlp(search=(-2.0, 5.0), return_shifts=True)
    assert np.ptp(shifts - drift) < 0.02
