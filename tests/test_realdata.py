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
    clean, report = si.remove_spikes(return_report=True)
    assert report.count <= 5
    edges = clean.remove_background((820, 910)).crop_energy(910, 1300)
    dec = ew.decompose(edges, 2, "nmf", poisson=True, allow_negative="clip", max_iter=500)
    assert dec.maps.shape == (2, 50, 40) and np.isfinite(dec.maps).all()
    print(f"CuZn: HAADF vs total counts correlation {r:.2f}; remove_spikes replaced "
          f"{report.count} value(s) at {[tuple(int(v) for v in p) for p in report.locations]}; "
          f"Poisson-weighted NMF above the Cu L edge: component peaks at "
          f"{dec.peak_energies().tolist()} eV")


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


# ---------------------------------------------------------------- item 5: small and 1-D scans
def test_oxide_49x6_windowed_models_name_the_largest_window():
    si = ew.load(real("oxide_coreloss_SI.dm3"), haadf=real("oxide_coreloss_HAADF.dm3"))
    for model, best in ((ew.Im2Spec, 6), (ew.Spec2Im, 4)):
        with pytest.raises(ValueError, match=rf"49 x 6.*largest window that fits.*window={best}"):
            model(window=16).fit(si, progress=False)
    dec = ew.decompose(si.remove_background((400, 450)), 3, "nmf", allow_negative="clip",
                       max_iter=300)
    with pytest.raises(ValueError, match=r"largest window that fits.*window=6"):
        ew.MultichannelRVAE(window=10).fit(dec.maps, progress=False)
    print(f"oxide 49x6: NMF of the background-subtracted SI, peaks at "
          f"{np.round(dec.peak_energies(), 1).tolist()} eV; windowed models refuse window=16 "
          "(Im2Spec: largest 6, Spec2Im: 4) and rVAE window=10 (largest 6)")


def test_lsmo_line_scan_through_the_chain():
    import torch

    from eelswidgets.widgets import DecompositionExplorer, LatentExplorer, SpectrumImageExplorer

    torch.set_num_threads(1)
    low = ew.load(real("LSMO_linescan_low_loss.hspy"))
    aligned, shifts = low.align_zlp(return_shifts=True)
    assert aligned.shape[:2] == (1, 40) and np.ptp(shifts) < 1.0
    core = ew.load(real("LSMO_linescan.hspy"))
    clean, report = core.remove_spikes(return_report=True)
    sub = clean.remove_background((480, 520)).crop_energy(520, 721)
    dec = ew.decompose(sub, 2, "nmf", allow_negative="clip", poisson=True, max_iter=500)
    assert dec.maps.shape == (2, 1, 40) and np.isfinite(dec.maps).all()
    with pytest.raises(ValueError, match="no window fits"):
        ew.Im2Spec(window=4).fit(core.attach_haadf(np.ones((1, 40))), progress=False)
    vae = ew.SpectralVAE(latent_dim=2, epochs=2, seed=0).fit(sub, progress=False)
    assert vae.encode(sub).shape == (1, 40, 2)
    for ex in (SpectrumImageExplorer(sub), DecompositionExplorer(sub, dec),
               LatentExplorer(sub, vae)):
        ex.selection.pixel = (0, 39)
        np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, sub.data[0, 39])
        ex.close()
    print(f"LSMO line scan: low-loss ZLP at {shifts.min():.2f}..{shifts.max():.2f} eV, aligned; "
          f"core loss: {report.count} spike(s) replaced; NMF (Poisson-weighted) of O K..Mn L "
          f"peaks at {np.round(dec.peak_energies(), 1).tolist()} eV")


# ---------------------------------------------------------------- the other files
def test_coreloss_16x16_without_a_zlp_and_with_spikes():
    si = ew.load(real("coreloss_16x16_SI.dm3"))
    with pytest.raises(ValueError, match=r"no clear zero-loss peak at \d+ pixel"):
        si.align_zlp()                              # a core-loss SI starting at 28 eV
    clean, report = si.remove_spikes(return_report=True)
    assert 0 < report.count <= 20 and np.all(report.original > report.replacement)
    dec = ew.decompose(clean, 3, "pca", poisson=True)
    assert dec.scree[0] > dec.scree[1]
    print(f"coreloss 16x16: align_zlp refuses (no ZLP); remove_spikes replaced {report.count} "
          f"value(s) in pixels {report.pixels}; Poisson-weighted PCA scree "
          f"{np.round(dec.scree[:4], 4).tolist()}")


def test_survey_image_is_read_but_not_attachable_to_the_si():
    survey = ew.io.read_image(real("oxide_coreloss_survey.dm3"))
    assert survey.shape == (512, 512)
    si = ew.load(real("oxide_coreloss_SI.dm3"))
    with pytest.raises(ValueError, match=r"\(512, 512\).*49 x 6"):
        si.attach_haadf(survey)
    # the SI's own region of the survey (README: rows 52..428, columns 213..259) is 376 x 46
    # survey pixels, not a multiple of 49 x 6 either: it must be resampled by the user
    with pytest.raises(ValueError, match=r"\(376, 46\)"):
        si.attach_haadf(survey[52:428, 213:259])
