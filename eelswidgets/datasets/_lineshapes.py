"""Spectral line shapes used by the synthetic datasets (plain functions of an energy axis).

All functions take energies in eV and return float64 arrays broadcast against ``energy``.

- ``voigt``: a Lorentzian of full width ``fwhm_l`` (the lifetime/damping width of a plasmon or
  a core hole) convolved with a Gaussian of standard deviation ``sigma_g`` (the instrumental
  energy resolution). Normalised to a peak height of 1.
- ``pseudo_voigt``: ``eta L + (1 - eta) G``, a Lorentzian and a Gaussian of one common FWHM
  (peak height 1), the cheap plasmon line shape of the nanocube films.
- ``gaussian``: ``exp(-(E - E0)^2 / (2 sigma^2))`` (peak height 1).
- ``edge_step``: an ionisation edge, ``Phi((E - E0) / sigma) * (E / E0)^(-s)``: a step at the
  onset ``E0`` broadened by the energy resolution (``Phi`` is the standard normal cumulative
  distribution, so there is no intensity far below the onset) times the hydrogenic-like
  power-law decay of the continuum above it.
- ``power_law``: ``A * (E / E_ref)^(-r)``, the usual EELS background / zero-loss tail model.

``channel_average`` turns a point-sampled line shape into what a detector channel records (its
mean over the channel width) when the channels are coarse compared with the narrowest feature,
so that small ``n_energy`` values do not miss narrow peaks.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr, voigt_profile

__all__ = ["voigt", "pseudo_voigt", "gaussian", "edge_step", "power_law", "channel_average"]


def voigt(energy, center, fwhm_l, sigma_g):
    """Voigt peak of unit height at ``center`` (Lorentzian FWHM ``fwhm_l``, Gaussian sigma)."""
    energy = np.asarray(energy, dtype=np.float64)
    gamma = 0.5 * np.asarray(fwhm_l, dtype=np.float64)
    sigma = np.asarray(sigma_g, dtype=np.float64)
    peak = voigt_profile(0.0, sigma, gamma)
    return voigt_profile(energy - center, sigma, gamma) / peak


def pseudo_voigt(energy, center, fwhm, eta):
    """Unit-height pseudo-Voigt ``eta L + (1 - eta) G`` (Lorentzian fraction ``eta``, one FWHM).

    Computed in the dtype of its arguments (float32 in, float32 out).
    """
    x = (energy - center) / (0.5 * fwhm)
    return eta / (1.0 + x * x) + (1.0 - eta) * np.exp(-np.log(2.0) * x * x)


def gaussian(energy, center, sigma):
    """Gaussian of unit height at ``center`` with standard deviation ``sigma``."""
    energy = np.asarray(energy, dtype=np.float64)
    return np.exp(-0.5 * ((energy - center) / sigma) ** 2)


def edge_step(energy, onset, sigma, exponent):
    """Resolution-broadened ionisation edge: ``Phi((E-E0)/sigma) * (E/E0)^-s`` (unit jump)."""
    energy = np.asarray(energy, dtype=np.float64)
    return ndtr((energy - onset) / sigma) * np.power(energy / onset, -exponent)


def power_law(energy, amplitude, exponent, e_ref):
    """Power law ``A (E / E_ref)^-r``; ``amplitude``/``exponent`` may be arrays (broadcast)."""
    energy = np.asarray(energy, dtype=np.float64)
    return amplitude * np.exp(-exponent * np.log(energy / e_ref))


def channel_average(func, energy, min_fwhm: float):
    """Mean of ``func`` over each channel of a uniform ``energy`` axis.

    ``func(E)`` is evaluated at ``n = ceil(3 * dispersion / min_fwhm)`` points spread evenly
    across every channel and averaged; for fine axes (``n == 1``) this is ``func(energy)``.
    """
    energy = np.asarray(energy, dtype=np.float64)
    if energy.size < 2:
        return func(energy)
    width = (energy[-1] - energy[0]) / (energy.size - 1)
    n = int(np.ceil(3.0 * width / min_fwhm))
    if n <= 1:
        return func(energy)
    offsets = ((np.arange(n) + 0.5) / n - 0.5) * width
    total = func(energy + offsets[0])
    for off in offsets[1:]:
        total = total + func(energy + off)
    return total / n
