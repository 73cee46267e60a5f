"""Synthetic atomically resolved core-loss spectrum image of a SrTiO3/LaGaO3 interface."""

from __future__ import annotations

import numbers

import numpy as np
from scipy.special import ndtr

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
from ._lineshapes import channel_average, edge_step, power_law, voigt

__all__ = ["perovskite_interface", "EDGE_ONSETS", "BACKGROUND_WINDOWS", "ATOMIC_NUMBERS"]

#: Onset energies (eV) of the edges in the spectrum.
EDGE_ONSETS = {"Ti L2,3": 456.0, "O K": 532.0, "La M4,5": 832.0}
#: Pre-edge windows (eV) for the power-law background fit of each edge.
BACKGROUND_WINDOWS = {"Ti L2,3": (420.0, 452.0), "O K": (490.0, 528.0),
                      "La M4,5": (780.0, 828.0)}
#: Atomic numbers used for the HAADF Z-contrast.
ATOMIC_NUMBERS = {"Sr": 38, "La": 57, "Ti": 22, "Ga": 31, "O": 8}
#: Instrumental energy resolution (Gaussian sigma, eV).
SIGMA_INSTRUMENT = 0.5
#: Reference energy (eV) of the background amplitude.
BG_E_REF = 400.0
# Lorentzian FWHM (eV) of white lines / near-edge peaks.
_COMPONENTS = ("Ti L2,3", "O K (SrTiO3)", "O K (LaGaO3)", "La M4,5")
# Probe size and edge-dependent delocalisation (nm, Gaussian sigma) of the column images.
_SIGMA_PROBE = 0.04
_DELOCALISATION = {"Ti L2,3": 0.06, "O K (SrTiO3)": 0.05, "O K (LaGaO3)": 0.05,
                   "La M4,5": 0.035}
_SIGMA_HAADF = 0.045
_FLOOR = 0.1          # dechannelled (non-local) fraction of each edge map on its own side


def _edge_spectra(energy):
    """Unit-height spectra ``(4, ne)`` of the components (step + white lines / ELNES)."""
    e = energy
    s = SIGMA_INSTRUMENT

    def peaks(items):
        return sum(h * voigt(e, c, w, s) for c, w, h in items)

    ti = (0.35 * (2 / 3 * edge_step(e, 456.5, s, 1.5) + 1 / 3 * edge_step(e, 462.0, s, 1.5))
          + peaks([(457.9, 0.6, 0.65), (460.1, 1.4, 0.9), (463.3, 1.6, 0.55), (465.6, 2.0, 0.7)]))
    # O K: in SrTiO3 the O 2p - Ti 3d (t2g, eg) hybridisation gives a sharp pre-peak doublet;
    # Ga3+ (3d10) has no empty d states, so LaGaO3 starts with the broader La 5d peak.
    o_sto = (0.35 * edge_step(e, 532.0, s, 1.2)
             + peaks([(531.6, 0.8, 0.9), (534.0, 1.2, 0.75), (538.8, 3.0, 0.35),
                      (545.0, 5.0, 0.45)]))
    o_lgo = (0.35 * edge_step(e, 533.0, s, 1.2)
             + peaks([(536.5, 2.5, 0.9), (542.0, 4.0, 0.55), (549.0, 6.0, 0.4)]))
    la = (0.12 * edge_step(e, 832.0, s, 1.0)
          + peaks([(833.2, 1.2, 0.8), (850.0, 1.5, 1.0)]))
    spectra = np.stack([ti, o_sto, o_lgo, la])
    return spectra / spectra.max(axis=1, keepdims=True)


def _lattice(rng, fov, lattice, interface_fraction, intermixing, jitter):
    """Projected [001] perovskite columns: positions (nm), species, film-cation fraction."""
    a = lattice
    ny_cells = int(np.ceil(fov[0] / a)) + 2
    nx_cells = int(np.ceil(fov[1] / a)) + 2
    y0, x0 = 0.5 * a * 0.6, 0.5 * a * 0.4     # first A column a little off the corner
    # Interface: the first LaO plane is the A row k; TiO2 planes lie below it (larger y).
    k = round((interface_fraction * fov[0] - y0) / a - 0.25)
    y_interface = y0 + (k + 0.25) * a         # between the first LaO plane and the TiO2 below
    pos, species, frac = [], [], []
    for i in range(-1, ny_cells):
        for j in range(-1, nx_cells):
            ya, xa = y0 + i * a, x0 + j * a
            film_a = i <= k
            film_b = i < k                     # B row at i + 1/2
            sites = [((ya, xa), "La" if film_a else "Sr", float(film_a)),
                     ((ya + a / 2, xa + a / 2), "Ga" if film_b else "Ti", float(film_b)),
                     ((ya, xa + a / 2), "O", float(film_a)),
                     ((ya + a / 2, xa), "O", float(film_b))]
            for (py, px), sp, f in sites:
                if sp != "O" and intermixing > 0:
                    row = i if sp in ("La", "Sr") else i + 0.5
                    if abs(row - (k + 0.25)) < 0.8:   # 2 A and 2 B planes at the interface
                        mix = float(np.clip(intermixing * rng.uniform(0.5, 1.5), 0, 0.5))
                        f = 1.0 - mix if f else mix
                pos.append((py, px))
                species.append(sp)
                frac.append(f)
    pos = np.asarray(pos) + rng.normal(0.0, jitter, (len(pos), 2))
    keep = ((pos[:, 0] > -0.3) & (pos[:, 0] < fov[0] + 0.3)
            & (pos[:, 1] > -0.3) & (pos[:, 1] < fov[1] + 0.3))
    return pos[keep], [s for s, kp in zip(species, keep, strict=True) if kp], \
        np.asarray(frac)[keep], y_interface


def _splat(shape, pixel_size, positions, weights, sigma):
    """Sum of unit-height Gaussians of width ``sigma`` (nm) at ``positions`` (nm)."""
    ny, nx = shape
    out = np.zeros(shape)
    r = 4.0 * sigma
    yc = (np.arange(ny) + 0.5) * pixel_size
    xc = (np.arange(nx) + 0.5) * pixel_size
    for (py, px), w in zip(positions, weights, strict=True):
        if w == 0:
            continue
        y0, y1 = np.searchsorted(yc, py - r), np.searchsorted(yc, py + r)
        x0, x1 = np.searchsorted(xc, px - r), np.searchsorted(xc, px + r)
        if y1 <= y0 or x1 <= x0:
            continue
        gy = np.exp(-0.5 * ((yc[y0:y1] - py) / sigma) ** 2)
        gx = np.exp(-0.5 * ((xc[x0:x1] - px) / sigma) ** 2)
        out[y0:y1, x0:x1] += w * gy[:, None] * gx[None, :]
    return out


def perovskite_interface(seed: int = 0, shape: tuple[int, int] = (64, 64), n_energy: int = 512,
                         *, energy_range: tuple[float, float] = (400.0, 911.0),
                         pixel_size: float = 0.05, lattice: float = 0.3905,
                         interface_fraction: float = 0.5, intermixing: float = 0.0,
                         background_counts: float = 2000.0, edge_counts: float = 1500.0,
                         keep_clean: bool = True) -> SpectrumImage:
    r"""Atomically resolved core-loss spectrum image across a SrTiO3/LaGaO3 interface.

    *Structure.* Perovskite ABO3 seen along [001]: A columns (Sr, La) at ``(i, j) a``, B
    columns (Ti, Ga; each also holds one O per cell) at ``(i + 1/2, j + 1/2) a`` and pure O
    columns at ``(i, j + 1/2) a`` and ``(i + 1/2, j) a``, with ``a = 0.3905 nm`` and a small
    random displacement (5 pm) per column. A TiO2-terminated SrTiO3 substrate fills the lower
    part of the image (larger row index); the LaGaO3 film starts with a LaO plane.
    ``intermixing`` exchanges that fraction (on average, per column) of cations between the two
    A-site planes (LaO/SrO) and between the two B-site planes (GaO2/TiO2) nearest the
    interface.

    HAADF: Z-contrast, every column a Gaussian (sigma 45 pm) of height ``sum Z^1.7`` over its
    atoms per cell (La 57 > Sr 38 > Ga 31 > Ti 22 > O 8), plus a small offset and noise.

    *Spectrum.* Energy loss 400–911 eV (1 eV per channel by default). The expected counts are

    .. math:: \lambda(x, y, E) = A(x, y) (E / 400\ \mathrm{eV})^{-r(x, y)}
              + \sum_c M_c(x, y) S_c(E)

    with a power-law background whose amplitude and exponent vary across the image (heavier,
    thicker film: ``A`` is 30 % larger and ``r`` 0.3 larger on the LaGaO3 side; a thickness
    wedge adds 20 % to ``A`` from left to right and ``r`` grows by 0.1 from top to bottom).
    Each edge spectrum ``S_c`` (unit height) is a resolution-broadened onset step times a
    hydrogenic-like decay, ``Phi((E - E_0) / sigma) (E / E_0)^{-s}``, plus white lines /
    near-edge peaks (Voigt, Gaussian sigma 0.5 eV):

    - Ti L2,3 (onset 456 eV): L3 and L2 steps (2:1) and the crystal-field split white lines
      at 457.9/460.1 (L3) and 463.3/465.6 eV (L2), on the Ti columns (SrTiO3 side);
    - O K (onset 532 eV): two near-edge structures, on the O-containing columns (O and B
      columns) of each side: SrTiO3 with the O 2p - Ti 3d pre-peak doublet (531.6/534 eV),
      LaGaO3 (Ga 3d10, no such states) starting later with the La 5d peak at 536.5 eV;
    - La M4,5 (onset 832 eV): M5 and M4 white lines at 833.2 and 850 eV, on the La columns.

    Sr and Ga have no edge in this range. Each edge map ``M_c`` is column resolved: a
    Gaussian per column of width ``sqrt(sigma_probe^2 + sigma_deloc^2)`` (40 pm probe;
    delocalisation 60, 50 and 35 pm for Ti, O and La) weighted by the column's occupancy and a
    +-5 % channelling factor, plus a 10 % non-local (dechannelled) floor on its own side of the
    interface. The data are Poisson draws of ``lambda``. Remove the background of an edge with
    ``si.remove_background(truth["background_windows"][name])``.

    Parameters
    ----------
    seed : int
        Seed of the random generator (column displacements, intensities, noise).
    shape : (int, int)
        Image size ``(ny, nx)``; at fixed ``pixel_size`` a larger shape shows more unit cells.
    n_energy : int
        Number of channels over ``energy_range``.
    energy_range : (float, float)
        First and last channel energy (eV); must cover 420–860 eV.
    pixel_size : float
        Pixel size in nm (default 0.05 nm: ~7.8 pixels per unit cell).
    lattice : float
        Pseudo-cubic lattice parameter (nm) of both materials.
    interface_fraction : float
        Position of the interface as a fraction of the image height (0.2–0.8).
    intermixing : float
        Mean fraction of cations exchanged between the A-site planes and between the B-site
        planes next to the interface (0 to 0.5).
    background_counts : float
        Background counts per channel at 400 eV (thin SrTiO3 side).
    edge_counts : float
        Counts per channel at the maximum of an edge spectrum on top of a column.
    keep_clean : bool
        Store the noise-free cube in ``truth["clean"]``.

    Returns
    -------
    SpectrumImage
        Counts, energy (eV), HAADF, pixel size (nm) and ``truth`` with keys:

        - ``clean`` (ny, nx, ne) expected counts; ``background_amplitude`` and
          ``background_exponent`` (ny, nx) of the power-law background;
        - ``spectra`` (4, ne) unit-height edge spectra, ``maps`` (4, ny, nx) counts,
          ``component_names`` (Ti L2,3; O K (SrTiO3); O K (LaGaO3); La M4,5);
        - ``edge_onsets`` dict name -> eV, ``background_windows`` dict name -> (lo, hi) eV,
          ``edge_maps`` dict name -> (ny, nx) map (the two O K maps summed);
        - ``column_positions`` (n, 2) pixels (y, x) of the columns inside the image,
          ``column_species`` list of str (nominal: Sr, La, Ti, Ga, O),
          ``column_film_fraction`` (n,) occupancy of the film cation (La, Ga; for O: 1 on the
          film side);
        - ``interface_row`` (float pixel row of the interface; larger rows are SrTiO3),
          ``film_mask`` (ny, nx) bool, ``lattice`` nm.
    """
    seed = check_seed(seed)
    ny, nx = check_shape(shape)
    ne = check_n_energy(n_energy)
    e_lo, e_hi = check_range(energy_range, "energy_range", low=1.0)
    if e_lo > BACKGROUND_WINDOWS["Ti L2,3"][0] or e_hi < 860.0:
        raise ValueError(f"energy_range must cover {BACKGROUND_WINDOWS['Ti L2,3'][0]:g}–860 eV "
                         f"(Ti L2,3 pre-edge to La M4), got {energy_range}")
    pixel_size = check_positive(pixel_size, "pixel_size")
    lattice = check_positive(lattice, "lattice")
    if lattice < 4 * pixel_size:
        raise ValueError(f"lattice ({lattice:g} nm) must span at least 4 pixels of "
                         f"{pixel_size:g} nm to resolve the columns; lower pixel_size")
    interface_fraction = float(check_positive(interface_fraction, "interface_fraction"))
    if not 0.2 <= interface_fraction <= 0.8:
        raise ValueError(f"interface_fraction must be between 0.2 and 0.8, got "
                         f"{interface_fraction}")
    if isinstance(intermixing, bool) or not isinstance(intermixing, numbers.Real):
        raise TypeError(f"intermixing must be a number between 0 and 0.5, got {intermixing!r}")
    if not 0.0 <= float(intermixing) <= 0.5:
        raise ValueError(f"intermixing must be between 0 and 0.5, got {intermixing!r}")
    intermixing = float(intermixing)
    background_counts = check_positive(background_counts, "background_counts")
    edge_counts = check_positive(edge_counts, "edge_counts")

    rng = np.random.default_rng(seed)
    energy = energy_axis(e_lo, e_hi, ne)
    fov = (ny * pixel_size, nx * pixel_size)
    if fov[0] < 2 * lattice or fov[1] < 2 * lattice:
        raise ValueError(f"the field of view ({fov[0]:.3g} x {fov[1]:.3g} nm) must hold at "
                         "least two unit cells each way; increase shape or pixel_size")
    pos, species, frac, y_int = _lattice(rng, fov, lattice, interface_fraction, intermixing,
                                         jitter=0.005)
    species_arr = np.array(species)
    channelling = rng.uniform(0.95, 1.05, len(species))
    yy, xx = pixel_grid(ny, nx, pixel_size)
    film = ndtr((y_int - yy) / 0.05)             # smooth side indicator, 1 in the film

    # HAADF: sum of Z^1.7 per column; cation columns mix the two species by occupancy and
    # B columns also hold one O per cell.
    z17 = {k: v ** 1.7 for k, v in ATOMIC_NUMBERS.items()}
    is_a = np.isin(species_arr, ["La", "Sr"])
    is_b = np.isin(species_arr, ["Ti", "Ga"])
    mix_a = z17["Sr"] + frac * (z17["La"] - z17["Sr"])
    mix_b = z17["Ti"] + frac * (z17["Ga"] - z17["Ti"]) + z17["O"]
    zpow = np.where(is_a, mix_a, np.where(is_b, mix_b, z17["O"]))
    haadf = _splat((ny, nx), pixel_size, pos, zpow * channelling, _SIGMA_HAADF)
    haadf = haadf / z17["La"] + 0.03
    haadf = (haadf + rng.normal(0.0, 0.01, size=(ny, nx))).astype(np.float32)

    # Column-resolved edge maps.
    has_o = (species_arr == "O") | is_b
    film_o = frac > 0.5
    weights = {
        "Ti L2,3": np.where(is_b, 1.0 - frac, 0.0),
        "O K (SrTiO3)": np.where(has_o & ~film_o, 1.0, 0.0),
        "O K (LaGaO3)": np.where(has_o & film_o, 1.0, 0.0),
        "La M4,5": np.where(is_a, frac, 0.0),
    }
    floors = {"Ti L2,3": 1 - film, "O K (SrTiO3)": 1 - film, "O K (LaGaO3)": film,
              "La M4,5": film}
    maps = np.empty((4, ny, nx))
    for c, name in enumerate(_COMPONENTS):
        sigma = float(np.hypot(_SIGMA_PROBE, _DELOCALISATION[name]))
        m = _splat((ny, nx), pixel_size, pos, weights[name] * channelling, sigma)
        maps[c] = edge_counts * (m + _FLOOR * floors[name])
    spectra = channel_average(_edge_spectra, energy, 1.2)   # narrowest white line ~1.2 eV
    spectra /= spectra.max(axis=1, keepdims=True)

    wedge = xx / fov[1]
    bg_amp = background_counts * (1.0 + 0.3 * film + 0.2 * wedge)
    bg_exp = 3.0 + 0.3 * film + 0.1 * (yy / fov[0])
    maps32 = maps.astype(np.float32)
    spec32 = spectra.astype(np.float32)

    def expected(r0, r1):
        body = np.tensordot(maps32[:, r0:r1].transpose(1, 2, 0), spec32, axes=(2, 0))
        return body + power_law(energy[None, None, :], bg_amp[r0:r1, :, None],
                                bg_exp[r0:r1, :, None], BG_E_REF)

    data = np.empty((ny, nx, ne), dtype=np.float32)
    clean = np.empty((ny, nx, ne), dtype=np.float32) if keep_clean else None
    poisson_counts(expected, ny, rng, data, clean)

    col_px = pos / pixel_size - 0.5
    inside = ((col_px[:, 0] >= -0.5) & (col_px[:, 0] < ny - 0.5)
              & (col_px[:, 1] >= -0.5) & (col_px[:, 1] < nx - 0.5))
    truth = {
        "spectra": spectra,
        "maps": maps,
        "component_names": list(_COMPONENTS),
        "edge_onsets": dict(EDGE_ONSETS),
        "background_windows": {k: tuple(v) for k, v in BACKGROUND_WINDOWS.items()},
        "edge_maps": {"Ti L2,3": maps[0], "O K": maps[1] + maps[2], "La M4,5": maps[3]},
        "column_positions": col_px[inside],
        "column_species": [str(s) for s, k in zip(species, inside, strict=True) if k],
        "column_film_fraction": frac[inside],
        "interface_row": float(y_int / pixel_size - 0.5),
        "film_mask": film > 0.5,
        "background_amplitude": bg_amp,
        "background_exponent": bg_exp,
        "lattice": lattice,
    }
    if keep_clean:
        truth["clean"] = clean
    si = SpectrumImage(data, energy, haadf, pixel_size=pixel_size, pixel_unit="nm",
                       metadata={"generator": "eelswidgets.datasets.perovskite_interface",
                                 "seed": seed, "signal": "EELS core loss", "units": "counts"},
                       name="synthetic SrTiO3/LaGaO3 interface")
    si.truth = truth  # owned by this object; skips a deep copy of the (large) clean cube
    return si
