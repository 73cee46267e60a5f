"""The analysis chain on real, third-party spectrum images (see ../shared/realdata/README.md).

These files are not part of the package; the tests find them beside the repository root and
fail (they are not skipped) when the folder is missing.
"""

from pathlib import Path

import numpy as np
import pytest

import eelswidgets as ew

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def real(name: str) -> Path:
    path = REALDATA / name
    if not path.is_file():
        pytest.fail(f"real data file {name} is missing: it should be at {path} (the folder "
                    "shared/realdata/ beside the repository root; see its README.md)")
    return path


# ---------------------------------------------------------------- item 1: separate HAADF file
def test_oxide_haadf_file_is_block_averaged_32x32_onto_the_si():
    si = ew.load(real("oxide_coreloss_SI.dm3"), haadf=real("oxide_coreloss_HAADF.dm3"))
    assert si.shape == (49, 6, 1024) and si.haadf.shape == (49, 6)
    raw = ew.io.read_image(real("oxide_coreloss_HAADF.dm3"))
    assert raw.shape == (1568, 192)
    np.testing.assert_allclose(si.haadf, raw.reshape(49, 32, 6, 32).mean((1, 3)), rtol=1e-5)
    assert si.metadata["haadf_source"]["samples_per_pixel"] == [32, 32]


def test_cuzn_haadf_file_matches_the_si_grid_and_its_intensity():
    si = ew.load(real("CuZn_coreloss_SI.hspy"), haadf=real("CuZn_HAADF.hspy"))
    assert si.haadf.shape == (50, 40)
    # same orientation: the HAADF follows the total core-loss intensity (thicker = brighter)
    r = np.corrcoef(si.haadf.ravel(), si.data.sum(-1).ravel())[0, 1]
    assert r > 0.6
    print(f"CuZn: HAADF vs total counts correlation {r:.2f}")


def test_a_haadf_of_another_scan_is_refused_with_both_shapes():
    with pytest.raises(ValueError, match=r"\(1568, 192\).*\(50, 40\)"):
        ew.load(real("CuZn_coreloss_SI.hspy"), haadf=real("oxide_coreloss_HAADF.dm3"))


# ---------------------------------------------------------------- item 2: ZLP drift
def _five_point_peak(cube, energy):
    """ZLP position by a least-squares parabola through the log of the 5 top channels.

    An estimator independent of the one inside ``align_zlp``.
    """
    rows = cube.reshape(-1, cube.shape[-1])
    out = []
    for row in rows:
        k = int(np.argmax(row))
        c2, c1, _ = np.polyfit(energy[k - 2:k + 3], np.log(row[k - 2:k + 3]), 2)
        out.append(-c1 / (2 * c2))
    return np.array(out).reshape(cube.shape[:2])


def test_drifting_lowloss_zlp_spread_is_below_0_1_ev_after_alignment():
    si = ew.load(real("lowloss_drift_16x16_SI.dm3"))
    before = _five_point_peak(si.data, si.energy)
    aligned, shifts = si.align_zlp(return_shifts=True)
    after = _five_point_peak(aligned.data, aligned.energy)
    assert np.ptp(before) > 2.5                       # the README's +7.2..+10.2 eV drift
    assert np.ptp(after) < 0.1, np.ptp(after)
    assert np.max(np.abs(after)) < 0.1                # and it sits at 0 eV
    np.testing.assert_allclose(shifts, before, atol=0.15)
    # cropped to what every pixel measured, to within one 0.3 eV channel
    assert 0 <= aligned.energy[0] - (si.energy[0] - shifts.min()) < 0.3
    assert 0 <= (si.energy[-1] - shifts.max()) - aligned.energy[-1] < 0.3
    print(f"lowloss drift: ZLP at {shifts.min():.2f}..{shifts.max():.2f} eV before, spread "
          f"{np.ptp(after) * 1000:.0f} meV after (5-point estimator); axis "
          f"{aligned.energy[0]:.2f}..{aligned.energy[-1]:.2f} eV, {aligned.ne} channels")


# ---------------------------------------------------------------- item 3: spikes
def test_drifting_lowloss_spikes_and_row_8():
    si = ew.load(real("lowloss_drift_16x16_SI.dm3"))
    cleaned, report = si.remove_spikes(return_report=True)
    e = si.energy
    # nothing near any pixel's ZLP or on the plasmon is touched
    assert not report.mask[..., (e > 4) & (e < 35)].any()
    assert report.count <= 5
    # row 8: its oddities are broad (pixels (8, 3) and (8, 11) carry about twice their
    # neighbours' counts over the whole loss range and less zero loss: a thicker spot or a
    # scan glitch, not a detector spike), so they are kept as they are
    loss = si.data[..., e > 30].sum(-1)
    neighbours = (loss[7, 3] + loss[9, 3] + loss[8, 2] + loss[8, 4]) / 4
    assert loss[8, 3] > 1.8 * neighbours
    np.testing.assert_array_equal(cleaned.data[8, 3], si.data[8, 3])
    print(f"lowloss drift: remove_spikes replaced {report.count} value(s) at "
          f"{[(int(y), int(x), round(float(e[c]), 1)) for y, x, c in report.locations]} "
          f"(y, x, eV); row 8: {int(report.mask[8].sum())} replaced; (8, 3) carries "
          f"{loss[8, 3] / neighbours:.1f}x its neighbours' counts above 30 eV, kept")


def test_spikes_injected_into_real_data_are_all_found():
    si = ew.load(real("lowloss_drift_16x16_SI.dm3"))
    rng = np.random.default_rng(3)
    cube = si.data.copy()
    far = np.flatnonzero(si.energy > 14)
    spots = {(int(rng.integers(16)), int(rng.integers(16)), int(rng.choice(far)))
             for _ in range(20)}
    for y, x, c in spots:
        cube[y, x, c] += 40 * np.sqrt(cube[y, x, c] + 10)
    _, report = si.replace(data=cube).remove_spikes(return_report=True)
    _, base = si.remove_spikes(return_report=True)
    found = {tuple(int(v) for v in loc) for loc in report.locations}
    assert spots <= found
    assert found - spots <= {tuple(int(v) for v in loc) for loc in base.locations}
