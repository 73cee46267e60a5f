"""A richer synthetic nanocube film: per-particle size, shape and doping, a collective mode.

:func:`nanocube_film` is the harder sibling of :func:`~eelswidgets.datasets.nanocube_array`:
every particle has its own size, cube-to-spheroid shape and carrier density, which shift its
plasmon peaks and (size and shape) show in the HAADF image; a delocalised collective mode of
the film reaches tens of nm into the holes; vacancies, a crack, holes and the film edge appear
in both halves of the image, so that a left/right train/test split sees every kind of defect.
"""

from __future__ import annotations

import numbers

import numpy as np

from ..spectrum_image import SpectrumImage
from ._common import (
    check_n_energy,
    check_positive,
    check_range,
    check_seed,
    check_shape,
    energy_axis,
    pixel_grid,
    poisson_counts,
)
from ._lineshapes import channel_average, power_law, pseudo_voigt
from .nanocubes import film_tail_and_haadf, low_loss_image

__all__ = ["nanocube_film", "FILM_MODE_NAMES", "FILM_REGION_NAMES"]

#: Names of the four plasmon modes (order of ``truth["maps"]`` and ``truth["spectra"]``).
FILM_MODE_NAMES = ("collective film mode ~0.5 eV", "corner mode ~0.55 eV",
                   "gap mode ~0.65 eV", "dipole mode ~0.8 eV")
#: Names of the values in ``truth["region_labels"]`` (index = label).
FILM_REGION_NAMES = ("vacuum", "centre", "corner", "gap", "edge", "hole", "crack", "vacancy")
#: Lorentzian fraction of the pseudo-Voigt line shape.
ETA = 0.2
#: Reference energy (eV) of the zero-loss tail amplitude and its fit window (eV).
ZLP_E_REF = 0.2
ZLP_FIT_WINDOW = (0.2, 0.3)
# Mode energies (eV) of a particle of relative carrier density 1, edge 15 nm, shape 0.5.
_E_DIPOLE = 0.85
_CORNER_RATIO = 0.72        # corner mode / dipole mode of the same particle
_GAP_RATIO = 0.86           # bonding gap mode / mean dipole mode of the two particles
_E_COLLECTIVE = 0.52
# The collective mode's energy follows the carrier density within this share of its length.
_DENSITY_SHARE = 0.3
# Widths (eV): particle modes 0.04 + 1.2 / a (surface scattering), gap and collective fixed.
_FWHM_GAP = 0.10
_FWHM_COLLECTIVE = 0.22
# Near-field decay lengths (nm).
_LAMBDA_CORNER = 3.0
_LAMBDA_GAP = 5.0
_LAMBDA_DIPOLE = 4.0
_REF_SIZE = 15.0


def _check_pair(value, name: str, *, low: float = 0.0) -> tuple[float, float]:
    """A positive number or a pair of them, returned as a pair."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        value = (value, value)
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__") or len(value) != 2:
        raise TypeError(f"{name} must be a positive number or a pair of them, got {value!r}")
    a, b = (check_positive(v, name) for v in value)
    if min(a, b) < low:
        raise ValueError(f"{name} must be at least {low:g}, got {value!r}")
    return a, b


def _line_side(points, point, normal):
    """Signed distance (nm) of ``points`` (n, 2) from the line through ``point``."""
    return (points[:, 0] - point[0]) * normal[0] + (points[:, 1] - point[1]) * normal[1]


def _layout(rng, fov, size_range, gap, twist, hole_radius, vacancy_fraction, crack_width):
    """Lattice sites, particle parameters and defects (nm; angles in rad)."""
    mean_size = 0.5 * (size_range[0] + size_range[1])
    packed = 0.3 * size_range[0] + 0.7 * size_range[1]       # a large particle's site
    pitch = np.array([packed + gap[0], packed + gap[1]])
    lattice_angle = np.deg2rad(3.0 + rng.uniform(-2.0, 2.0))
    c, s = np.cos(lattice_angle), np.sin(lattice_angle)
    half = 0.5 * np.hypot(*fov) / pitch.min() + 2
    idx = np.arange(-int(half), int(half) + 1)
    ii, jj = np.meshgrid(idx, idx, indexing="ij")
    ii, jj = ii.ravel(), jj.ravel()
    uy, ux = ii * pitch[0], jj * pitch[1]
    centers = np.stack([fov[0] / 2 + c * uy + s * ux, fov[1] / 2 - s * uy + c * ux], 1)
    n = len(centers)
    centers += rng.normal(0.0, 0.08 * min(gap) + 0.03 * mean_size, (n, 2))
    spread = 0.25 * (size_range[1] - size_range[0])
    sizes = np.clip(rng.normal(mean_size, spread, n), *size_range)
    shapes = rng.uniform(0.0, 1.0, n)
    angles = lattice_angle + np.deg2rad(rng.normal(0.0, twist, n))

    # Defects: a film edge along the bottom and a crack across the whole width; one hole in
    # each half; random vacancies.
    edge_point = np.array([0.88 * fov[0], 0.5 * fov[1]])
    edge_angle = np.deg2rad(6.0 + rng.uniform(-3.0, 3.0))
    edge_normal = np.array([np.cos(edge_angle), np.sin(edge_angle)])        # into the vacuum
    crack_point = np.array([(0.60 + rng.uniform(-0.03, 0.03)) * fov[0], 0.5 * fov[1]])
    crack_angle = np.deg2rad(-10.0 + rng.uniform(-4.0, 4.0))
    crack_normal = np.array([np.cos(crack_angle), np.sin(crack_angle)])
    holes = np.array([[0.30, 0.25], [0.28, 0.75]]) * fov + rng.uniform(-0.03, 0.03, (2, 2)) * fov
    unit_density = rng.uniform(0.0, 1.0, n)       # scaled to density_range by the caller
    vacancy_draw = rng.uniform(0.0, 1.0, n)

    # The crack: the film below the crack line moved away from it by crack_width.
    below = _line_side(centers, crack_point, crack_normal) > 0
    centers[below] += crack_width * crack_normal
    site = {(a, b): k for k, (a, b) in enumerate(zip(ii, jj, strict=True))}
    sizes = _no_overlap(centers, sizes, shapes, angles, ii, jj, site, 0.3 * min(gap),
                        size_range[0])
    in_film = _line_side(centers, edge_point, edge_normal) < -0.5 * sizes
    for h in holes:
        if hole_radius > 0:
            in_film &= np.hypot(*(centers - h).T) > hole_radius
    margin = 2 * pitch.max()
    near = ((centers[:, 0] > -margin) & (centers[:, 0] < fov[0] + margin)
            & (centers[:, 1] > -margin) & (centers[:, 1] < fov[1] + margin))
    vacant = in_film & (vacancy_draw < vacancy_fraction)
    if vacancy_fraction > 0:      # at least one vacancy well inside each half of the field
        inner = (in_film & (centers[:, 0] > pitch[0]) & (centers[:, 0] < fov[0] - pitch[0]))
        for lo, hi in ((pitch[1], fov[1] / 2 - pitch[1]), (fov[1] / 2 + pitch[1],
                                                             fov[1] - pitch[1])):
            half_mask = inner & (centers[:, 1] > lo) & (centers[:, 1] < hi)
            if not (vacant & half_mask).any() and half_mask.any():
                cand = np.flatnonzero(half_mask)
                vacant[cand[np.argmin(vacancy_draw[cand])]] = True
    present = in_film & ~vacant
    # Exposure of a particle: the share of its 8 lattice neighbours that are missing or lie
    # across the crack.
    exposure = np.zeros(n)
    for k in np.flatnonzero(present & near):
        lost = 0
        for da in (-1, 0, 1):
            for db in (-1, 0, 1):
                if da == 0 and db == 0:
                    continue
                m = site.get((ii[k] + da, jj[k] + db))
                lost += m is None or not present[m] or below[m] != below[k]
        exposure[k] = lost / 8.0
    return dict(centers=centers, sizes=sizes, shapes=shapes, angles=angles,
                unit_density=unit_density, exposure=exposure, present=present & near,
                vacant=vacant & near,
                holes=holes, edge_point=edge_point, edge_normal=edge_normal,
                crack_point=crack_point, crack_normal=crack_normal, pitch=pitch)


def _no_overlap(centers, sizes, shapes, angles, ii, jj, site, clearance, smallest):
    """Shrink neighbours that would overlap (edge neighbours on the lattice).

    Along the line joining two neighbours, a particle reaches ``(a / 2) e`` with
    ``e = 1 + (1 - s) (|cos phi| + |sin phi| - 1)`` (``phi`` its twist relative to that line:
    ``e = 1`` for a spheroid, up to ``sqrt(2)`` for a cube seen corner-on); where the two
    reaches and ``clearance`` exceed the centre distance, both sizes shrink by one factor
    (not below ``smallest``). ``site`` maps lattice indices ``(i, j)`` to particles.
    """
    first, second = [], []
    for k, (a, b) in enumerate(zip(ii, jj, strict=True)):
        for m in (site.get((a, b + 1)), site.get((a + 1, b))):
            if m is not None:
                first.append(k)
                second.append(m)
    i, j = np.array(first), np.array(second)
    d = centers[j] - centers[i]
    dist = np.hypot(d[:, 0], d[:, 1])
    phi = np.arctan2(d[:, 0], d[:, 1])

    def reach(k):
        t = angles[k] - phi
        return 0.5 * (1.0 + (1.0 - shapes[k]) * (np.abs(np.cos(t)) + np.abs(np.sin(t)) - 1.0))

    need = sizes[i] * reach(i) + sizes[j] * reach(j)
    factor = np.minimum(1.0, np.maximum(dist - clearance, 0.0) / need)
    scale = np.ones_like(sizes)
    np.minimum.at(scale, i, factor)
    np.minimum.at(scale, j, factor)
    return np.maximum(sizes * scale, smallest)


def _particle_modes(sizes, shapes, density):
    """Dipole and corner energies (eV), line widths (eV) and superellipse exponents."""
    size_factor = 1.0 - 0.03 * (sizes - _REF_SIZE) / 5.0   # larger: mild retardation red shift
    shape_factor = 0.96 + 0.06 * shapes                      # cube corners lower the modes
    dipole = _E_DIPOLE * np.sqrt(density) * size_factor * shape_factor   # omega_p ~ sqrt(n)
    fwhm = 0.04 + 1.2 / sizes
    exponent = 2.0 + 10.0 * (1.0 - shapes) ** 1.5          # 12: rounded cube, 2: spheroid
    return dipole, _CORNER_RATIO * dipole, fwhm, exponent


def _fields(yy, xx, lay, part, pixel_size, reach):
    """Per-pixel geometry and near-field weights of every present particle.

    Each particle is a superellipse ``(|u|/h)^p + (|v|/h)^p <= 1`` (``h`` half its edge) seen
    face-on, whose projected thickness is ``a (1 - (|u|/h)^p - (|v|/h)^p)^(1/p)``: uniform for
    a cube (``p`` large), a dome for a spheroid (``p = 2``). Work is done in a window of
    ``reach`` nm around each particle.
    """
    ny, nx = yy.shape
    f = {k: np.zeros((ny, nx)) for k in ("coverage", "thickness", "corner_w", "corner_we",
                                         "corner_wf", "dipole_w", "dipole_we", "dipole_wf")}
    d1 = np.full((ny, nx), np.inf)
    d2 = np.full((ny, nx), np.inf)
    i1 = np.full((ny, nx), -1, dtype=np.int64)
    i2 = np.full((ny, nx), -1, dtype=np.int64)
    dcorner = np.full((ny, nx), np.inf)
    owner = np.full((ny, nx), -1, dtype=np.int64)
    for i in np.flatnonzero(lay["present"]):
        cy, cx = lay["centers"][i]
        a, th, p = lay["sizes"][i], lay["angles"][i], part["exponent"][i]
        r = a / 2 + reach
        y0, y1 = max(0, int((cy - r) / pixel_size)), min(ny, int((cy + r) / pixel_size) + 2)
        x0, x1 = max(0, int((cx - r) / pixel_size)), min(nx, int((cx + r) / pixel_size) + 2)
        if y1 <= y0 or x1 <= x0:
            continue
        sl = (slice(y0, y1), slice(x0, x1))
        dy, dx = yy[sl] - cy, xx[sl] - cx
        h = a / 2
        u = np.abs(np.cos(th) * dx + np.sin(th) * dy) / h
        v = np.abs(-np.sin(th) * dx + np.cos(th) * dy) / h
        qp = u ** p + v ** p
        sd = (qp ** (1.0 / p) - 1.0) * h                       # approximate surface distance
        cov = np.clip(0.5 - sd / pixel_size, 0.0, 1.0)
        dist = np.maximum(sd, 0.0)
        hc = 2.0 ** (-1.0 / p)                                 # the superellipse's corner
        dc = np.hypot(u - hc, v - hc) * h
        owner[sl] = np.where(cov > f["coverage"][sl], i, owner[sl])
        f["coverage"][sl] = np.maximum(f["coverage"][sl], cov)
        f["thickness"][sl] = np.maximum(f["thickness"][sl],
                                        a * np.clip(1.0 - qp, 0.0, 1.0) ** (1.0 / p))
        closer = dist < d1[sl]
        second = ~closer & (dist < d2[sl])
        d2[sl] = np.where(closer, d1[sl], np.where(second, dist, d2[sl]))
        i2[sl] = np.where(closer, i1[sl], np.where(second, i, i2[sl]))
        d1[sl] = np.where(closer, dist, d1[sl])
        i1[sl] = np.where(closer, i, i1[sl])
        cube = 1.0 - lay["shapes"][i]
        dcorner[sl] = np.where(cube > 0.5, np.minimum(dcorner[sl], dc), dcorner[sl])
        wc = cube * (0.5 + lay["exposure"][i]) * np.exp(-dc / _LAMBDA_CORNER)
        wd = (a / _REF_SIZE) * (0.6 + 0.4 * lay["shapes"][i]) * np.exp(-dist / _LAMBDA_DIPOLE)
        for key, w, e, fw in (("corner", wc, part["corner"][i], part["fwhm"][i] * 0.8),
                              ("dipole", wd, part["dipole"][i], part["fwhm"][i])):
            f[key + "_w"][sl] += w
            f[key + "_we"][sl] += w * e
            f[key + "_wf"][sl] += w * fw
    owner[f["coverage"] < 0.5] = -1
    f.update(d1=np.minimum(d1, reach), d2=np.minimum(d2, 2 * reach), i1=i1, i2=i2,
             dcorner=np.minimum(dcorner, reach), owner=owner)
    return f


def _convolve_same(image, kernel):
    """Linear (zero-padded) convolution of ``image`` with an odd square ``kernel``, same size."""
    ny, nx = image.shape
    k = kernel.shape[0]
    size = (ny + k - 1, nx + k - 1)
    full = np.fft.irfft2(np.fft.rfft2(image, size) * np.fft.rfft2(kernel, size), size)
    r = k // 2
    return full[r:r + ny, r:r + nx]


def _collective(coverage, density_map, pixel_size, length):
    """Weight (1 in the intact film) and energy of the delocalised film mode.

    The film's coverage convolved with ``exp(-r / length)``, relative to the same
    convolution of the intact film (its 95th percentile); the energy follows the local mean
    carrier density under a kernel ``_DENSITY_SHARE`` times shorter.
    """
    ny, nx = coverage.shape
    r = int(np.ceil(5 * length / pixel_size))
    ky, kx = np.mgrid[-r:r + 1, -r:r + 1] * pixel_size
    kernel = np.exp(-np.hypot(ky, kx) / length)
    ones = _convolve_same(np.ones((ny, nx)), kernel)
    local = _convolve_same(coverage, kernel) / ones
    short = np.exp(-np.hypot(ky, kx) / (_DENSITY_SHARE * length))
    n_loc = (_convolve_same(coverage * density_map, short)
             / np.maximum(_convolve_same(coverage, short), 1e-9 * short.sum()))
    n_loc = np.where(n_loc > 0, n_loc, 1.0)
    weight = np.clip(local / np.percentile(local, 95), 0.0, 1.2)
    energy = _E_COLLECTIVE * np.sqrt(np.clip(n_loc, 0.3, 3.0))
    return weight, energy


def nanocube_film(seed: int = 0, shape: tuple[int, int] = (96, 96), n_energy: int = 256, *,
                  energy_range: tuple[float, float] = (0.15, 1.35), pixel_size: float = 2.0,
                  size_range: tuple[float, float] = (10.0, 20.0), gap=3.0,
                  density_range: tuple[float, float] = (0.5, 1.5), twist: float = 8.0,
                  hole_radius: float = 22.0, vacancy_fraction: float = 0.04,
                  crack_width: float = 8.0, collective_length: float = 15.0,
                  peak_counts: float = 150.0, zlp_counts: float = 300.0,
                  zlp_tail: bool = True, keep_clean: bool = True) -> SpectrumImage:
    r"""Low-loss spectrum image of a disordered film of doped-oxide nanocrystals.

    A harder sibling of :func:`~eelswidgets.datasets.nanocube_array` in which the spectrum
    depends on each particle, not only on the local geometry, so that NMF endmembers mix
    several plasmon peaks (as in paper 2, Fig. 1) and the size of a model's latent space
    matters.

    *Particles.* On a square (or, with ``gap=(gap_y, gap_x)``, rectangular) lattice of pitch
    ``0.3 a_min + 0.7 a_max + gap`` (the site of a large particle), rotated by a few degrees,
    with random displacements and twists of ``twist`` degrees (standard deviation), each
    particle ``i`` has

    - an edge ``a_i`` in ``size_range`` (normal about the middle of the range, standard
      deviation a quarter of the range, truncated; two lattice neighbours that would come
      closer than ``0.3 gap`` along the line between them both shrink, not below ``a_min``);
    - a shape ``s_i`` uniform in [0, 1], from a rounded cube (``s = 0``, superellipse exponent
      ``p = 12``) to a spheroid (``s = 1``, ``p = 2``), ``p = 2 + 10 (1 - s)^1.5``;
    - a relative carrier density ``n_i`` uniform in ``density_range``.

    The HAADF image is the projected thickness ``a_i (1 - |u|^p - |v|^p)^(1/p)`` (uniform for
    a cube, a dome for a spheroid; ``u, v`` particle coordinates in units of ``a_i / 2``)
    blurred by the probe, plus detector noise: it shows size and shape, not doping.

    *Plasmon modes* (pseudo-Voigt, 20 % Lorentzian; ``c = peak_counts``):

    - dipole mode of each particle, ``E_d = 0.85 sqrt(n_i) (1 - 0.03 (a_i - 15) / 5)
      (0.96 + 0.06 s_i)`` eV (the plasma frequency grows as the square root of the carrier
      density; larger particles red-shift mildly; cube corners lower the modes), FWHM
      ``0.04 + 1.2 / a_i`` eV (surface scattering), weight
      ``0.7 c sum_i (a_i / 15) (0.6 + 0.4 s_i) exp(-d_i / 4 nm)`` with ``d_i`` the distance to
      particle ``i`` (0 inside);
    - corner mode ``E_c = 0.72 E_d`` (FWHM ``0.8`` of the dipole's), weight
      ``c sum_i (1 - s_i) (0.5 + x_i) exp(-d_c / 3 nm)`` (``d_c`` the distance to a corner,
      ``x_i`` the particle's exposure: the share of its 8 lattice neighbours that are missing
      or across the crack): strong at cube corners, absent on spheroids;
    - gap mode between the two nearest particles ``j, k``: ``E_g = 0.86 (E_d,j + E_d,k) / 2
      (1 - 0.08 exp(-g / 4 nm))``, FWHM 0.10 eV, weight ``0.8 c exp(-g / 5 nm) (1 - 0.6 m)``
      with ``g`` the sum of the distances to the two nearest surfaces and ``m`` the coverage;
    - collective film mode, delocalised: weight ``0.5 c F`` with ``F`` the coverage convolved
      with ``exp(-r / collective_length)`` relative to the intact film's, so that it reaches
      tens of nm into holes and cracks; ``E = 0.52 sqrt(<n>)`` eV with ``<n>`` the local
      mean carrier density (kernel length ``0.3 collective_length``), FWHM 0.22 eV.

    Where several particles contribute to a mode at one pixel, its energy and width are the
    weight-averaged ones. Optionally (``zlp_tail=True``) a zero-loss tail
    ``A (E / 0.2 eV)^{-r}`` with ``A = A_0 (1 + G_1nm * m)``, ``r = 3.5 - 0.5 G_1nm * m`` is
    added. The data are Poisson draws of the expected counts.

    *Defects, in both halves of the image:* the film edge runs along the bottom (vacuum
    below), a crack crosses the whole width (the film below it moved ``crack_width`` nm
    away), one hole of radius ``hole_radius`` sits in each half, and a share
    ``vacancy_fraction`` of the lattice sites is empty (at least one in each half).

    Regions (``truth["region_labels"]``, names in ``truth["region_names"]``): on a particle
    (``m >= 0.5``) ``edge`` if the particle's exposure is above 0, else ``corner`` within
    3 nm of a corner of a cube-like particle (``s < 0.5``), else ``centre``; off particles
    ``gap`` if ``g <= 2.5 gap``, else ``hole`` inside a hole, ``crack`` within the crack,
    ``vacancy`` inside an empty lattice site, else ``vacuum``.

    Parameters
    ----------
    seed : int
        Seed of the random generator (lattice, particles, defects, noise).
    shape : (int, int)
        Image size ``(ny, nx)`` (at least 48x48 to hold the defects).
    n_energy : int
        Number of energy channels.
    energy_range : (float, float)
        First and last channel energy (eV); must cover 0.3-1.25 eV (and the zero-loss fit
        window 0.2-0.3 eV with ``zlp_tail``).
    pixel_size : float
        Pixel size in nm.
    size_range : (float, float)
        Smallest and largest particle edge (nm).
    gap : float or (float, float)
        Gap between neighbouring large particles (nm; smaller ones leave wider gaps); a pair
        ``(gap_y, gap_x)`` packs the film anisotropically.
    density_range : (float, float)
        Range of the relative carrier density (1 = the nominal doping).
    twist : float
        Standard deviation (degrees) of the particles' in-plane rotation about the lattice.
    hole_radius : float
        Radius (nm) of the two holes (0: none).
    vacancy_fraction : float
        Share of empty lattice sites, in [0, 0.5) (0: none).
    crack_width : float
        Opening (nm) of the crack (0: none).
    collective_length : float
        Decay length (nm) of the collective film mode.
    peak_counts, zlp_counts : float
        Scale of the peak weights and zero-loss tail counts at 0.2 eV (counts per channel).
    zlp_tail : bool
        Add the zero-loss tail.
    keep_clean : bool
        Store the noise-free cube in ``truth["clean"]``.

    Returns
    -------
    SpectrumImage
        Counts, energy (eV), HAADF, pixel size (nm) and ``truth`` with keys:

        - ``clean`` (ny, nx, ne) expected counts;
        - ``maps`` = ``peak_weights`` (4, ny, nx) counts at each mode's peak,
          ``peak_energies`` and ``peak_fwhm`` (4, ny, nx) eV, so that
          ``clean = sum_k maps_k * pseudo_voigt(E; peak_energies_k, peak_fwhm_k, 0.2)`` (each
          averaged over a channel) + zero-loss tail; ``spectra`` (4, ne): unit-height peaks at
          each mode's weight-averaged energy and width; ``component_names``;
        - ``particle_centers`` (n, 2) pixels (y, x), ``particle_sizes`` nm,
          ``particle_shapes`` (0 cube ... 1 spheroid), ``particle_exponents``,
          ``particle_density`` (relative carrier density), ``particle_angles`` rad,
          ``particle_dipole_energy`` and ``particle_corner_energy`` eV, ``particle_fwhm`` eV,
          ``particle_exposure``, for every particle within two pitches of the field;
          ``particle_index`` (ny, nx) the particle under each pixel (-1 off particles);
        - ``region_labels`` (ny, nx) and ``region_names``; ``particle_mask``; ``coverage``,
          ``thickness`` (nm), ``gap_width`` (nm), ``corner_distance`` (nm), ``collective``
          (the relative collective weight ``F``), all (ny, nx);
        - ``hole_centers`` (2, 2) pixels, ``hole_radius`` nm, ``vacancy_sites`` (m, 2)
          pixels, ``crack_point`` pixels and ``crack_normal``, ``crack_width`` nm,
          ``film_edge_point`` pixels and ``film_edge_normal`` (into the vacuum);
        - ``zlp_fit_window``, ``zlp_amplitude``, ``zlp_exponent`` (ny, nx), ``eta``.
    """
    seed = check_seed(seed)
    ny, nx = check_shape(shape, minimum=48)
    ne = check_n_energy(n_energy)
    e_lo, e_hi = check_range(energy_range, "energy_range", low=1e-3)
    need_lo = ZLP_FIT_WINDOW[0] if zlp_tail else 0.3
    if e_lo > need_lo or e_hi < 1.25:
        raise ValueError(f"energy_range must start at or below {need_lo} eV and reach at "
                         f"least 1.25 eV to hold the four modes, got {energy_range}")
    pixel_size = check_positive(pixel_size, "pixel_size")
    size_range = check_range(size_range, "size_range", low=1e-3)
    density_range = check_range(density_range, "density_range", low=1e-3)
    gap = _check_pair(gap, "gap")
    twist = 0.0 if twist == 0 else check_positive(twist, "twist")
    hole_radius = 0.0 if hole_radius == 0 else check_positive(hole_radius, "hole_radius")
    crack_width = 0.0 if crack_width == 0 else check_positive(crack_width, "crack_width")
    collective_length = check_positive(collective_length, "collective_length")
    peak_counts = check_positive(peak_counts, "peak_counts")
    zlp_counts = check_positive(zlp_counts, "zlp_counts")
    if isinstance(vacancy_fraction, bool) or not isinstance(vacancy_fraction, numbers.Real) \
            or not 0.0 <= vacancy_fraction < 0.5:
        raise ValueError(f"vacancy_fraction must be a number in [0, 0.5), got "
                         f"{vacancy_fraction!r}")
    if size_range[0] < 3 * pixel_size:
        raise ValueError(f"the smallest particle ({size_range[0]:g} nm) must span at least "
                         f"3 pixels of {pixel_size:g} nm; lower pixel_size")

    rng = np.random.default_rng(seed)
    energy = energy_axis(e_lo, e_hi, ne)
    fov = np.array([ny * pixel_size, nx * pixel_size])
    yy, xx = pixel_grid(ny, nx, pixel_size)
    lay = _layout(rng, fov, size_range, gap, twist, hole_radius, float(vacancy_fraction),
                  crack_width)
    lay["density"] = density_range[0] + (density_range[1] - density_range[0]) * lay[
        "unit_density"]
    dipole, corner, fwhm, exponent = _particle_modes(lay["sizes"], lay["shapes"],
                                                     lay["density"])
    part = dict(dipole=dipole, corner=corner, fwhm=fwhm, exponent=exponent)
    if lay["present"].sum() < 2:
        raise ValueError("the defects leave fewer than 2 particles in the field; use a larger "
                         "shape or smaller holes")
    reach = 2 * float(lay["pitch"].max())
    f = _fields(yy, xx, lay, part, pixel_size, reach)
    coverage, owner = f["coverage"], f["owner"]
    gap_width = f["d1"] + f["d2"]

    density_map = np.where(owner >= 0, np.append(lay["density"], 1.0)[owner], 0.0)
    coll_w, coll_e = _collective(coverage, density_map, pixel_size, collective_length)
    with np.errstate(invalid="ignore", divide="ignore"):
        corner_e = np.where(f["corner_w"] > 0, f["corner_we"] / f["corner_w"], _E_DIPOLE
                            * _CORNER_RATIO)
        corner_f = np.where(f["corner_w"] > 0, f["corner_wf"] / f["corner_w"], 0.1)
        dip_e = np.where(f["dipole_w"] > 0, f["dipole_we"] / f["dipole_w"], _E_DIPOLE)
        dip_f = np.where(f["dipole_w"] > 0, f["dipole_wf"] / f["dipole_w"], 0.12)
    i1, i2 = f["i1"], f["i2"]
    pair = 0.5 * (dipole[np.maximum(i1, 0)] + dipole[np.maximum(i2, 0)])
    pair = np.where((i1 >= 0) & (i2 >= 0), pair, _E_DIPOLE)
    gap_e = _GAP_RATIO * pair * (1.0 - 0.08 * np.exp(-gap_width / 4.0))
    weights = np.stack([
        0.5 * peak_counts * coll_w,
        peak_counts * f["corner_w"],
        0.8 * peak_counts * np.exp(-gap_width / _LAMBDA_GAP) * (1.0 - 0.6 * coverage),
        0.7 * peak_counts * f["dipole_w"],
    ])
    energies = np.stack([coll_e, corner_e, gap_e, dip_e])
    widths = np.stack([np.full((ny, nx), _FWHM_COLLECTIVE), corner_f,
                       np.full((ny, nx), _FWHM_GAP), dip_f])

    labels = _region_labels(lay, f, yy, xx, gap, hole_radius, crack_width)
    zlp_amp, zlp_exp, haadf = film_tail_and_haadf(coverage, f["thickness"] / _REF_SIZE,
                                                  pixel_size, zlp_counts, rng)

    min_fwhm = float(widths.min())

    def expected(r0, r1):
        out = np.zeros((r1 - r0, nx, ne))
        for k in range(4):
            c, w = energies[k, r0:r1, :, None], widths[k, r0:r1, :, None]
            out += weights[k, r0:r1, :, None] * channel_average(
                lambda e, c=c, w=w: pseudo_voigt(e, c, w, ETA), energy, min_fwhm)
        if zlp_tail:
            out += power_law(energy, zlp_amp[r0:r1, :, None], zlp_exp[r0:r1, :, None],
                             ZLP_E_REF)
        return out

    data = np.empty((ny, nx, ne), dtype=np.float32)
    clean = np.empty((ny, nx, ne), dtype=np.float32) if keep_clean else None
    poisson_counts(expected, ny, rng, data, clean)

    total = weights.sum(axis=(1, 2))
    mean_e = (weights * energies).sum(axis=(1, 2)) / np.maximum(total, 1e-12)
    mean_f = (weights * widths).sum(axis=(1, 2)) / np.maximum(total, 1e-12)
    spectra = np.stack([channel_average(lambda e, k=k: pseudo_voigt(e, mean_e[k], mean_f[k],
                                                                    ETA), energy, min_fwhm)
                        for k in range(4)])
    near = lay["present"]
    to_px = pixel_size
    truth = {
        "maps": weights,
        "peak_weights": weights.copy(),
        "spectra": spectra,
        "component_names": list(FILM_MODE_NAMES),
        "peak_energies": energies,
        "peak_fwhm": widths,
        "eta": ETA,
        "region_labels": labels,
        "region_names": list(FILM_REGION_NAMES),
        "particle_mask": coverage >= 0.5,
        "particle_index": _renumber(owner, near),
        "coverage": coverage,
        "thickness": f["thickness"],
        "gap_width": gap_width,
        "corner_distance": f["dcorner"],
        "collective": coll_w,
        "particle_centers": lay["centers"][near] / to_px - 0.5,
        "particle_sizes": lay["sizes"][near],
        "particle_shapes": lay["shapes"][near],
        "particle_exponents": exponent[near],
        "particle_density": lay["density"][near],
        "particle_angles": lay["angles"][near],
        "particle_dipole_energy": dipole[near],
        "particle_corner_energy": corner[near],
        "particle_fwhm": fwhm[near],
        "particle_exposure": lay["exposure"][near],
        "hole_centers": lay["holes"] / to_px - 0.5,
        "hole_radius": float(hole_radius),
        "vacancy_sites": lay["centers"][lay["vacant"]] / to_px - 0.5,
        "crack_point": lay["crack_point"] / to_px - 0.5,
        "crack_normal": lay["crack_normal"],
        "crack_width": float(crack_width),
        "film_edge_point": lay["edge_point"] / to_px - 0.5,
        "film_edge_normal": lay["edge_normal"],
        "zlp_fit_window": ZLP_FIT_WINDOW,
        "zlp_amplitude": zlp_amp if zlp_tail else np.zeros((ny, nx)),
        "zlp_exponent": zlp_exp,
    }
    return low_loss_image(data, energy, haadf, pixel_size, truth, clean,
                          generator="nanocube_film", seed=seed, name="synthetic nanocube film")


def _renumber(owner, present):
    """Map indices into all lattice sites to indices into the present particles."""
    new = np.full(present.size + 1, -1, dtype=np.int64)
    new[np.flatnonzero(present)] = np.arange(int(present.sum()))
    return new[owner]


def _region_labels(lay, f, yy, xx, gap, hole_radius, crack_width):
    """Region label of every pixel (indices into :data:`FILM_REGION_NAMES`)."""
    names = FILM_REGION_NAMES
    coverage, owner = f["coverage"], f["owner"]
    particle = coverage >= 0.5
    labels = np.zeros(coverage.shape, dtype=np.int64)
    labels[particle] = names.index("centre")
    cube_like = np.append(lay["shapes"] < 0.5, False)[owner]
    labels[particle & cube_like & (f["dcorner"] < 3.0)] = names.index("corner")
    exposed = np.append(lay["exposure"] > 0, False)[owner]
    labels[particle & exposed] = names.index("edge")
    off = ~particle
    is_gap = off & (f["d1"] + f["d2"] <= 2.5 * max(gap))
    pts = np.stack([yy.ravel(), xx.ravel()], 1)
    in_hole = np.zeros(coverage.shape, dtype=bool)
    if hole_radius > 0:
        for h in lay["holes"]:
            in_hole |= np.hypot(yy - h[0], xx - h[1]) < hole_radius + 0.5 * lay["sizes"].mean()
    film_side = (_line_side(pts, lay["edge_point"], lay["edge_normal"]) < 0).reshape(yy.shape)
    s = _line_side(pts, lay["crack_point"], lay["crack_normal"]).reshape(yy.shape)
    half_pitch = 0.5 * lay["pitch"].min()
    in_crack = (crack_width > 0) & (s > -half_pitch) & (s < crack_width + half_pitch)
    in_vacancy = np.zeros(coverage.shape, dtype=bool)
    for c in lay["centers"][lay["vacant"]]:
        in_vacancy |= np.hypot(yy - c[0], xx - c[1]) < 0.6 * lay["pitch"].min()
    rest = off & ~is_gap
    labels[is_gap] = names.index("gap")
    labels[rest & film_side & in_vacancy] = names.index("vacancy")
    labels[rest & film_side & in_crack & ~in_vacancy] = names.index("crack")
    labels[rest & in_hole] = names.index("hole")
    return labels
