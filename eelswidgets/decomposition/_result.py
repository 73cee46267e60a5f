"""The result of a decomposition (:class:`Decomposition`) and the order of its components."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["Decomposition", "ORDERS", "sort_order"]

ORDERS = ("energy", "weight", "none")


@dataclass(frozen=True)
class Decomposition:
    """Result of :func:`eelswidgets.decompose`.

    Attributes
    ----------
    maps : numpy.ndarray, shape (k, ny, nx)
        Abundance (NMF) or score (PCA) maps; NaN at invalid pixels. Always in memory (also for
        a lazy spectrum image: ``k`` maps are small).
    spectra : numpy.ndarray, shape (k, ne)
        Component spectra (NMF endmembers or PCA loadings).
    scree : numpy.ndarray, shape (min(30, n_pixels, ne),)
        PCA explained-variance ratios of the (valid pixels of the) cube, largest first: the
        eigenvalues of its covariance matrix over their sum (its trace), exact also for lazy
        data.
    energy : numpy.ndarray, shape (ne,)
        Energy axis of the spectra in eV.
    method : str
        ``"nmf"`` or ``"pca"``.
    reconstruction_error : float
        Frobenius norm of ``X - A S`` relative to that of ``X`` (computed chunk by chunk).
    estimator : object
        The fitted scikit-learn estimator (components in its own, unsorted order): ``NMF`` in
        memory, ``MiniBatchNMF`` for lazy data, a ``PCA`` holding the covariance eigenvectors.
    order : numpy.ndarray
        ``order[i]`` is the estimator's component index shown as component ``i``.
    poisson : bool
        Whether the factorisation ran on Poisson-weighted data (maps and spectra are scaled
        back either way).
    """

    maps: np.ndarray
    spectra: np.ndarray
    scree: np.ndarray
    energy: np.ndarray
    method: str
    reconstruction_error: float
    estimator: Any = field(repr=False)
    order: np.ndarray = field(repr=False)
    poisson: bool = False

    @property
    def n_components(self) -> int:
        """Number of components ``k``."""
        return self.spectra.shape[0]

    def peak_energies(self) -> np.ndarray:
        """Energy (eV) of the maximum of each component spectrum."""
        return self.energy[np.argmax(self.spectra, axis=1)]

    def significant_components(self, threshold: float = 0.01) -> int:
        """Number of PCA components whose explained-variance ratio exceeds ``threshold``."""
        return int(np.count_nonzero(self.scree > threshold))

    def reconstruct(self) -> np.ndarray:
        """The model cube ``A S`` as ``(ny, nx, ne)`` (NaN at invalid pixels)."""
        return np.einsum("kyx,ke->yxe", self.maps, self.spectra)

    def __repr__(self) -> str:
        k, ne = self.spectra.shape
        _, ny, nx = self.maps.shape
        peaks = ", ".join(f"{e:.3g}" for e in self.peak_energies())
        weighted = ", Poisson-weighted" if self.poisson else ""
        return (f"<Decomposition {self.method.upper()}{weighted}: {k} components on "
                f"{ny} x {nx} px, {ne} channels; peaks at [{peaks}] eV; "
                f"relative error {self.reconstruction_error:.3g}>")


def sort_order(spectra: np.ndarray, maps: np.ndarray, order: str) -> np.ndarray:
    """Indices that put the components in the documented ``order``.

    Parameters
    ----------
    spectra : numpy.ndarray, shape (k, ne)
    maps : numpy.ndarray, shape (k, ny, nx)
        NaN at invalid pixels.
    order : {"energy", "weight", "none"}
        By the channel of the spectrum maximum (ties broken by the weight), by the weight
        ``sum |map| * sum |spectrum|`` (descending), or unchanged.
    """
    k = spectra.shape[0]
    if order == "none":
        return np.arange(k)
    weight = np.nansum(np.abs(maps.reshape(k, -1)), axis=1, dtype=np.float64) \
        * np.abs(spectra).sum(1)
    if order == "energy":
        return np.lexsort((-weight, np.argmax(spectra, axis=1)))
    return np.argsort(-weight, kind="stable")
