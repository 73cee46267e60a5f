"""Synthetic low-loss spectrum image of two plasmonic nanowires (Fabry–Pérot plasmon modes)."""

from __future__ import annotations

import numpy as np
from scipy.special import k0

from .._checks import check_int
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
from ._lineshapes import channel_average, power_law, voigt

__all__ = ["nanowires", "mode_energy"]

#: ``hbar * v_p`` (eV nm): phase velocity of the thin-wire surface plasmon times hbar.
HBAR_VP = 28.0
#: Instrumental energy resolution (Gaussian sigma, eV).
SIGMA_INSTRUMENT = 0.025
#: Default field of view (y, x) in nm; the pixel size follows from ``shape``.
FIELD_OF_VIEW = (192.0, 240.0)
#: Reference energy (eV) at which ``zlp_counts`` is given.
ZLP_E_REF = 0.2
#: Zero-loss tail fit window (eV): above the zero-loss peak, below the first mode.
ZLP_FIT_WINDOW = (0.2, 0.35)


def mode_energy(n, length, hbar_vp: float = HBAR_VP):
    """Energy (eV) of the longitudinal plasmon mode of order ``n`` on a wire of ``length`` nm.

    Fabry–Pérot condition for a guided plasmon with a linear dispersion ``E = hbar v_p k``:
    ``k_n L = n pi``, hence ``E_n = n pi hbar v_p / L``.
    """
    return np.asarray(n, dtype=np.float64) * np.pi * hbar_vp / np.asarray(length, np.float64)


def _linewidth(energy):
    """Lorentzian FWHM (eV) of a mode at ``energy``: damping grows with energy."""
    return 0.04 + 0.03 * np.asarray(energy, dtype=np.float64)


def _voigt_fwhm(fwhm_l, sigma_g):
    """Approximate FWHM of a Voigt profile (Olivero and Longbothum, 1977)."""
    fwhm_g = 2.0 * np.sqrt(2.0 * np.log(2.0)) * sigma_g
    return 0.5346 * fwhm_l + np.sqrt(0.2166 * fwhm_l ** 2 + fwhm_g ** 2)


def _wire_coordinates(yy, xx, center, angle, length):
    """Arc length ``s`` in [0, L] of the nearest axis point and distance ``rho`` to the axis."""
    uy, ux = np.sin(angle), np.cos(angle)
    dy, dx = yy - center[0], xx - center[1]
    t = dy * uy + dx * ux
    tc = np.clip(t, -length / 2, length / 2)
    rho = np.hypot(dy - tc * uy, dx - tc * ux)
    return tc + length / 2, rho


def nanowires(seed: int = 0, shape: tuple[int, int] = (64, 80), n_energy: int = 384, *,
              energy_range: tuple[float, float] = (0.1, 3.0), pixel_size: float | None = None,
              lengths: tuple[float, ...] = (100.0, 160.0), radius: float = 10.0,
              n_modes: int = 3, peak_counts: float = 300.0, zlp_counts: float = 2000.0,
              keep_clean: bool = True) -> SpectrumImage:
    r"""Low-loss spectrum image of plasmonic nanowires lying in vacuum.

    *Physics.* Each wire (length ``L``, radius ``R``) carries longitudinal surface-plasmon
    standing waves. With a linear guided-mode dispersion ``E = hbar v_p k`` and the Fabry–Pérot
    condition ``k_n L = n pi`` the mode energies are

    .. math:: E_n(L) = n \pi \hbar v_p / L, \qquad \hbar v_p = 28\ \mathrm{eV\,nm},

    so every mode falls in energy as the wire gets longer (100 nm: 0.88, 1.76, 2.64 eV;
    160 nm: 0.55, 1.10, 1.65 eV). The loss intensity of mode ``n`` at a probe position with
    arc length ``s`` (nearest point of the axis, clamped to ``[0, L]``) and distance ``rho``
    from the axis is

    .. math:: M_n(s, \rho) = \cos^2(n \pi s / L)\; K_0(q_n \max(\rho, R)) / K_0(q_n R),
              \qquad q_n = E_n / (\hbar v_p) = n \pi / L,

    i.e. a standing wave with ``n + 1`` antinodes along the wire (both tips and ``n - 1``
    interior antinodes at ``s = j L / n``), constant across the wire, and the quasi-static
    field of a guided mode outside it, a modified Bessel ``K_0`` profile whose decay constant
    grows with energy, so low-energy modes reach further into the vacuum.

    Each mode has a Voigt line shape (Lorentzian FWHM ``0.04 + 0.03 E`` eV for damping,
    Gaussian sigma 25 meV for the spectrometer) of unit height; every mode has the same peak
    count ``c`` (``peak_counts``) at an antinode on the wire surface. The
    zero-loss-peak tail is a power law ``A(x, y) (E / 0.2 eV)^{-r(x, y)}`` present at every
    pixel, stronger and slightly flatter on the wires (``A = A_0 (1 + 1.5 t / 2R)``,
    ``r = 3 - 0.4 t / 2R`` with ``t`` the projected thickness). The expected counts are

    .. math:: \lambda(x, y, E) = \sum_{w, n} c\, M_{w,n}(x, y)\, S_{w,n}(E)
              + A(x, y) (E / E_\mathrm{ref})^{-r(x, y)}

    and the data are Poisson draws of ``lambda``. The HAADF image is proportional to the
    projected thickness of the wires, cylinders with hemispherical tips:
    ``t = 2 sqrt(R^2 - rho^2)`` for ``rho < R``, plus a small Gaussian detector noise.

    The tail is removed with ``si.remove_zlp(truth["zlp_fit_window"])`` (0.2–0.35 eV, above the
    zero-loss peak and below the first mode); what remains is a sum of ``map x spectrum``
    components, one per (wire, mode), which NMF recovers.

    Parameters
    ----------
    seed : int
        Seed of the random generator (wire positions/angles jitter by a few nm/degrees, noise).
    shape : (int, int)
        Image size ``(ny, nx)`` in pixels (at least 16 each).
    n_energy : int
        Number of energy channels (at least 16).
    energy_range : (float, float)
        First and last channel energy in eV; must start above 0 and include the fit window.
    pixel_size : float, optional
        Pixel size in nm. Default: chosen so that the field of view covers at least
        192 x 240 nm (3 nm per pixel at the default shape).
    lengths : tuple of float
        Wire lengths in nm (one wire per entry, 1 to 3 wires; default 100 and 160 nm).
    radius : float
        Wire radius in nm.
    n_modes : int
        Number of longitudinal modes per wire (1 to 4).
    peak_counts : float
        Expected counts per channel at the peak of a mode at an antinode on the wire.
    zlp_counts : float
        Expected zero-loss-tail counts per channel at 0.2 eV in vacuum.
    keep_clean : bool
        Store the noise-free cube in ``truth["clean"]`` (set False for very large cubes).

    Returns
    -------
    SpectrumImage
        Counts (float32), energy in eV, HAADF image, pixel size in nm, and ``truth`` with keys:
        ``clean`` (ny, nx, ne) expected counts, ``spectra`` (k, ne) unit-height mode spectra,
        ``maps`` (k, ny, nx) mode abundance maps (counts at the spectrum peak),
        ``component_names``, ``mode_energies`` (n_wires, n_modes) eV, ``mode_orders`` (k,),
        ``mode_wire`` (k,), ``decay_q`` (k,) 1/nm, ``wire_lengths`` nm, ``wire_radius`` nm,
        ``wire_centers`` (n_wires, 2) in pixels (y, x), ``wire_angles`` radians (counter-clockwise
        from +x with y pointing down), ``wire_mask`` (ny, nx) bool, ``wire_index`` (ny, nx) int
        (-1 in vacuum), ``orientation`` (ny, nx) axis angle of the nearest wire,
        ``thickness`` (ny, nx) nm, ``zlp_amplitude`` and ``zlp_exponent`` (ny, nx),
        ``zlp_fit_window`` (lo, hi) eV, ``hbar_vp`` eV nm.

    Examples
    --------
    >>> import eelswidgets as ew
    >>> si = ew.datasets.nanowires(seed=0)
    >>> si.shape
    (64, 80, 384)
    >>> low = si.remove_zlp(si.truth["zlp_fit_window"]).clip(0)
    """
    seed = check_seed(seed)
    ny, nx = check_shape(shape)
    ne = check_n_energy(n_energy)
    e_lo, e_hi = check_range(energy_range, "energy_range", low=1e-3)
    if e_lo > ZLP_FIT_WINDOW[0] or e_hi < 1.0:
        raise ValueError(f"energy_range must start at or below {ZLP_FIT_WINDOW[0]} eV (the "
                         f"zero-loss tail fit window) and reach at least 1 eV, got {energy_range}")
    n_modes = check_int(n_modes, "n_modes", low=1, high=4)
    radius = check_positive(radius, "radius")
    peak_counts = check_positive(peak_counts, "peak_counts")
    zlp_counts = check_positive(zlp_counts, "zlp_counts")
    if isinstance(lengths, (str, bytes)) or not hasattr(lengths, "__len__") \
            or not 1 <= len(lengths) <= 3:
        raise TypeError(f"lengths must be a sequence of 1 to 3 wire lengths in nm, got {lengths!r}")
    lengths = tuple(check_positive(v, "lengths[i]") for v in lengths)
    if pixel_size is None:
        pixel_size = max(FIELD_OF_VIEW[0] / ny, FIELD_OF_VIEW[1] / nx)
    pixel_size = check_positive(pixel_size, "pixel_size")

    rng = np.random.default_rng(seed)
    energy = energy_axis(e_lo, e_hi, ne)
    fov_y, fov_x = ny * pixel_size, nx * pixel_size
    yy, xx = pixel_grid(ny, nx, pixel_size)

    # Wire layout: rows at fixed fractions of the field, jittered by the seed.
    n_wires = len(lengths)
    rows = {1: (0.5,), 2: (0.3, 0.72), 3: (0.2, 0.5, 0.8)}[n_wires]
    base_angles = (np.deg2rad(6.0), np.deg2rad(-10.0), np.deg2rad(3.0))
    centers = np.empty((n_wires, 2))
    angles = np.empty(n_wires)
    for w, length in enumerate(lengths):
        centers[w] = (rows[w] * fov_y + rng.uniform(-3, 3),
                      (0.52 if w % 2 == 0 else 0.45) * fov_x + rng.uniform(-3, 3))
        angles[w] = base_angles[w] + np.deg2rad(rng.uniform(-4, 4))
        for sgn in (-1, 1):
            ty = centers[w, 0] + sgn * (length / 2) * np.sin(angles[w])
            tx = centers[w, 1] + sgn * (length / 2) * np.cos(angles[w])
            margin = radius + pixel_size
            if not (margin <= ty <= fov_y - margin and margin <= tx <= fov_x - margin):
                raise ValueError(
                    f"a wire of length {length:g} nm does not fit in the {fov_y:.4g} x "
                    f"{fov_x:.4g} nm field of view; use shorter lengths, a larger pixel_size or "
                    "the default pixel_size")

    # Geometry and mode maps.
    modes = np.arange(1, n_modes + 1)
    e_modes = mode_energy(modes[None, :], np.array(lengths)[:, None])      # (n_wires, n_modes)
    k = n_wires * n_modes
    maps = np.empty((k, ny, nx))
    spectra = np.empty((k, ne))
    names, orders, owner, qs = [], [], [], []
    thickness = np.zeros((ny, nx))
    wire_index = np.full((ny, nx), -1, dtype=np.int64)
    nearest = np.full((ny, nx), np.inf)
    orientation = np.zeros((ny, nx))
    for w, length in enumerate(lengths):
        s, rho = _wire_coordinates(yy, xx, centers[w], angles[w], length)
        inside = rho < radius
        thickness = np.maximum(thickness, np.where(inside, 2 * np.sqrt(
            np.clip(radius ** 2 - rho ** 2, 0, None)), 0.0))
        wire_index[inside] = w
        closer = rho < nearest
        orientation[closer] = angles[w]
        nearest = np.minimum(nearest, rho)
        for j, n in enumerate(modes):
            c = w * n_modes + j
            en = float(e_modes[w, j])
            q = en / HBAR_VP
            radial = k0(q * np.maximum(rho, radius)) / k0(q * radius)
            maps[c] = peak_counts * np.cos(n * np.pi * s / length) ** 2 * radial
            spectra[c] = channel_average(
                lambda e, en=en: voigt(e, en, _linewidth(en), SIGMA_INSTRUMENT), energy,
                _voigt_fwhm(_linewidth(en), SIGMA_INSTRUMENT))
            names.append(f"wire {w + 1} ({length:g} nm), mode n={n} ({en:.2f} eV)")
            orders.append(int(n))
            owner.append(w)
            qs.append(q)

    rel_t = thickness / (2 * radius)
    zlp_amp = zlp_counts * (1.0 + 1.5 * rel_t)
    zlp_exp = 3.0 - 0.4 * rel_t
    haadf = (0.02 + rel_t + rng.normal(0.0, 0.01, size=(ny, nx))).astype(np.float32)

    maps32 = maps.astype(np.float32)
    spec32 = spectra.astype(np.float32)

    def expected(r0, r1):
        body = np.tensordot(maps32[:, r0:r1].transpose(1, 2, 0), spec32, axes=(2, 0))
        tail = power_law(energy[None, None, :], zlp_amp[r0:r1, :, None],
                         zlp_exp[r0:r1, :, None], ZLP_E_REF)
        return body + tail

    data = np.empty((ny, nx, ne), dtype=np.float32)
    clean = np.empty((ny, nx, ne), dtype=np.float32) if keep_clean else None
    poisson_counts(expected, ny, rng, data, clean)

    truth = {
        "spectra": spectra,
        "maps": maps,
        "component_names": names,
        "mode_energies": e_modes,
        "mode_orders": np.array(orders),
        "mode_wire": np.array(owner),
        "decay_q": np.array(qs),
        "wire_lengths": np.array(lengths),
        "wire_radius": radius,
        "wire_centers": centers / pixel_size - 0.5,
        "wire_angles": angles,
        "wire_mask": wire_index >= 0,
        "wire_index": wire_index,
        "orientation": orientation,
        "thickness": thickness,
        "zlp_amplitude": zlp_amp,
        "zlp_exponent": zlp_exp,
        "zlp_fit_window": ZLP_FIT_WINDOW,
        "hbar_vp": HBAR_VP,
    }
    if keep_clean:
        truth["clean"] = clean
    si = SpectrumImage(data, energy, haadf, pixel_size=pixel_size, pixel_unit="nm",
                       metadata={"generator": "eelswidgets.datasets.nanowires", "seed": seed,
                                 "signal": "EELS low loss", "units": "counts"},
                       name="synthetic nanowires")
    si.truth = truth  # owned by this object; skips a deep copy of the (large) clean cube
    return si
