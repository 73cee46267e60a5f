"""The factorisations, written once over blocks.

The blocks are :mod:`._strips` in memory and :mod:`._chunks` for dask. Here: the Poisson
weights, the covariance and its eigenvectors (PCA and the scree), NMF, and the maps with the
reconstruction error.

PCA is the eigen decomposition of the ``(ne, ne)`` covariance matrix, accumulated block by
block in float64 around a shift close to the mean (so the centring loses no precision); its
eigenvalues over their sum (the trace) are the scree, exactly what a full SVD gives. A scan
with fewer valid pixels than channels (in memory) takes the SVD of the centred rows instead.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg

from ._kernels import Prep, gram, residual, stats

SAMPLE_ITER = 200   # NMF iterations on the sample that starts lazy NMF

__all__ = ["PCAScorer", "RowScorer", "EstimatorScorer", "covariance_pca", "fit_nmf_rows",
           "fit_nmf_batches", "maps_and_error", "nndsvda", "poisson_weights", "small_pca"]


def poisson_weights(blocks, prep: Prep) -> tuple[np.ndarray, np.ndarray]:
    """Poisson weights ``(wa, wb)``.

    ``sqrt`` of the mean image ``(ny, nx)`` and of the mean spectrum ``(ne,)``, float32, 1 where
    they are 0 (and at invalid pixels).
    """
    rowmean, (n, colsum) = blocks.run(stats, prep, width=1)
    a = np.nan_to_num(rowmean[..., 0], nan=1.0)
    b = colsum / max(n, 1)
    return (np.sqrt(np.where(a > 0, a, 1.0)).astype(np.float32),
            np.sqrt(np.where(b > 0, b, 1.0)).astype(np.float32))


def covariance_pca(blocks, prep: Prep, wa, m: int, uncentred: int = 0):
    """PCA of the prepared rows through their covariance matrix.

    With ``uncentred > 0`` also the top eigenpairs of ``X^T X`` (the right singular vectors of
    the rows, for the NMF initialisation), appended to the returned tuple as
    ``(eigenvalues descending, eigenvectors (ne, uncentred))``.

    Returns
    -------
    mean : numpy.ndarray (ne,) float64
    variances : numpy.ndarray (m,)
        The ``m`` largest eigenvalues, descending.
    vectors : numpy.ndarray (ne, m)
        Their eigenvectors.
    total : float
        The sum of all eigenvalues (the trace).
    norm2 : float
        The sum of the squares of the prepared rows.
    clipped : int
        Values set to 0 (``prep.clip``).
    """
    shift = blocks.first(prep, wa).mean(0, dtype=np.float64).astype(np.float32)
    _, (n, s, g, clipped) = blocks.run(gram, prep, shift, wa=wa)
    g = np.asarray(g, np.float64)                  # float32 when there was a single block
    d = s / n
    norm2 = float(np.trace(g) + 2 * shift @ s + n * shift.astype(np.float64) @ shift)
    ne = g.shape[0]
    extra = ()
    if uncentred:                              # X^T X = sum (c + shift)(c + shift)^T
        shift64 = shift.astype(np.float64)
        xtx = g + np.outer(shift64, s)
        xtx += np.outer(s, shift64) + n * np.outer(shift64, shift64)
        w, v = scipy.linalg.eigh(xtx, subset_by_index=[ne - uncentred, ne - 1],
                                 overwrite_a=True, check_finite=False)
        extra = ((np.clip(w[::-1], 0, None), v[:, ::-1]),)
    g -= n * np.outer(d, d)
    g /= max(n - 1, 1)
    total = float(np.trace(g))
    values, vectors = scipy.linalg.eigh(g, subset_by_index=[ne - m, ne - 1],
                                        overwrite_a=True, check_finite=False)
    return (shift + d, np.clip(values[::-1], 0, None), vectors[:, ::-1], total, norm2, clipped,
            *extra)


def small_pca(rows: np.ndarray, m: int):
    """As :func:`covariance_pca` (less ``clipped``), from the SVD of all centred rows.

    For few pixels and many channels, in memory.
    """
    x = rows.astype(np.float64)
    norm2 = float(np.square(x).sum())
    mean = x.mean(0)
    x -= mean
    _, sv, vt = np.linalg.svd(x, full_matrices=False)
    var = sv ** 2 / max(len(x) - 1, 1)
    return mean, var[:m], vt[:m].T, float(var.sum()), norm2


class PCAScorer:
    """Scores of prepared rows on PCA components: ``(xw - mean) @ components.T``."""

    def __init__(self, mean: np.ndarray, components: np.ndarray):
        self.mean = mean.astype(np.float32)
        self.components = components.astype(np.float32)

    def __call__(self, xw, where):
        return xw @ self.components.T - self.mean @ self.components.T


class RowScorer:
    """Scores already known for every valid pixel (in-memory NMF): the block's rows of them."""

    def __init__(self, scores: np.ndarray):
        self.scores = scores

    def __call__(self, xw, where):
        return self.scores[where.row0:where.row0 + len(xw)]


class EstimatorScorer:
    """Scores from a fitted estimator's ``transform`` (lazy NMF)."""

    def __init__(self, estimator):
        self.estimator = estimator

    def __call__(self, xw, where):
        return self.estimator.transform(xw)


def nndsvda(x: np.ndarray, singular: np.ndarray, vectors: np.ndarray, eps: float = 1e-6):
    """The NNDSVDa start ``(W, H)`` of NMF (Boutsidis and Gallopoulos 2008).

    From the exact top right singular vectors of ``x`` (scikit-learn's ``init="nndsvda"``
    computes them by a randomised SVD: several more passes over the data).

    Parameters
    ----------
    x : numpy.ndarray (n, ne)
        Non-negative rows.
    singular : numpy.ndarray (k,)
        Singular values, descending.
    vectors : numpy.ndarray (ne, k)
        Right singular vectors.
    """
    k = len(singular)
    sv = np.maximum(singular, 1e-300)
    u = (x @ vectors.astype(x.dtype)) / sv.astype(x.dtype)
    w = np.zeros((len(x), k), x.dtype)
    h = np.zeros((k, x.shape[1]), np.float64)
    w[:, 0] = np.sqrt(sv[0]) * np.abs(u[:, 0])
    h[0] = np.sqrt(sv[0]) * np.abs(vectors[:, 0])
    for j in range(1, k):
        a, b = u[:, j], vectors[:, j]
        ap, bp, an, bn = np.maximum(a, 0), np.maximum(b, 0), np.maximum(-a, 0), np.maximum(-b, 0)
        mp = np.linalg.norm(ap) * np.linalg.norm(bp)
        mn = np.linalg.norm(an) * np.linalg.norm(bn)
        (a, b), sigma = ((ap, bp), mp) if mp > mn else ((an, bn), mn)
        scale = np.sqrt(sv[j] * sigma)
        w[:, j] = scale * a / max(np.linalg.norm(a), 1e-300)
        h[j] = scale * b / max(np.linalg.norm(b), 1e-300)
    avg = float(x.mean(dtype=np.float64))
    w[w < eps] = avg
    h[h < eps] = avg
    return w, h.astype(x.dtype)


def fit_nmf_rows(x: np.ndarray, k: int, random_state, max_iter: int, kwargs: dict,
                 start: tuple | None = None):
    """scikit-learn NMF of all rows: ``(scores, estimator)``.

    Starts from ``start = (W, H)`` when given (see :func:`nndsvda`), else from
    ``init="nndsvda"``. ``non_negative_factorization`` fits without the dense reconstruction
    that ``NMF.fit_transform`` builds for its error; the returned ``NMF`` carries the fit.
    """
    from sklearn.decomposition import NMF, non_negative_factorization

    init = {"init": "nndsvda"} if start is None else {"init": "custom", "W": start[0],
                                                        "H": start[1]}
    w, h, n_iter = non_negative_factorization(x, n_components=k, random_state=random_state,
                                              max_iter=max_iter, **init, **kwargs)
    est = NMF(n_components=k, init="nndsvda", random_state=random_state, max_iter=max_iter,
              **kwargs)
    est.components_, est.n_components_, est.n_iter_ = h, k, n_iter
    est.n_features_in_ = x.shape[1]
    return w, est


def fit_nmf_batches(batches, sample: np.ndarray, k: int, random_state, passes: int,
                    kwargs: dict):
    """scikit-learn ``MiniBatchNMF.partial_fit`` over the chunks, pass after pass.

    The spectra start from an NMF of ``sample`` (rows from every chunk: started from the first
    chunk alone, components absent there were not found); ``batches()`` yields the prepared
    rows chunk by chunk; the passes stop when the component spectra change by less than the
    estimator's ``tol`` (relative Frobenius norm) in a pass.
    """
    from sklearn.decomposition import MiniBatchNMF

    try:
        est = MiniBatchNMF(n_components=k, init="custom", random_state=random_state, **kwargs)
    except TypeError as err:
        raise TypeError(f"lazy NMF runs scikit-learn MiniBatchNMF: {err}") from None
    shared = {key: kwargs[key] for key in ("beta_loss", "alpha_W", "alpha_H", "l1_ratio")
              if key in kwargs}
    if shared.get("beta_loss", "frobenius") not in ("frobenius", 2):
        shared["solver"] = "mu"
    _, start = fit_nmf_rows(sample, k, random_state, SAMPLE_ITER, shared)
    h = start.components_.astype(np.float32)
    previous = None
    for _ in range(passes):
        for xw in batches():
            if previous is None and not hasattr(est, "components_"):
                est.partial_fit(xw, W=np.ones((len(xw), k), xw.dtype), H=h)
            else:
                est.partial_fit(xw)
        h = est.components_
        if previous is not None and \
                np.linalg.norm(h - previous) <= est.tol * max(np.linalg.norm(previous), 1e-300):
            break
        previous = h.copy()
    return est


def maps_and_error(blocks, prep: Prep, wa, scorer, spectra, offset, norm2: float | None):
    """The maps ``(k, ny, nx)`` and the relative error, in one pass.

    The scores of every block, and the Frobenius norm of the residual in the data's scale over
    that of the data (``sqrt(norm2)`` when given, else summed in the same pass).
    """
    k = spectra.shape[0]
    maps, (res2, x2) = blocks.run(residual, prep, scorer, spectra.astype(np.float32),
                                  None if offset is None else offset.astype(np.float32),
                                  norm2 is None, wa=wa, width=k)
    x2 = x2 if norm2 is None else norm2
    error = float(np.sqrt(res2) / max(np.sqrt(x2), 1e-300))
    return np.ascontiguousarray(np.moveaxis(maps, -1, 0)), error
