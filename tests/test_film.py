"""Physics checks of the richer nanocube film (each assertion fails for a broken generator)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

import eelswidgets as ew
from eelswidgets.datasets import nanocube_array, nanocube_film
from eelswidgets.datasets._lineshapes import channel_average, pseudo_voigt


@pytest.fixture(scope="module")
def film():
    return nanocube_film(seed=0)


@pytest.fixture(scope="module")
def film_no_tail():
    return nanocube_film(seed=0, zlp_tail=False)


def _halves(nx):
    return (slice(0, nx // 2), slice(nx // 2, nx))


def _centre_pixels(tr, shape):
    """``(particle, y, x)`` for every particle whose centre pixel lies on it in the image."""
    out = []
    for i, (y, x) in enumerate(np.round(tr["particle_centers"]).astype(int)):
        if 0 <= y < shape[0] and 0 <= x < shape[1] and tr["particle_index"][y, x] == i:
            out.append((i, y, x))
    return out


def test_contract_determinism_and_counts(film):
    ny, nx, ne = film.shape
    tr = film.truth
    assert (ny, nx, ne) == (96, 96, 256) and film.data.dtype == np.float32
    assert tr["maps"].shape == tr["peak_energies"].shape == tr["peak_fwhm"].shape == (4, ny, nx)
    assert tr["spectra"].shape == (4, ne) and len(tr["component_names"]) == 4
    assert np.all(film.data >= 0) and np.array_equal(film.data, np.round(film.data))
    n = len(tr["particle_sizes"])
    for key in ("particle_shapes", "particle_density", "particle_dipole_energy",
                "particle_angles", "particle_exposure"):
        assert tr[key].shape == (n,), key
    assert tr["particle_index"].min() == -1 and tr["particle_index"].max() < n
    for key, value in tr.items():   # JSON/npz friendly
        assert isinstance(value, (np.ndarray, float, int, str, list, tuple)), key
    small = dict(shape=(48, 56), n_energy=32)
    a, b, c = (nanocube_film(seed=s, **small) for s in (3, 3, 4))
    assert np.array_equal(a.data, b.data) and np.array_equal(a.haadf, b.haadf)
    assert np.array_equal(a.truth["maps"], b.truth["maps"]) and a.shape == (48, 56, 32)
    assert not np.array_equal(a.data, c.data)
    lean = nanocube_film(seed=3, keep_clean=False, **small)
    assert "clean" not in lean.truth and np.array_equal(lean.data, a.data)


def test_per_particle_parameters_span_the_requested_ranges(film):
    tr = film.truth
    size, shape, dens = tr["particle_sizes"], tr["particle_shapes"], tr["particle_density"]
    assert size.min() >= 10 and size.max() <= 20 and np.ptp(size) > 6
    assert shape.min() < 0.1 and shape.max() > 0.9
    assert dens.min() >= 0.5 and dens.max() <= 1.5 and np.ptp(dens) > 0.8
    twist = np.rad2deg(tr["particle_angles"] - np.median(tr["particle_angles"]))
    assert 4 < np.std(twist) < 12


def test_clean_is_sum_of_mode_maps_times_lines_plus_tail_and_data_are_poisson(film):
    tr, e = film.truth, film.energy
    lines = channel_average(lambda x: pseudo_voigt(x, tr["peak_energies"][..., None],
                                                   tr["peak_fwhm"][..., None], tr["eta"]),
                            e, float(tr["peak_fwhm"].min()))
    body = np.einsum("kyx,kyxe->yxe", tr["maps"], lines)
    tail = tr["zlp_amplitude"][..., None] * (e / 0.2) ** -tr["zlp_exponent"][..., None]
    np.testing.assert_allclose(tr["clean"], body + tail, rtol=1e-4, atol=1e-2)
    clean = tr["clean"].astype(np.float64)
    ok = clean > 20
    z = (film.data[ok] - clean[ok]) / np.sqrt(clean[ok])
    assert z.size > 100_000 and abs(z.mean()) < 0.02 and abs(z.std() - 1) < 0.03
    # the unit-height truth spectra sit at each mode's weight-averaged energy
    mean_e = (tr["maps"] * tr["peak_energies"]).sum((1, 2)) / tr["maps"].sum((1, 2))
    np.testing.assert_allclose(e[np.argmax(tr["spectra"], axis=1)], mean_e,
                               atol=film.dispersion)
    assert np.all(np.diff(mean_e) > 0.03)             # collective < corner < gap < dipole


def test_each_particle_peak_follows_its_carrier_density(film_no_tail):
    tr, e = film_no_tail.truth, film_no_tail.energy
    # the generator's law: E_dipole / (size and shape factors) = 0.85 sqrt(n)
    size, shape = tr["particle_sizes"], tr["particle_shapes"]
    reduced = tr["particle_dipole_energy"] / ((1 - 0.03 * (size - 15) / 5) * (0.96 + 0.06 * shape))
    order = np.argsort(tr["particle_density"])
    assert np.all(np.diff(reduced[order]) > 0)
    np.testing.assert_allclose(reduced, 0.85 * np.sqrt(tr["particle_density"]), rtol=1e-12)
    # ... and the spectra show it: the centroid above 0.55 eV at each particle's centre
    above = e > 0.55
    pix = _centre_pixels(tr, film_no_tail.shape)
    assert len(pix) > 50
    centroid = [np.sum(film_no_tail.data[y, x, above] * e[above])
                / np.sum(film_no_tail.data[y, x, above]) for _, y, x in pix]
    dens = tr["particle_density"][[i for i, _, _ in pix]]
    assert spearmanr(centroid, dens).statistic > 0.85
    # corner modes exist only on cube-like particles and sit below their dipole mode
    assert np.all(tr["particle_corner_energy"] < 0.8 * tr["particle_dipole_energy"])
    corner_w = tr["maps"][1]
    idx = tr["particle_index"]
    cubes = np.isin(idx, np.flatnonzero(tr["particle_shapes"] < 0.2))
    spheres = np.isin(idx, np.flatnonzero(tr["particle_shapes"] > 0.95))
    assert corner_w[cubes].mean() > 2 * corner_w[spheres].mean()    # (neighbours spill over)


def test_haadf_shows_size_and_shape_not_doping(film):
    tr = film.truth
    idx = tr["particle_index"]
    assert pearsonr(film.haadf.ravel(), tr["thickness"].ravel()).statistic > 0.95
    ids = np.unique(idx[idx >= 0])
    mean_h = np.array([film.haadf[idx == i].mean() for i in ids])
    thick = np.array([tr["thickness"][idx == i].mean() for i in ids])
    assert pearsonr(mean_h, thick).statistic > 0.95
    assert spearmanr(mean_h, tr["particle_sizes"][ids]).statistic > 0.7
    assert abs(spearmanr(mean_h, tr["particle_density"][ids]).statistic) < 0.3
    # a spheroid is a dome (thin rim), a cube a slab: rim / centre HAADF contrast
    rim = {}
    for i, y, x in _centre_pixels(tr, film.shape):
        on = idx == i
        rim[i] = np.percentile(film.haadf[on], 10) / film.haadf[y, x]
    s = tr["particle_shapes"]
    cube_rim = np.mean([v for i, v in rim.items() if s[i] < 0.2])
    sphere_rim = np.mean([v for i, v in rim.items() if s[i] > 0.8])
    assert sphere_rim < cube_rim - 0.1


def test_defects_in_both_halves(film):
    tr = film.truth
    lab, names = tr["region_labels"], tr["region_names"]
    assert set(np.unique(lab)) == set(range(len(names)))
    for half in _halves(film.nx):          # every defect, and intact film, on both sides
        found = {n for i, n in enumerate(names) if (lab[:, half] == i).sum() >= 20}
        assert found >= {"hole", "crack", "vacancy", "edge", "vacuum", "gap", "centre"}, found
    # vacuum beyond the film edge (bottom) on both sides, no particle there
    ny, nx = lab.shape
    yy, xx = np.mgrid[:ny, :nx]
    p, nrm = tr["film_edge_point"], tr["film_edge_normal"]
    beyond = (yy - p[0]) * nrm[0] + (xx - p[1]) * nrm[1] > 2
    assert not tr["particle_mask"][beyond].any()
    for half in _halves(nx):
        assert beyond[:, half].sum() > 100
    # each hole and each vacancy inside the field is empty of particles
    for y, x in np.round(tr["hole_centers"]).astype(int):
        assert lab[y, x] == names.index("hole") and not tr["particle_mask"][y, x]
    inside = [(y, x) for y, x in np.round(tr["vacancy_sites"]).astype(int)
              if 0 <= y < ny and 0 <= x < nx]
    assert inside and all(not tr["particle_mask"][y, x] for y, x in inside)


def test_collective_mode_reaches_deep_into_the_holes(film_no_tail):
    tr, e = film_no_tail.truth, film_no_tail.energy
    maps = tr["maps"]
    film_level = np.median(maps[0][tr["particle_mask"]])
    for y, x in np.round(tr["hole_centers"]).astype(int):
        dist = np.hypot(*(tr["particle_centers"] - [y, x]).T).min() * film_no_tail.pixel_size
        assert dist > 20                                # tens of nm from any particle centre
        assert 0.3 * film_level < maps[0, y, x] < film_level
        assert maps[0, y, x] > 3 * maps[1:, y, x].sum()  # only the film mode reaches here
        i = np.argmin(np.abs(e - tr["peak_energies"][0, y, x]))
        assert tr["clean"][y, x, i] > 20                # a measurable peak, not a trace
    # it decays into the vacuum beyond the film edge, slowly
    ny, nx = maps[0].shape
    yy, xx = np.mgrid[:ny, :nx]
    p, nrm = tr["film_edge_point"], tr["film_edge_normal"]
    depth = ((yy - p[0]) * nrm[0] + (xx - p[1]) * nrm[1]) * film_no_tail.pixel_size
    near, far = (depth > 2) & (depth < 6), depth > 12
    assert maps[0][far].mean() < 0.8 * maps[0][near].mean()
    assert maps[0][far].mean() > 0.1 * film_level


def _nmf_overlap(si, k=4):
    """Per endmember: max |r| with any true mode spectrum, and with any true mode map."""
    low = si.crop_energy(0.3, 1.25)
    dec = ew.decompose(low.clip(0), n_components=k, method="nmf", random_state=0)
    keep = np.isin(si.energy, low.energy)
    spec = [[np.corrcoef(d, t)[0, 1] for t in si.truth["spectra"][:, keep]]
            for d in dec.spectra]
    maps = [[np.corrcoef(d.ravel(), t.ravel())[0, 1] for t in si.truth["maps"]]
            for d in dec.maps]
    return np.max(spec, axis=1), np.max(maps, axis=1)


def test_nmf_endmembers_mix_the_modes_on_the_rich_film_only():
    # Measured with seeds 0-3 at this size: rich film, map r <= 0.60 for every endmember and
    # mean spectral r 0.52-0.79; old film, map r >= 0.83 and mean spectral r >= 0.89.
    kw = dict(seed=0, shape=(64, 64), n_energy=48, zlp_tail=False)
    rich_spec, rich_maps = _nmf_overlap(nanocube_film(**kw))
    old_spec, old_maps = _nmf_overlap(nanocube_array(**kw))
    assert np.all(old_maps > 0.8) and old_spec.mean() > 0.85
    assert np.all(rich_maps < 0.7) and rich_spec.mean() < 0.8


def test_anisotropic_packing():
    tr = nanocube_film(seed=1, shape=(64, 64), n_energy=32, gap=(3.0, 9.0)).truth
    c = tr["particle_centers"] * 2.0                     # nm
    d = c[:, None] - c[None]
    dist = np.hypot(d[..., 0], d[..., 1])
    np.fill_diagonal(dist, np.inf)
    along_x = np.where(np.abs(d[..., 1]) > 2 * np.abs(d[..., 0]), dist, np.inf).min(1)
    along_y = np.where(np.abs(d[..., 0]) > 2 * np.abs(d[..., 1]), dist, np.inf).min(1)
    assert np.median(along_x) - np.median(along_y) > 4.0


def test_bad_arguments():
    with pytest.raises(ValueError, match="at least 48x48"):
        nanocube_film(shape=(32, 96))
    with pytest.raises(ValueError, match="vacancy_fraction"):
        nanocube_film(vacancy_fraction=0.7)
    with pytest.raises(TypeError, match="gap"):
        nanocube_film(gap="wide")
    with pytest.raises(ValueError, match="gap"):
        nanocube_film(gap=(3.0, -1.0))
    with pytest.raises(ValueError, match="3 pixels"):
        nanocube_film(pixel_size=5.0)
    with pytest.raises(ValueError, match="density_range"):
        nanocube_film(density_range=(1.5, 0.5))
    with pytest.raises(ValueError, match="energy_range"):
        nanocube_film(energy_range=(0.4, 1.0))
    with pytest.raises(TypeError, match="seed"):
        nanocube_film(seed=1.5)
