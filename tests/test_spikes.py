"""Spike removal: injected spikes are all found; a ZLP, an edge onset and a white line are not."""

import numpy as np
import pytest

import eelswidgets as ew


def sharp_si(ny=12, nx=10, seed=0):
    """Low loss + core loss on one axis: a drifting ZLP, and an abrupt edge with a 2-channel
    white line that only the right half of the image has (a sharp interface)."""
    rng = np.random.default_rng(seed)
    e = np.arange(-4.0, 60.0, 0.2)
    yy, xx = np.mgrid[:ny, :nx]
    drift = 0.03 * xx + 0.02 * yy                               # < one channel per pixel
    x = e[None, None, :] - drift[..., None]
    zlp = 5e4 * np.exp(-0.5 * (x / 0.4) ** 2)
    tail = 300.0 / (1 + np.clip(x, 0, None)) * (x > -1)
    right = (xx >= nx // 2)[..., None]
    edge = right * 400.0 * (e >= 40.0)                          # a one-channel step at 40 eV
    white = right * 2500.0 * ((e >= 40.0) & (e < 40.4))         # two channels high
    truth = zlp + tail + edge + white + 20.0
    return ew.SpectrumImage(rng.poisson(truth).astype(float), energy=e), truth


def inject(si, n=25, seed=1):
    rng = np.random.default_rng(seed)
    cube = si.data.copy()
    e = si.energy
    allowed = np.flatnonzero(np.abs(e) > 1.5)                   # not on top of the ZLP
    spots = set()
    while len(spots) < n:
        spots.add((int(rng.integers(si.ny)), int(rng.integers(si.nx)),
                   int(rng.choice(allowed[1:-2]))))
    spots = sorted(spots)
    for i, (y, x, c) in enumerate(spots):
        height = (30 + 70 * rng.random()) * np.sqrt(cube[y, x, c] + 20)
        cube[y, x, c] += height
        if i % 3 == 0:                                          # some two channels wide
            cube[y, x, c + 1] += 0.8 * height
    return si.replace(data=cube), spots


def test_every_injected_spike_is_found_and_nothing_else():
    clean_si, truth = sharp_si()
    before, report0 = clean_si.remove_spikes(return_report=True)
    assert report0.count == 0, report0                          # ZLP, edge, white line kept
    np.testing.assert_array_equal(before.data, clean_si.data)
    spiky, spots = inject(clean_si)
    cleaned, report = spiky.remove_spikes(return_report=True)
    found = {tuple(int(v) for v in loc) for loc in report.locations}
    assert set(spots) <= found
    extra = found - set(spots)
    # only the second channels of the two-channel spikes may be added
    assert all((y, x, c - 1) in spots for y, x, c in extra), extra
    # the replaced values are back near the noise-free spectrum
    for y, x, c in spots:
        assert abs(cleaned.data[y, x, c] - truth[y, x, c]) < 6 * np.sqrt(truth[y, x, c]) + 5
    untouched = ~report.mask
    np.testing.assert_array_equal(cleaned.data[untouched], spiky.data[untouched])


def test_report_and_history():
    spiky, spots = inject(sharp_si()[0], n=4)
    before = spiky.data.copy()
    cleaned, report = spiky.remove_spikes(return_report=True)
    np.testing.assert_array_equal(spiky.data, before)             # input untouched
    assert report.count == int(report.mask.sum()) >= 4
    assert report.original.shape == report.replacement.shape == (report.count,)
    assert np.all(report.original > report.replacement)
    assert {p[:2] for p in spots} <= set(report.pixels)
    assert f"{report.count} value(s) replaced" in cleaned.metadata["processing"][-1]
    assert "SpikeReport" in repr(report) and "eV" in repr(report)
    assert isinstance(spiky.remove_spikes(), ew.SpectrumImage)


def test_a_line_scan_is_cleaned_and_a_single_pixel_is_left_alone():
    si, _ = sharp_si(ny=1, nx=30)
    spiky, spots = inject(si, n=5)
    _, report = spiky.remove_spikes(return_report=True)
    assert {tuple(int(v) for v in loc) for loc in report.locations} >= set(spots)
    one = spiky.crop(0, 1, 0, 1)
    assert one.remove_spikes(return_report=True)[1].count == 0


def test_invalid_pixels_are_ignored():
    si, _ = sharp_si(ny=4, nx=4)
    cube = si.data.copy()
    valid = np.ones((4, 4), bool)
    valid[0, 0] = False
    cube[0, 0] = np.nan
    cleaned, report = si.replace(data=cube, valid=valid).remove_spikes(return_report=True)
    assert not report.mask[0, 0].any() and np.all(np.isnan(cleaned.data[0, 0]))


@pytest.mark.parametrize("bad, err", [(0, ValueError), (-1.0, ValueError),
                                      (float("nan"), ValueError), ("8", TypeError),
                                      (True, TypeError)])
def test_threshold_is_checked(bad, err):
    with pytest.raises(err, match="threshold"):
        sharp_si(ny=2, nx=2)[0].remove_spikes(bad)
