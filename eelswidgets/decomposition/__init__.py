"""Linear unmixing of a spectrum image: NMF and PCA, in memory or chunk by chunk on dask.

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

Memory: the cube is read block by block (row strips of an in-memory cube, the chunks of a
lazy one); PCA and the scree come from the covariance matrix accumulated block by block, the
error from the residual of one block at a time. Only in-memory NMF holds the whole matrix, as
a view of the cube when every pixel is valid and nothing is clipped or weighted, else as one
float32 copy. Lazy NMF runs ``MiniBatchNMF.partial_fit`` over the chunks.
"""

from __future__ import annotations

import numpy as np

from .._checks import check_choice, check_int
from ..spectrum_image import SpectrumImage
from ._chunks import Chunks
from ._fit import (
    EstimatorScorer,
    PCAScorer,
    RowScorer,
    covariance_pca,
    fit_nmf_batches,
    fit_nmf_rows,
    maps_and_error,
    nndsvda,
    poisson_weights,
    small_pca,
)
from ._kernels import Prep
from ._result import ORDERS, Decomposition, sort_order
from ._strips import Strips

__all__ = ["Decomposition", "decompose", "METHODS", "ORDERS", "LAZY_PASSES",
           "SCREE_COMPONENTS"]

METHODS = ("nmf", "pca")
SCREE_COMPONENTS = 30
MAX_ITER = 1000      # NMF iterations in memory (default of max_iter)
LAZY_PASSES = 5      # passes over the chunks of lazy NMF (default of max_iter)
SAMPLE_BYTES = 64 * 2**20   # lazy NMF starts from an NMF of this much of the data


def decompose(si: SpectrumImage, n_components: int, method: str = "nmf", *,
              random_state: int | None = 0, order: str = "energy", max_iter: int | None = None,
              allow_negative: str = "error", poisson: bool = False,
              **estimator_kwargs) -> Decomposition:
    """Factorise a spectrum image into component spectra and abundance maps.

    Works on in-memory and lazy (dask) spectrum images alike; a lazy cube is read chunk by
    chunk (a few passes) and never held whole. The maps come back in memory either way.

    Parameters
    ----------
    si : SpectrumImage
        The data; only pixels where ``si.valid`` is True enter the fit.
    n_components : int
        Number of components ``k``, ``1 <= k <= min(n_valid_pixels, ne)``.
    method : {"nmf", "pca"}
        Non-negative matrix factorisation (scikit-learn ``NMF``, ``init="nndsvda"``; for lazy
        data ``MiniBatchNMF.partial_fit`` over the chunks) or PCA (eigenvectors of the
        covariance matrix, accumulated chunk by chunk).
    random_state : int or None
        Seed of the NMF initialisation.
    order : {"energy", "weight", "none"}
        Order of the components: ``"energy"`` by the energy of the spectrum maximum (ascending,
        stable for the same data), ``"weight"`` by total contribution (descending), or the
        estimator's own order.
    max_iter : int, optional
        NMF: the most iterations in memory (default 1000); for lazy data the most passes over
        the chunks (default :data:`LAZY_PASSES`; fewer when the spectra change by less than
        ``tol``, default 1e-4, in a pass).
    allow_negative : {"error", "clip"}
        NMF and the Poisson weighting need non-negative data. ``"error"`` (default) raises a
        ``ValueError`` naming the pixels and the fix; ``"clip"`` sets negative values (noise
        after background subtraction) to zero.
    poisson : bool
        Weight for Poisson noise before the factorisation and undo it after (see the module
        docstring); recommended for counting data (raw EELS counts, before normalisation).
        The scree then holds the weighted data's explained-variance ratios. Pixels or
        channels with no counts at all keep weight 1. Costs one more pass over the data.
    **estimator_kwargs
        NMF only: passed to scikit-learn ``NMF`` (e.g. ``alpha_W``, ``l1_ratio``, ``tol``), or
        ``MiniBatchNMF`` for lazy data.

    Returns
    -------
    Decomposition

    Raises
    ------
    TypeError, ValueError
        Bad arguments; negative data for NMF/Poisson weighting without
        ``allow_negative="clip"``; NaN/Inf at a valid pixel of a lazy cube (naming the chunk).

    Examples
    --------
    >>> dec = ew.decompose(si.remove_zlp(), n_components=4)   # doctest: +SKIP
    >>> dec.maps.shape, dec.spectra.shape, dec.scree[:3]      # doctest: +SKIP
    >>> big = ew.load("big.zarr", lazy=True)                  # doctest: +SKIP
    >>> ew.decompose(big, 4, "pca")                           # doctest: +SKIP
    """
    if not isinstance(si, SpectrumImage):
        raise TypeError(f"decompose needs a SpectrumImage, got {type(si).__name__}; "
                        "wrap arrays with ew.SpectrumImage(cube, energy=...)")
    method = check_choice(str(method).lower(), "method", METHODS)
    check_choice(order, "order", ORDERS)
    check_choice(allow_negative, "allow_negative", ("error", "clip"))
    if not isinstance(poisson, (bool, np.bool_)):
        raise TypeError(f"poisson must be True or False, got {poisson!r}")
    if method == "pca" and estimator_kwargs:
        raise TypeError(f"method='pca' takes no estimator keywords (got "
                        f"{sorted(estimator_kwargs)}): PCA is the eigen decomposition of the "
                        "covariance matrix; the keywords are for NMF")
    lazy = si.is_lazy
    if max_iter is not None:
        max_iter = check_int(max_iter, "max_iter", low=1)
    blocks = Chunks(si.data, si.valid) if lazy else Strips(si.data, si.valid)
    n_pix, ne = blocks.n_valid, si.ne
    k = check_int(n_components, "n_components", low=1, high=min(n_pix, ne))

    needs = "Poisson weighting" if poisson else ("NMF" if method == "nmf" else None)
    prep = Prep(needs, allow_negative == "clip")
    wa = None
    if poisson:
        wa, wb = poisson_weights(blocks, prep)
        prep = Prep(needs, prep.clip, wb)

    n_scree = min(SCREE_COMPONENTS, n_pix, ne)
    m = max(n_scree, k if method == "pca" else 1)
    start = None                          # exact top singular vectors for in-memory NMF
    if not lazy and n_pix < ne:
        rows = blocks.matrix(prep, wa, clipped=True)
        mean, var, vectors, total, norm2 = small_pca(rows, m)
        clipped = 1
    else:
        mean, var, vectors, total, norm2, clipped, *start = covariance_pca(
            blocks, prep, wa, m, uncentred=k if method == "nmf" and not lazy else 0)
    scree = var[:n_scree] / total if total > 0 else np.zeros(n_scree)

    if method == "pca":
        S = vectors[:, :k].T
        S = S * np.sign(S[np.arange(k), np.argmax(np.abs(S), axis=1)])[:, None]
        est = _pca_estimator(mean, S, var, total, n_pix)
        scorer, offset = PCAScorer(mean, S), mean
    elif lazy:
        passes = LAZY_PASSES if max_iter is None else max_iter
        est = fit_nmf_batches(lambda: blocks.batches(prep, wa, min_rows=k),
                              blocks.sample(prep, wa, max(k, SAMPLE_BYTES // (4 * ne))), k,
                              random_state, passes, estimator_kwargs)
        S, scorer, offset = est.components_, EstimatorScorer(est), None
    else:
        rows = blocks.matrix(prep, wa, clipped=bool(clipped))
        if start:
            start = nndsvda(rows, np.sqrt(start[0][0]), start[0][1])
        A, est = fit_nmf_rows(rows, k, random_state, MAX_ITER if max_iter is None else max_iter,
                              estimator_kwargs, start)
        del rows
        S, scorer, offset = est.components_, RowScorer(A), None

    # |x|^2 from the covariance pass unless the rows were weighted (the error is in data scale)
    maps, rel_err = maps_and_error(blocks, prep, wa, scorer, S, offset,
                                   None if poisson else norm2)
    if poisson:                                          # back to the data's scale
        maps *= wa
        S = S * prep.wb
    idx = sort_order(S, maps, order)
    return Decomposition(maps=np.ascontiguousarray(maps[idx]),
                         spectra=np.asarray(S[idx], np.float32),
                         scree=np.asarray(scree, np.float64), energy=si.energy.copy(),
                         method=method, reconstruction_error=rel_err, estimator=est,
                         order=idx, poisson=bool(poisson))


def _pca_estimator(mean, components, variances, total, n_samples):
    """A fitted scikit-learn ``PCA`` holding the components (its ``transform`` works)."""
    from sklearn.decomposition import PCA

    k = len(components)
    est = PCA(n_components=k)
    est.components_ = components.astype(np.float64)
    est.mean_ = np.asarray(mean, np.float64)
    est.explained_variance_ = np.asarray(variances[:k], np.float64)
    est.explained_variance_ratio_ = est.explained_variance_ / total if total > 0 \
        else np.zeros(k)
    est.n_components_, est.n_samples_, est.n_features_in_ = k, n_samples, len(mean)
    est.noise_variance_ = 0.0
    return est
