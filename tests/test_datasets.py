"""Physics checks of the synthetic datasets (each assertion fails for a broken generator)."""

from __future__ import annotations

import numpy as np
import pytest
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import map_coordinates
from scipy.signal import find_peaks
from sklearn.linear_model import Ridge

from eelswidgets import SpectrumImage
from eelswidgets.datasets import (
    MotifStack,
    nanocube_array,
    nanocube_film,
    nanowires,
    perovskite_interface,
    render_motif,
    rotated_motifs,
)


@pytest.fixture(scope="module")
def wires():
    return nanowires(seed=0)


@pytest.fixture(scope="module")
def cubes():
    return nanocube_array(seed=0)


@pytest.fixture(scope="module")
def cubes_no_tail():
    return nanocube_array(seed=1, zlp_tail=False)


@pytest.fixture(scope="module")
def perovskite():
    return perovskite_interface(seed=0)


def _poisson_z(si):
    clean = si.truth["clean"].astype(np.float64)
    ok = clean > 20
    return (si.data[ok] - clean[ok]) / np.sqrt(clean[ok])


# ---------------------------------------------------------------------------- common contract
@pytest.mark.parametrize("name", ["wires", "cubes", "perovskite"])
def test_contract_and_truth_shapes(name, request):
    si = request.getfixturevalue(name)
    assert isinstance(si, SpectrumImage)
    ny, nx, ne = si.shape
    assert si.data.dtype == np.float32 and si.haadf.shape == (ny, nx)
    tr = si.truth
    k = len(tr["component_names"])
    assert tr["spectra"].shape == (k, ne) and tr["maps"].shape == (k, ny, nx)
    assert tr["clean"].shape == (ny, nx, ne) and np.all(tr["clean"] >= 0)
    assert np.all(si.data >= 0) and np.array_equal(si.data, np.round(si.data))   # counts
    assert all(isinstance(n, str) for n in tr["component_names"])
    for key, value in tr.items():   # JSON/npz friendly: arrays, numbers, strings, lists, dicts
        assert isinstance(value, (np.ndarray, float, int, str, list, tuple, dict)), key


@pytest.mark.parametrize("name", ["wires", "cubes", "perovskite"])
def test_poisson_statistics(name, request):
    z = _poisson_z(request.getfixturevalue(name))
    assert z.size > 100_000
    assert abs(z.mean()) < 0.02
    assert abs(z.std() - 1.0) < 0.03


@pytest.mark.parametrize("make, kwargs", [
    (nanowires, dict(shape=(32, 40), n_energy=64)),
    (nanocube_array, dict(shape=(32, 32), n_energy=64)),
    (perovskite_interface, dict(shape=(32, 32), n_energy=600)),
])
def test_same_seed_same_output_and_seeds_differ(make, kwargs):
    a, b, c = make(seed=3, **kwargs), make(seed=3, **kwargs), make(seed=4, **kwargs)
    assert np.array_equal(a.data, b.data) and np.array_equal(a.haadf, b.haadf)
    assert np.array_equal(a.truth["clean"], b.truth["clean"])
    assert np.array_equal(a.truth["maps"], b.truth["maps"])
    assert not np.array_equal(a.data, c.data)
    assert a.shape[:2] == kwargs["shape"] and a.ne == kwargs["n_energy"]
    lean = make(seed=3, keep_clean=False, **kwargs)          # big-cube option: same draw
    assert "clean" not in lean.truth and np.array_equal(lean.data, a.data)


@pytest.mark.parametrize("make", [nanowires, nanocube_array, perovskite_interface])
def test_bad_arguments_raise_clear_errors(make):
    with pytest.raises(ValueError, match="at least 16x16"):
        make(shape=(8, 64))
    with pytest.raises(TypeError, match="pair"):
        make(shape=64)
    with pytest.raises(ValueError, match="n_energy must be at least"):
        make(n_energy=1)
    with pytest.raises(TypeError, match="n_energy must be an integer"):
        make(n_energy=256.0)
    with pytest.raises(TypeError, match="seed"):
        make(seed="zero")
    with pytest.raises(ValueError, match="seed"):
        make(seed=-1)
    with pytest.raises(ValueError, match="energy_range"):
        make(energy_range=(3.0, 1.0))
    with pytest.raises(ValueError, match="pixel_size"):
        make(pixel_size=-1.0)


def test_generator_specific_bad_arguments():
    with pytest.raises(ValueError, match="does not fit"):
        nanowires(lengths=(100.0, 400.0))
    with pytest.raises(ValueError, match="n_modes"):
        nanowires(n_modes=0)
    with pytest.raises(ValueError, match="cube_size"):
        nanocube_array(pixel_size=8.0)
    with pytest.raises(ValueError, match="interface_fraction"):
        perovskite_interface(interface_fraction=0.95)
    with pytest.raises(ValueError, match="intermixing"):
        perovskite_interface(intermixing=0.9)
    with pytest.raises(TypeError, match="intermixing"):
        perovskite_interface(intermixing="some")
    with pytest.raises(ValueError, match="energy_range must cover"):
        perovskite_interface(energy_range=(500.0, 900.0))


# ---------------------------------------------------------------------------- nanowires
def test_nanowire_clean_is_sum_of_components_plus_zlp_tail(wires):
    tr = wires.truth
    body = np.einsum("kyx,ke->yxe", tr["maps"], tr["spectra"])
    tail = tr["zlp_amplitude"][..., None] * (wires.energy / 0.2) ** -tr["zlp_exponent"][..., None]
    np.testing.assert_allclose(tr["clean"], body + tail, rtol=1e-4, atol=1e-2)


def test_nanowire_mode_energy_falls_with_length(wires):
    tr = wires.truth
    e, lengths = tr["mode_energies"], tr["wire_lengths"]
    assert lengths[1] > lengths[0]
    assert np.all(e[1] < e[0])                       # longer wire: every mode lower
    assert np.all(np.diff(e, axis=1) > 0)            # higher order: higher energy
    # The truth spectra peak at those energies ...
    peaks = wires.energy[np.argmax(tr["spectra"], axis=1)]
    np.testing.assert_allclose(peaks, e.ravel(), atol=wires.dispersion)
    # ... and so do the measured data near each wire after removing the zero-loss tail.
    low = wires.remove_zlp(tr["zlp_fit_window"])
    first = []
    for w in range(2):
        spec = low.mean_spectrum(tr["wire_index"] == w)
        above = low.energy > 0.4
        idx, _ = find_peaks(spec[above], prominence=0.3 * spec[above].max())
        found = low.energy[above][idx]
        assert len(found) == e.shape[1]
        np.testing.assert_allclose(found, e[w], atol=0.05)
        first.append(found[0])
    assert first[1] < first[0]


def _along_axis(tr, c, step=0.25):
    """Truth map of component c sampled along its wire's axis (tip to tip)."""
    w = tr["mode_wire"][c]
    (cy, cx), ang = tr["wire_centers"][w], tr["wire_angles"][w]
    half = tr["wire_lengths"][w] / 2 / tr["pixel_size"]
    t = np.arange(-half, half + 1e-9, step)
    return map_coordinates(tr["maps"][c], [cy + t * np.sin(ang), cx + t * np.cos(ang)],
                           order=1)


def test_nanowire_mode_n_has_n_plus_one_antinodes(wires):
    tr = dict(wires.truth, pixel_size=wires.pixel_size)
    for c, n in enumerate(tr["mode_orders"]):
        prof = _along_axis(tr, c)
        padded = np.concatenate([[0.0], prof, [0.0]])     # the tips count as antinodes
        peaks, _ = find_peaks(padded, prominence=0.2 * prof.max())
        assert len(peaks) == n + 1, (tr["component_names"][c], len(peaks))


def _one_over_e_distance(tr, c, pixel_size):
    """Distance (nm) from the wire surface at a tip-side antinode to where the map is 1/e."""
    w = tr["mode_wire"][c]
    (cy, cx), ang = tr["wire_centers"][w], tr["wire_angles"][w]
    half = tr["wire_lengths"][w] / 2 / pixel_size
    y0, x0 = cy - half * np.sin(ang), cx - half * np.cos(ang)   # one tip (antinode for all n)
    ny = tr["maps"][c].shape[0]
    direction = 1.0 if y0 < ny / 2 else -1.0                    # perpendicular, into the image
    t = np.arange(0, 40, 0.1)
    ys, xs = y0 + direction * t * np.cos(ang), x0 - direction * t * np.sin(ang)
    prof = map_coordinates(tr["maps"][c], [ys, xs], order=1)
    r0 = tr["wire_radius"] / pixel_size
    at_surface = np.interp(r0, t, prof)
    beyond = t > r0
    below = np.nonzero(prof[beyond] < at_surface / np.e)[0]
    assert below.size, "map does not decay within the field"
    return (t[beyond][below[0]] - r0) * pixel_size


def test_nanowire_low_energy_modes_decay_more_slowly(wires):
    tr = wires.truth
    energies = tr["mode_energies"].ravel()
    d = np.array([_one_over_e_distance(tr, c, wires.pixel_size) for c in range(len(energies))])
    order = np.argsort(energies)
    assert np.all(np.diff(d[order]) < 0), (energies[order], d[order])
    assert d[order[0]] > 2.5 * d[order[-1]]


def test_nanowire_zlp_tail_everywhere_stronger_on_wire_and_haadf(wires):
    tr = wires.truth
    lowest = tr["clean"][..., 0]
    assert lowest.min() > 1000                          # the tail is present at every pixel
    on, off = tr["wire_mask"], ~tr["wire_mask"]
    assert lowest[on].mean() > 1.5 * lowest[off].mean()
    assert wires.haadf[on].mean() > 5 * wires.haadf[off].mean()
    assert np.corrcoef(wires.haadf.ravel(), tr["thickness"].ravel())[0, 1] > 0.95


def test_nanowire_zlp_fit_window_leaves_only_the_modes(wires):
    tr = wires.truth
    low = wires.remove_zlp(tr["zlp_fit_window"])
    keep = wires.energy >= tr["zlp_fit_window"][0]
    body = np.einsum("kyx,ke->yxe", tr["maps"], tr["spectra"][:, keep]).mean(axis=(0, 1))
    got = low.mean_spectrum().astype(np.float64)
    above = low.energy > 0.4
    assert np.abs(got[above] - body[above]).max() < 0.05 * body.max()


# ---------------------------------------------------------------------------- nanocubes
def test_nanocube_bulk_mode_only_on_particles(cubes, cubes_no_tail):
    tr = cubes.truth
    bulk = tr["maps"][tr["component_names"].index("bulk mode 0.9 eV")]
    assert np.all(bulk[tr["coverage"] == 0] == 0)
    assert np.all(bulk[tr["particle_mask"]] > 0)
    np.testing.assert_allclose(tr["peak_energies"][2], 0.9)
    # In the noise-free spectra: a 0.9 eV peak on particles, none in the vacuum/hole.
    tr2, e = cubes_no_tail.truth, cubes_no_tail.energy
    names = tr2["region_names"]
    clean, lab = tr2["clean"], tr2["region_labels"]
    i09 = np.argmin(np.abs(e - 0.9))
    on = clean[lab == names.index("centre")][:, i09].mean()
    for region in ("vacuum", "hole"):
        assert clean[lab == names.index(region)][:, i09].mean() < 0.1 * on


def test_nanocube_peak_energies_depend_on_geometry(cubes):
    tr = cubes.truth
    e, lab, names = tr["peak_energies"], tr["region_labels"], tr["region_names"]
    assert set(np.unique(lab)) == set(range(len(names)))
    assert e[0].min() > 0.42 and e[0].max() < 0.56
    assert e[1].min() > 0.68 and e[1].max() < 0.82
    edge, centre, gap = (lab == names.index(r) for r in ("edge", "centre", "gap"))
    x = tr["exposure"]                      # fraction of nearby material that is missing
    assert np.all(x[centre] < 0.05) and np.median(x[lab == names.index("hole")]) > 0.4
    assert np.median(x[lab == names.index("vacuum")]) > 0.8
    assert e[0][edge].mean() < e[0][centre].mean() - 0.005   # exposed corners red-shift
    w = tr["maps"]
    for other in ("centre", "hole", "vacuum"):                 # gap mode lives in the gaps
        assert w[1][gap].mean() > 1.5 * w[1][lab == names.index(other)].mean()


def test_nanocube_haadf_shows_the_cubes(cubes):
    tr = cubes.truth
    on, lab, names = tr["particle_mask"], tr["region_labels"], tr["region_names"]
    assert cubes.haadf[on].mean() > 3 * cubes.haadf[~on].mean()
    hole = lab == names.index("hole")
    assert hole.sum() > 100 and not on[hole].any()
    # vacuum beyond the film edge lies on the far side of the edge line
    ny, nx = lab.shape
    yy, xx = np.mgrid[:ny, :nx]
    p, nrm = tr["film_edge_point"], tr["film_edge_normal"]
    beyond = (yy - p[0]) * nrm[0] + (xx - p[1]) * nrm[1] > 2
    assert not on[beyond].any() and beyond.sum() > 200


def test_nanocube_spectrum_is_predictable_from_haadf_window(cubes_no_tail):
    si, w = cubes_no_tail, 16
    win = sliding_window_view(si.haadf, (w, w))
    ny, nx = win.shape[:2]
    X = win.reshape(ny * nx, -1)
    Y = si.truth["clean"][w // 2:w // 2 + ny, w // 2:w // 2 + nx].reshape(ny * nx, -1)
    Yn = si.data[w // 2:w // 2 + ny, w // 2:w // 2 + nx].reshape(ny * nx, -1)
    train = np.tile(np.arange(nx), ny) < nx // 2
    pred = Ridge(alpha=1.0).fit(X[train], Yn[train]).predict(X[~train])
    mse = ((pred - Y[~train]) ** 2).mean()
    baseline = ((Yn[train].mean(0) - Y[~train]) ** 2).mean()
    assert mse < 0.3 * baseline


# ---------------------------------------------------------------------------- perovskite
def test_perovskite_edge_onsets(perovskite):
    tr = perovskite.truth
    for name, onset in tr["edge_onsets"].items():
        sub = perovskite.remove_background(tr["background_windows"][name])
        spec = sub.mean_spectrum().astype(np.float64)
        e = sub.energy
        lo, hi = tr["background_windows"][name]
        pre = (e >= lo) & (e <= hi)
        assert abs(spec[pre].mean()) < 0.05 * spec.max()     # background removed
        near = np.abs(e - onset) < 15
        slope = np.gradient(spec, e)
        assert abs(e[near][np.argmax(slope[near])] - onset) <= 3.0, name


def test_perovskite_haadf_z_contrast_and_column_resolved_edges(perovskite):
    tr, si = perovskite.truth, perovskite
    pos = np.rint(tr["column_positions"]).astype(int)
    sp = np.array(tr["column_species"])
    h = {s: si.haadf[pos[sp == s, 0], pos[sp == s, 1]].mean() for s in ("La", "Sr", "Ti", "O")}
    assert h["La"] > 1.3 * h["Sr"] > h["Ti"] > h["O"]
    # Ti only below the interface (SrTiO3), La only above (LaGaO3)
    row = tr["interface_row"]
    assert np.all(pos[sp == "Ti", 0] > row) and np.all(pos[sp == "La", 0] < row)
    ti = si.remove_background(tr["background_windows"]["Ti L2,3"]).energy_image(456, 468)
    la = si.remove_background(tr["background_windows"]["La M4,5"]).energy_image(830, 855)
    film = tr["film_mask"]
    assert ti[~film].mean() > 5 * abs(ti[film].mean())
    assert la[film].mean() > 5 * abs(la[~film].mean())
    # column resolved: Ti signal on Ti columns well above that on Sr columns
    at = {s: ti[pos[sp == s, 0], pos[sp == s, 1]].mean() for s in ("Ti", "Sr")}
    assert at["Ti"] > 2 * at["Sr"]


def test_perovskite_background_varies_across_image(perovskite):
    tr = perovskite.truth
    assert np.ptp(tr["background_amplitude"]) > 0.2 * tr["background_amplitude"].min()
    assert np.ptp(tr["background_exponent"]) > 0.2


def test_perovskite_intermixing_gives_fractional_interface_columns():
    clean = perovskite_interface(seed=0, shape=(32, 32), n_energy=600).truth
    mixed = perovskite_interface(seed=0, shape=(32, 32), n_energy=600, intermixing=0.3).truth
    sp = np.array(mixed["column_species"])
    cation = sp != "O"
    f0, f1 = clean["column_film_fraction"][cation], mixed["column_film_fraction"][cation]
    assert set(np.unique(f0)) <= {0.0, 1.0}
    partial = (f1 > 0) & (f1 < 1)
    assert partial.any()
    # only the two cation planes next to the interface are mixed
    rows = mixed["column_positions"][cation][partial, 0]
    a_px = mixed["lattice"] / 0.05
    assert np.all(np.abs(rows - mixed["interface_row"]) < a_px)


@pytest.mark.parametrize("make, kwargs", [
    (nanowires, dict(shape=(20, 24), n_energy=32)),
    (nanocube_array, dict(shape=(20, 20), n_energy=32)),
    (nanocube_film, dict(shape=(48, 48), n_energy=32)),
    (perovskite_interface, dict(shape=(20, 20), n_energy=500)),
])
def test_truth_round_trips_through_save_and_load(make, kwargs, tmp_path):
    from eelswidgets.io import load

    si = make(seed=0, **kwargs)
    path = tmp_path / "si.npz"
    si.save(path)
    back = load(path)
    assert back == si and set(back.truth) == set(si.truth)
    for key, value in si.truth.items():
        if isinstance(value, np.ndarray):
            np.testing.assert_array_equal(back.truth[key], value)
        elif isinstance(value, dict):
            for k, v in value.items():
                np.testing.assert_array_equal(np.asarray(back.truth[key][k]), np.asarray(v))
        else:
            assert list(np.atleast_1d(back.truth[key])) == list(np.atleast_1d(value)), key


# ---------------------------------------------------------------------------- rotated motifs
def _rotate_back(window, angle):
    """Sample a copy at R(angle) d for every reference offset d (undo its rotation)."""
    c, w, _ = window.shape
    d = np.arange(w) - w // 2
    dy, dx = np.meshgrid(d, d, indexing="ij")
    sx = np.cos(angle) * dx - np.sin(angle) * dy
    sy = np.sin(angle) * dx + np.cos(angle) * dy
    return np.stack([map_coordinates(window[i], [sy + w // 2, sx + w // 2], order=1,
                                     cval=0.0) for i in range(c)])


def _corr(a, b):
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def test_rotated_motifs_contract():
    st = rotated_motifs(n_side=4, spacing=16, channels=3, seed=0)
    assert isinstance(st, MotifStack)
    assert st.maps.shape == (3, 64, 64) and st.maps.dtype == np.float32
    assert st.maps.min() >= 0 and st.maps.max() <= 1 and st.maps.max() > 0.9
    assert st.centers.shape == (16, 2) and np.issubdtype(st.centers.dtype, np.integer)
    assert st.angles.shape == (16,) and np.all((st.angles >= 0) & (st.angles < 2 * np.pi))
    assert st.reference.shape == (3, 16, 16) and st.symmetry == 1
    win = st.windows()
    assert win.shape == (16, 3, 16, 16)
    np.testing.assert_array_equal(win[5], st.maps[:, 16:32, 16:32])
    # each channel holds a different part of the motif
    ref = st.reference
    assert max(_corr(ref[i], ref[j]) for i in range(3) for j in range(i + 1, 3)) < 0.2
    again = rotated_motifs(n_side=4, spacing=16, channels=3, seed=0)
    assert np.array_equal(st.maps, again.maps) and np.array_equal(st.angles, again.angles)
    assert not np.array_equal(st.angles, rotated_motifs(n_side=4, seed=1).angles)


def test_rotated_motifs_angles_are_recoverable():
    st = rotated_motifs(n_side=5, spacing=16, channels=3, symmetry=1, seed=2)
    win = st.windows()
    good = [_corr(_rotate_back(win[i], st.angles[i]), st.reference) for i in range(len(win))]
    wrong = [_corr(_rotate_back(win[i], st.angles[i] + np.pi / 2), st.reference)
             for i in range(len(win))]
    assert min(good) > 0.95
    assert max(wrong) < 0.5
    np.testing.assert_allclose(win[3], render_motif(16, 3, 1, st.angles[3]), atol=1e-6)


def test_rotated_motifs_symmetry():
    ref1 = render_motif(24, channels=1, symmetry=1)
    for deg in (30, 90, 180, 270):            # no rotational symmetry ...
        assert _corr(_rotate_back(ref1, np.deg2rad(deg)), ref1) < 0.8
    assert _corr(ref1[:, ::-1, :], ref1) < 0.8  # ... and no mirror symmetry
    st = rotated_motifs(n_side=3, spacing=16, channels=2, symmetry=4, seed=0)
    win = st.windows()
    for i in range(len(win)):                  # 4-fold: angle + pi/2 undoes it as well
        assert _corr(_rotate_back(win[i], st.angles[i] + np.pi / 2), st.reference) > 0.95


def test_rotated_motifs_explicit_angles_and_bad_arguments():
    angles = np.linspace(0, 1, 4)
    before = angles.copy()
    st = rotated_motifs(n_side=2, spacing=16, angles=angles)
    np.testing.assert_array_equal(st.angles, before)
    np.testing.assert_array_equal(angles, before)           # input not modified
    with pytest.raises(ValueError, match="angles must hold 4"):
        rotated_motifs(n_side=2, angles=[0.0])
    with pytest.raises(ValueError, match="n_side"):
        rotated_motifs(n_side=0)
    with pytest.raises(ValueError, match="channels"):
        rotated_motifs(channels=9)
    with pytest.raises(ValueError, match="symmetry"):
        rotated_motifs(symmetry=0)
    with pytest.raises(ValueError, match="spacing"):
        rotated_motifs(spacing=4)
    with pytest.raises(ValueError, match="noise"):
        rotated_motifs(noise=-1.0)
    with pytest.raises(TypeError, match="seed"):
        rotated_motifs(seed=1.5)
