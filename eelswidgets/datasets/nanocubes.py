"""Synthetic low-loss spectrum image of a self-assembled nanocube film with a hole and an edge."""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter
from scipy.spatial import cKDTree

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

__all__ = ["nanocube_array", "REGION_NAMES", "PEAK_NAMES"]

#: Names of the values in ``truth["region_labels"]`` (index = label).
REGION_NAMES = ("vacuum", "centre", "corner", "gap", "edge", "hole")
#: Names of the three plasmon peaks (order of ``truth["maps"]`` and ``truth["spectra"]``).
PEAK_NAMES = ("corner/edge mode ~0.5 eV", "gap mode ~0.75 eV", "bulk mode 0.9 eV")
#: Full widths at half maximum (eV) of the three peaks.
PEAK_FWHM = (0.12, 0.10, 0.08)
#: Lorentzian fraction of the pseudo-Voigt line shape.
ETA = 0.2
#: Reference energy (eV) of the zero-loss tail amplitude.
ZLP_E_REF = 0.2
#: Zero-loss tail fit window (eV), below the lowest corner/edge mode.
ZLP_FIT_WINDOW = (0.2, 0.3)
# Decay lengths (nm): corner hot spots, gap coupling, exposure smoothing scale.
_LAMBDA_CORNER = 3.0
_LAMBDA_GAP = 5.0
_SIGMA_EXPOSURE = 10.0
_CORNER_RADIUS = 1.5


def _pseudo_voigt(energy, center, fwhm):
    """Unit-height pseudo-Voigt: ``eta L + (1 - eta) G`` with a common FWHM."""
    return pseudo_voigt(energy, center, fwhm, ETA)


def _peak_energies(exposure, gap_width):
    """Per-pixel energies (eV) of the three peaks from the local geometry."""
    e1 = 0.52 - 0.07 * exposure
    e2 = 0.80 - 0.10 * np.exp(-gap_width / 4.0)
    e3 = np.full_like(exposure, 0.90)
    return np.stack([e1, e2, e3])


def _layout(rng, fov, pixel_size, cube_size, gap, hole_radius):
    """Lattice cubes near the field (nm, rad), which are present, the hole and the film edge."""
    pitch = cube_size + gap
    lattice_angle = np.deg2rad(4.0 + rng.uniform(-2.0, 2.0))
    c, s = np.cos(lattice_angle), np.sin(lattice_angle)
    half = 0.5 * np.hypot(*fov) / pitch + 2
    idx = np.arange(-int(half), int(half) + 1)
    ii, jj = np.meshgrid(idx, idx, indexing="ij")
    uy, ux = ii.ravel() * pitch, jj.ravel() * pitch
    cy = fov[0] / 2 + c * uy + s * ux
    cx = fov[1] / 2 - s * uy + c * ux
    n = cy.size
    cy = cy + rng.normal(0.0, 0.06 * gap + 0.02 * cube_size, n)
    cx = cx + rng.normal(0.0, 0.06 * gap + 0.02 * cube_size, n)
    sizes = cube_size * np.clip(1.0 + rng.normal(0.0, 0.04, n), 0.85, 1.15)
    angles = lattice_angle + np.deg2rad(rng.normal(0.0, 3.0, n))
    hole = np.array([0.58 * fov[0], 0.36 * fov[1]]) + rng.uniform(-0.03, 0.03, 2) * fov
    edge_point = np.array([0.5 * fov[0], 0.80 * fov[1]])
    edge_angle = np.deg2rad(12.0 + rng.uniform(-4.0, 4.0))
    edge_normal = np.array([np.sin(edge_angle), np.cos(edge_angle)])   # points into vacuum
    margin = 2 * pitch
    near = (cy > -margin) & (cy < fov[0] + margin) & (cx > -margin) & (cx < fov[1] + margin)
    present = ((np.hypot(cy - hole[0], cx - hole[1]) > hole_radius)
               & ((cy - edge_point[0]) * edge_normal[0] + (cx - edge_point[1]) * edge_normal[1]
                  < -0.5 * cube_size))[near]
    return (np.stack([cy[near], cx[near]], 1), sizes[near], angles[near], present, hole,
            edge_point, edge_normal)


def _geometry_fields(yy, xx, centers, sizes, angles, pixel_size, reach):
    """Coverage, nearest/second-nearest surface distances and corner fields (nm).

    Each cube is a rounded square (corner radius 1.5 nm) seen face-on. Work is done in a
    window of ``reach`` nm around each cube, so the cost grows with the number of cubes, not
    with (cubes x pixels).
    """
    ny, nx = yy.shape
    coverage = np.zeros((ny, nx))
    d1 = np.full((ny, nx), np.inf)
    d2 = np.full((ny, nx), np.inf)
    dcorner = np.full((ny, nx), np.inf)
    corner_field = np.zeros((ny, nx))
    thickness = np.zeros((ny, nx))
    owner = np.full((ny, nx), -1, dtype=np.int64)
    for i, ((cy, cx), a, th) in enumerate(zip(centers, sizes, angles, strict=True)):
        r = a / 2 + reach
        y0 = max(0, int((cy - r) / pixel_size))
        y1 = min(ny, int((cy + r) / pixel_size) + 2)
        x0 = max(0, int((cx - r) / pixel_size))
        x1 = min(nx, int((cx + r) / pixel_size) + 2)
        if y1 <= y0 or x1 <= x0:
            continue
        dy = yy[y0:y1, x0:x1] - cy
        dx = xx[y0:y1, x0:x1] - cx
        u = np.abs(np.cos(th) * dx + np.sin(th) * dy)
        v = np.abs(-np.sin(th) * dx + np.cos(th) * dy)
        h = a / 2 - _CORNER_RADIUS
        qu, qv = u - h, v - h
        sd = (np.hypot(np.maximum(qu, 0), np.maximum(qv, 0))
              + np.minimum(np.maximum(qu, qv), 0) - _CORNER_RADIUS)
        cov = np.clip(0.5 - sd / pixel_size, 0.0, 1.0)
        dist = np.maximum(sd, 0.0)
        hc = a / 2 - 0.3 * _CORNER_RADIUS
        dc = np.hypot(u - hc, v - hc)
        sl = (slice(y0, y1), slice(x0, x1))
        owner[sl] = np.where(cov > coverage[sl], i, owner[sl])
        coverage[sl] = np.maximum(coverage[sl], cov)
        thickness[sl] = np.maximum(thickness[sl], cov * a)
        old1 = d1[sl]
        d2[sl] = np.minimum(d2[sl], np.maximum(old1, dist))
        d1[sl] = np.minimum(old1, dist)
        dcorner[sl] = np.minimum(dcorner[sl], dc)
        corner_field[sl] += np.exp(-dc / _LAMBDA_CORNER)
    d1 = np.minimum(d1, reach)
    d2 = np.minimum(d2, 2 * reach)
    owner[coverage < 0.5] = -1
    return coverage, thickness, d1, d2, np.minimum(dcorner, reach), corner_field, owner


def nanocube_array(seed: int = 0, shape: tuple[int, int] = (80, 80), n_energy: int = 256, *,
                   energy_range: tuple[float, float] = (0.15, 1.35), pixel_size: float = 2.0,
                   cube_size: float = 15.0, gap: float = 4.0, hole_radius: float = 25.0,
                   peak_counts: float = 150.0, zlp_counts: float = 300.0,
                   zlp_tail: bool = True, keep_clean: bool = True) -> SpectrumImage:
    r"""Low-loss spectrum image of a self-assembled film of plasmonic (doped oxide) nanocubes.

    *Geometry.* Cubes of edge ``a ~ cube_size`` (4 % size dispersion, rounded corners) sit
    face-on on a square lattice of pitch ``a + gap``, rotated by a few degrees, with random
    displacements and per-cube twists of a few degrees (a disordered self-assembled monolayer).
    Cubes are missing inside a circular *hole* of radius ``hole_radius`` and beyond a straight
    *film edge* (vacuum on the right-hand side). The HAADF image is the projected thickness (a
    cube seen face-on has uniform thickness ``a``), blurred by the probe, plus detector noise,
    so it shows the cubes.

    *Plasmon response.* Three peaks, pseudo-Voigt line shapes (FWHM 0.12, 0.10, 0.08 eV; 20 %
    Lorentzian), whose weights ``W`` (counts at the peak) and energies ``E`` are smooth
    functions of the local geometry, so that the spectrum is predictable from a ~16x16-pixel
    HAADF neighbourhood. With ``m`` the particle coverage, ``d_1, d_2`` the distances (nm) to
    the nearest and second-nearest cube surface, ``g = d_1 + d_2`` the local gap width (the gap
    across a pixel between two cubes), ``d_c`` the distance to a cube corner and the *exposure*
    ``x = clip(1 - (G * m) / (G * m_intact), 0, 1)`` (``G`` a Gaussian smoothing of 10 nm,
    ``m_intact`` the coverage of the film with the hole and the region beyond the edge filled
    in, i.e. the fraction of nearby material that is missing; ``x = 0`` inside the intact film,
    ``x ~ 0.1-0.4`` on particles along the film edge or the hole rim, ``x -> 1`` in vacuum):

    - corner/edge mode (~0.5 eV): ``W_1 = c (0.35 + 0.65 x) sum_cubes exp(-d_c / 3 nm)``,
      ``E_1 = 0.52 - 0.07 x`` eV (stronger and red-shifted at the exposed corners along the
      film edge and the hole);
    - gap mode (~0.75 eV): ``W_2 = 0.8 c exp(-g / 5 nm) (1 - 0.6 m)``,
      ``E_2 = 0.80 - 0.10 exp(-g / 4 nm)`` eV (concentrated in the gaps, partly screened
      inside the cubes, stronger and red-shifted in narrow gaps where neighbours couple);
    - bulk mode (0.9 eV): ``W_3 = 0.6 c m (1 - 0.3 x)``, ``E_3 = 0.90`` eV, exactly zero where
      there is no particle.

    Optionally (``zlp_tail=True``) a zero-loss tail ``A (E / 0.2 eV)^{-r}`` is added with
    ``A = A_0 (1 + G_1nm * m)`` and ``r = 3.5 - 0.5 G_1nm * m``; remove it with
    ``si.remove_zlp(truth["zlp_fit_window"])``. The data are Poisson draws of the expected
    counts.

    Regions (``truth["region_labels"]``, names in ``truth["region_names"]``): a pixel on a
    particle (``m >= 0.5``) is ``edge`` if its cube has fewer than 8 neighbours within 1.6
    lattice pitches (cubes along the film edge or the hole rim), else ``corner`` if
    ``d_c < 3 nm``, else ``centre``; off particles it is ``gap`` if ``g <= 2.5 gap``, else
    ``hole`` inside the hole, else ``vacuum``.

    Parameters
    ----------
    seed : int
        Seed of the random generator (lattice disorder, hole position, edge tilt, noise).
    shape : (int, int)
        Image size ``(ny, nx)``; at fixed ``pixel_size`` a larger shape shows more cubes.
    n_energy : int
        Number of energy channels.
    energy_range : (float, float)
        First and last channel energy (eV); must cover the fit window and 0.4–1.0 eV.
    pixel_size : float
        Pixel size in nm (default 2 nm; a cube spans ~7.5 pixels).
    cube_size, gap : float
        Mean cube edge and gap between neighbouring cubes (nm).
    hole_radius : float
        Radius (nm) of the disc inside which cube centres are removed (0 for no hole).
    peak_counts : float
        Scale ``c`` of the peak weights (expected counts per channel).
    zlp_counts : float
        Zero-loss tail counts per channel at 0.2 eV off the particles.
    zlp_tail : bool
        Add the zero-loss-peak tail (True) or return the plasmon signal alone (False).
    keep_clean : bool
        Store the noise-free cube in ``truth["clean"]``.

    Returns
    -------
    SpectrumImage
        Counts, energy (eV), HAADF, pixel size (nm) and ``truth`` with keys:

        - ``clean`` (ny, nx, ne) expected counts;
        - ``maps`` = ``peak_weights`` (3, ny, nx) counts at each peak, ``spectra`` (3, ne)
          unit-height peaks at the nominal 0.5/0.75/0.9 eV, ``component_names``,
          ``peak_energies`` (3, ny, nx) eV, ``peak_fwhm`` (3,) eV;
        - ``region_labels`` (ny, nx) int and ``region_names``; ``particle_mask`` (ny, nx)
          bool; ``cube_index`` (ny, nx) int (-1 off particles); ``orientation`` (ny, nx)
          in-plane angle (rad) of the cube under each pixel, NaN off particles;
        - ``coverage``, ``exposure``, ``gap_width`` (nm), ``corner_distance`` (nm),
          ``thickness`` (nm), all (ny, nx);
        - ``cube_centers`` (n, 2) pixels (y, x), ``cube_sizes`` nm, ``cube_angles`` rad, for
          every cube within two lattice pitches of the field (some lie outside the image);
          ``cube_index`` refers to this list;
        - ``hole_center`` pixels (y, x), ``hole_radius`` nm, ``film_edge_point`` pixels
          (y, x), ``film_edge_normal`` (y, x) unit vector pointing into the vacuum;
        - ``zlp_fit_window`` (lo, hi) eV, ``zlp_amplitude``, ``zlp_exponent`` (ny, nx).
    """
    seed = check_seed(seed)
    ny, nx = check_shape(shape)
    ne = check_n_energy(n_energy)
    e_lo, e_hi = check_range(energy_range, "energy_range", low=1e-3)
    need_lo = ZLP_FIT_WINDOW[0] if zlp_tail else 0.4
    if e_lo > need_lo or e_hi < 1.0:
        raise ValueError(f"energy_range must start at or below {need_lo} eV and reach at "
                         f"least 1.0 eV to hold the three peaks, got {energy_range}")
    pixel_size = check_positive(pixel_size, "pixel_size")
    cube_size = check_positive(cube_size, "cube_size")
    gap = check_positive(gap, "gap")
    if hole_radius != 0:
        hole_radius = check_positive(hole_radius, "hole_radius")
    peak_counts = check_positive(peak_counts, "peak_counts")
    zlp_counts = check_positive(zlp_counts, "zlp_counts")
    if cube_size < 3 * pixel_size:
        raise ValueError(f"cube_size ({cube_size:g} nm) must span at least 3 pixels of "
                         f"{pixel_size:g} nm; lower pixel_size")

    rng = np.random.default_rng(seed)
    energy = energy_axis(e_lo, e_hi, ne)
    fov = np.array([ny * pixel_size, nx * pixel_size])
    yy, xx = pixel_grid(ny, nx, pixel_size)
    all_centers, all_sizes, all_angles, present, hole, edge_point, edge_normal = _layout(
        rng, fov, pixel_size, cube_size, gap, float(hole_radius))
    centers, sizes, angles = all_centers[present], all_sizes[present], all_angles[present]
    if len(centers) < 2:
        raise ValueError(f"hole_radius={hole_radius:g} nm leaves fewer than 2 cubes in the "
                         f"{fov[0]:g} x {fov[1]:g} nm field; use a smaller hole or a larger shape")
    reach = 2 * (cube_size + gap)
    coverage, thickness, d1, d2, dcorner, corner_field, owner = _geometry_fields(
        yy, xx, centers, sizes, angles, pixel_size, reach)

    # Exposure: the fraction of the nearby material (Gaussian weight) that is missing compared
    # with the intact film (the lattice with the hole and the region beyond the edge filled).
    missing = _geometry_fields(yy, xx, all_centers[~present], all_sizes[~present],
                               all_angles[~present], pixel_size, reach)[0]
    sig = _SIGMA_EXPOSURE / pixel_size
    local = gaussian_filter(coverage, sig, mode="nearest")
    intact = gaussian_filter(np.maximum(coverage, missing), sig, mode="nearest")
    exposure = np.clip(1.0 - local / np.maximum(intact, 1e-12), 0.0, 1.0)
    gap_width = d1 + d2
    weights = np.stack([
        peak_counts * (0.35 + 0.65 * exposure) * corner_field,
        0.8 * peak_counts * np.exp(-gap_width / _LAMBDA_GAP) * (1.0 - 0.6 * coverage),
        0.6 * peak_counts * coverage * (1.0 - 0.3 * exposure),
    ])
    energies = _peak_energies(exposure, gap_width)
    fwhm = np.array(PEAK_FWHM)

    particle = coverage >= 0.5
    # A cube of the intact film has 8 neighbours within 1.6 pitches; fewer = at an edge/hole.
    tree = cKDTree(centers)
    n_neighbours = tree.query_ball_point(centers, 1.6 * (cube_size + gap), return_length=True) - 1
    exposed_cube = np.append(n_neighbours < 8, False)            # index -1 -> not exposed
    in_hole = (np.hypot(yy - hole[0], xx - hole[1]) < hole_radius + cube_size / 2
               if hole_radius > 0 else np.zeros((ny, nx), dtype=bool))
    labels = np.zeros((ny, nx), dtype=np.int64)
    labels[particle] = 1
    labels[particle & (dcorner < 3.0)] = 2
    labels[particle & exposed_cube[owner]] = 4
    off = ~particle
    is_gap = off & (gap_width <= 2.5 * gap)
    labels[is_gap] = 3
    labels[off & ~is_gap & in_hole] = 5

    zlp_amp, zlp_exp, haadf = film_tail_and_haadf(coverage, thickness / cube_size, pixel_size,
                                                  zlp_counts, rng)

    w32 = weights.astype(np.float32)
    en32 = energies.astype(np.float32)
    e32 = energy.astype(np.float32)

    def expected(r0, r1):
        out = np.zeros((r1 - r0, nx, ne), dtype=np.float32)
        for p in range(3):
            center, width = en32[p, r0:r1, :, None], np.float32(fwhm[p])
            out += w32[p, r0:r1, :, None] * channel_average(
                lambda e, c=center, w=width: _pseudo_voigt(e.astype(np.float32), c, w),
                energy, float(fwhm[p]))
        if zlp_tail:
            out += power_law(e32, zlp_amp[r0:r1, :, None].astype(np.float32),
                             zlp_exp[r0:r1, :, None].astype(np.float32), np.float32(ZLP_E_REF))
        return out

    data = np.empty((ny, nx, ne), dtype=np.float32)
    clean = np.empty((ny, nx, ne), dtype=np.float32) if keep_clean else None
    poisson_counts(expected, ny, rng, data, clean)

    nominal = np.array([0.5, 0.75, 0.9])
    spectra = np.stack([channel_average(lambda e, p=p: _pseudo_voigt(e, nominal[p], fwhm[p]),
                                        energy, float(fwhm[p])) for p in range(3)])
    truth = {
        "maps": weights,
        "peak_weights": weights.copy(),
        "spectra": spectra,
        "component_names": list(PEAK_NAMES),
        "peak_energies": energies,
        "peak_fwhm": fwhm,
        "region_labels": labels,
        "region_names": list(REGION_NAMES),
        "particle_mask": particle,
        "cube_index": owner,
        "orientation": np.where(owner >= 0, np.append(angles, np.nan)[owner], np.nan),
        "coverage": coverage,
        "exposure": exposure,
        "gap_width": gap_width,
        "corner_distance": dcorner,
        "thickness": thickness,
        "cube_centers": centers / pixel_size - 0.5,
        "cube_sizes": sizes,
        "cube_angles": angles,
        "hole_center": hole / pixel_size - 0.5,
        "hole_radius": float(hole_radius),
        "film_edge_point": edge_point / pixel_size - 0.5,
        "film_edge_normal": edge_normal,
        "zlp_fit_window": ZLP_FIT_WINDOW,
        "zlp_amplitude": zlp_amp if zlp_tail else np.zeros((ny, nx)),
        "zlp_exponent": zlp_exp,
    }
    return low_loss_image(data, energy, haadf, pixel_size, truth, clean,
                          generator="nanocube_array", seed=seed, name="synthetic nanocube array")


def film_tail_and_haadf(coverage, relative_thickness, pixel_size, zlp_counts, rng):
    """Zero-loss tail amplitude and exponent maps and the HAADF image of a particle film.

    The tail is ``A = A_0 (1 + G_1nm * m)``, ``r = 3.5 - 0.5 G_1nm * m`` (``m`` the coverage);
    the HAADF is the relative projected thickness blurred by the probe, plus detector noise
    (one normal draw per pixel from ``rng``).
    """
    blurred = gaussian_filter(coverage, 1.0 / pixel_size, mode="nearest")
    zlp_amp = zlp_counts * (1.0 + blurred)
    zlp_exp = 3.5 - 0.5 * blurred
    probe = gaussian_filter(relative_thickness, 0.6, mode="nearest")
    noise = rng.normal(0.0, 0.02, size=coverage.shape)
    return zlp_amp, zlp_exp, (0.08 + probe + noise).astype(np.float32)


def low_loss_image(data, energy, haadf, pixel_size, truth, clean, *, generator, seed, name):
    """The SpectrumImage of a synthetic low-loss film (counts, nm), truth attached as is."""
    if clean is not None:
        truth["clean"] = clean
    si = SpectrumImage(data, energy, haadf, pixel_size=pixel_size, pixel_unit="nm",
                       metadata={"generator": f"eelswidgets.datasets.{generator}",
                                 "seed": seed, "signal": "EELS low loss", "units": "counts"},
                       name=name)
    si.truth = truth  # owned by this object; skips a deep copy of the (large) clean cube
    return si
