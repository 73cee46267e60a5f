"""Linear unmixing of a spectrum image: NMF and PCA on scikit-learn.

The cube ``X`` (pixels × channels) is factorised as ``X ≈ A S`` with abundance maps ``A``
(pixels × k) and component spectra ``S`` (k × channels). NMF constrains both to be
non-negative (physically meaningful for counts after the zero-loss tail or background has
been removed); PCA finds orthogonal directions of maximal variance and gives the scree plot
used to choose ``k``.

With ``poisson=True`` the cube is first weighted for Poisson (counting) noise as Keenan and
Kotula (2004) proposed and HyperSpy's ``normalize_poissonian_noise`` does: ``X / sqrt(a b^T)``
with ``a`` the mean image (mean of each pixel's spectrum) and ``b`` the mean spectrum, so that
every value has about the same noise variance and a weak component is not drowned by the
noise of the bright pixels and channels. The factors are scaled back afterwards
(``A <- sqrt(a) A``, ``S <- S sqrt(b)``), so maps and spectra keep their usual meaning.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from sklearn.decomposition import NMF, PCA

from ._checks import check_choice, check_int
from .spectrum_image import SpectrumImage

__all__ = ["Decomposition", "decompose", "METHODS", "ORDERS"]

METHODS = ("nmf", "pca")
ORDERS = ("energy", "weight", "none")
SCREE_COMPONENTS = 30


@dataclass(frozen=True)
class Decomposition:
    """Result of :func:`decompose`.

    Attributes
    ----------
    maps : numpy.ndarray, shape (k, ny, nx)
        Abundance (NMF) or score (PCA) maps; NaN at invalid pixels.
    spectra : numpy.ndarray, shape (k, ne)
        Component spectra (NMF endmembers or PCA loadings).
    scree : numpy.ndarray, shape (min(30, n_pixels, ne),)
        PCA explained-variance ratios of the (valid pixels of the) cube, largest first.
    energy : numpy.ndarray, shape (ne,)
        Energy axis of the spectra in eV.
    method : str
        ``"nmf"`` or ``"pca"``.
    reconstruction_error : float
        Frobenius norm of ``X - A S`` relative to that of ``X``.
    estimator : object
        The fitted scikit-learn estimator (components in its own, unsorted order).
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


def _sort_order(spectra: np.ndarray, maps_flat: np.ndarray, order: str) -> np.ndarray:
    k = spectra.shape[0]
    if order == "none":
        return np.arange(k)
    if order == "energy":
        # by the channel of the spectrum maximum; ties broken by the weight
        weight = np.abs(maps_flat).sum(0) * np.abs(spectra).sum(1)
        return np.lexsort((-weight, np.argmax(spectra, axis=1)))
    weight = np.abs(maps_flat).sum(0) * np.abs(spectra).sum(1)
    return np.argsort(-weight, kind="stable")


def _non_negative(X: np.ndarray, allow_negative: str, what: str) -> np.ndarray:
    if not np.any(X < 0):
        return X
    if allow_negative == "error":
        frac = float(np.mean(X < 0))
        raise ValueError(
            f"{what} needs non-negative data but {frac:.1%} of the values are negative "
            f"(min {X.min():.3g}); remove the zero-loss tail or background first "
            "(si.remove_zlp(...) / si.remove_background(...)) and then si.clip(0), "
            "or pass allow_negative='clip'")
    return np.clip(X, 0, None)


def _poisson_weights(X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``sqrt`` of the mean image and of the mean spectrum; 1 where they are 0."""
    a, b = X.mean(axis=1), X.mean(axis=0)
    return (np.sqrt(np.where(a > 0, a, 1.0)), np.sqrt(np.where(b > 0, b, 1.0)))


def decompose(si: SpectrumImage, n_components: int, method: str = "nmf", *,
              random_state: int | None = 0, order: str = "energy", max_iter: int = 1000,
              allow_negative: str = "error", poisson: bool = False,
              **estimator_kwargs) -> Decomposition:
    """Factorise a spectrum image into component spectra and abundance maps.

    Parameters
    ----------
    si : SpectrumImage
        The data; only pixels where ``si.valid`` is True enter the fit.
    n_components : int
        Number of components ``k``, ``1 <= k <= min(n_valid_pixels, ne)``.
    method : {"nmf", "pca"}
        Non-negative matrix factorisation (scikit-learn ``NMF``, ``init="nndsvda"``) or PCA.
    random_state : int or None
        Seed of the estimator (NMF initialisation, randomised PCA).
    order : {"energy", "weight", "none"}
        Order of the components: ``"energy"`` by the energy of the spectrum maximum (ascending,
        stable for the same data), ``"weight"`` by total contribution (descending), or the
        estimator's own order.
    max_iter : int
        Maximum NMF iterations.
    allow_negative : {"error", "clip"}
        NMF and the Poisson weighting need non-negative data. ``"error"`` (default) raises a
        ``ValueError`` naming the fix; ``"clip"`` sets negative values (noise after background
        subtraction) to zero.
    poisson : bool
        Weight for Poisson noise before the factorisation and undo it after (see the module
        docstring); recommended for counting data (raw EELS counts, before normalisation).
        The scree then holds the weighted data's explained-variance ratios. Pixels or
        channels with no counts at all keep weight 1.
    **estimator_kwargs
        Passed to the scikit-learn estimator (e.g. ``alpha_W``, ``l1_ratio`` for NMF).

    Returns
    -------
    Decomposition

    Examples
    --------
    >>> dec = ew.decompose(si.remove_zlp(), n_components=4)   # doctest: +SKIP
    >>> dec.maps.shape, dec.spectra.shape, dec.scree[:3]      # doctest: +SKIP
    """
    if not isinstance(si, SpectrumImage):
        raise TypeError(f"decompose needs a SpectrumImage, got {type(si).__name__}; "
                        "wrap arrays with ew.SpectrumImage(cube, energy=...)")
    method = check_choice(str(method).lower(), "method", METHODS)
    check_choice(order, "order", ORDERS)
    check_choice(allow_negative, "allow_negative", ("error", "clip"))
    if not isinstance(poisson, (bool, np.bool_)):
        raise TypeError(f"poisson must be True or False, got {poisson!r}")
    X = si.data[si.valid].astype(np.float64)          # (n_valid, ne), a copy
    n_pix, ne = X.shape
    k = check_int(n_components, "n_components", low=1, high=min(n_pix, ne))
    if method == "nmf" or poisson:
        X = _non_negative(X, allow_negative, "Poisson weighting" if poisson else "NMF")
    wa, wb = _poisson_weights(X) if poisson else (np.ones(n_pix), np.ones(ne))
    Xw = X / wa[:, None] / wb[None, :]

    n_scree = min(SCREE_COMPONENTS, n_pix, ne)
    scree = PCA(n_components=n_scree, svd_solver="full").fit(Xw).explained_variance_ratio_

    if method == "nmf":
        est = NMF(n_components=k, init="nndsvda", random_state=random_state,
                  max_iter=max_iter, **estimator_kwargs)
        A = est.fit_transform(Xw)
        S = est.components_
    else:
        est = PCA(n_components=k, random_state=random_state, **estimator_kwargs)
        A = est.fit_transform(Xw)
        S = est.components_
        # deterministic sign: largest-magnitude loading positive
        flip = np.sign(S[np.arange(k), np.argmax(np.abs(S), axis=1)])
        A, S = A * flip, S * flip[:, None]
    model = A @ S + (est.mean_ if method == "pca" else 0.0)
    A, S = A * wa[:, None], S * wb[None, :]               # back to the data's scale
    model = model * wa[:, None] * wb[None, :]
    rel_err = float(np.linalg.norm(X - model) / max(np.linalg.norm(X), 1e-300))

    idx = _sort_order(S, A, order)
    maps = np.full((k, si.ny, si.nx), np.nan, dtype=np.float32)
    maps[:, si.valid] = A[:, idx].T
    return Decomposition(maps=maps, spectra=S[idx].astype(np.float32),
                         scree=scree.astype(np.float64), energy=si.energy.copy(),
                         method=method, reconstruction_error=rel_err, estimator=est,
                         order=idx, poisson=bool(poisson))
