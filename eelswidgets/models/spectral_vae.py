"""SpectralVAE: a variational autoencoder on the spectra of a spectrum image."""

from __future__ import annotations

import math
import warnings
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from .._checks import as_float_array, check_finite, check_mask
from .._lazy import is_lazy_array
from ..spectrum_image import SpectrumImage
from ._chunked import map_pixels, refuse_lazy
from ._layers import gaussian_nll, kl_normal, mlp, module_device, reparameterize
from ._params import TRAINING_RULES, Array, Choice, Integer, IntTuple, Real, Rule
from ._samples import ArraySamples, ChunkedSamples, finite_rows, pixel_samples
from .base import BaseModel, fit_atomically
from .latent import LATENT_STATE, LatentModel

__all__ = ["SpectralVAE"]

_NORMALIZE = ("global", "channel")
_LOG_SIGMA_MIN = math.log(1e-4)
MAX_ENERGY = 2**17  #: most energy channels a SpectralVAE takes (its first layer grows with it)
_BATCH_BYTES = 4 * 2**20  # spectra per inference batch (float32 bytes): bounds the temporaries


def _scaled(rows: np.ndarray, offset: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(rows - offset) * scale`` as one new float32 array (a batch or block of spectra)."""
    out = np.subtract(rows, offset, dtype=np.float32)
    out *= scale
    return out


class _SpectralVAENet(nn.Module):
    """Fully connected encoder/decoder on normalised spectra."""

    def __init__(self, n_energy: int, latent_dim: int, hidden: tuple[int, ...],
                 sigma: float | None):
        super().__init__()
        self.n_energy = n_energy
        self.encoder = mlp((n_energy, *hidden), last_activation=True)
        self.mu = nn.Linear(hidden[-1], latent_dim)
        self.logvar = nn.Linear(hidden[-1], latent_dim)
        self.decoder = mlp((latent_dim, *hidden[::-1], n_energy))
        init = math.log(0.1 if sigma is None else sigma)
        if sigma is None:
            self.log_sigma = nn.Parameter(torch.tensor(init))
        else:
            self.register_buffer("log_sigma", torch.tensor(init))

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.encoder(x)
        return self.mu(h), self.logvar(h).clamp(-12.0, 8.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)


class SpectralVAE(LatentModel, BaseModel):
    """Variational autoencoder on spectra: ``latent_dim`` latents per pixel.

    The encoder maps each (normalised) spectrum to a Gaussian posterior over ``latent_dim``
    latent variables; the decoder maps a latent point back to a spectrum. The likelihood is
    Gaussian: the reconstruction term is the squared error divided by ``2 sigma**2`` (plus
    ``n_energy * log(sigma)``), with ``sigma`` learned (default) or fixed; ``kl_weight``
    scales the KL divergence from the standard normal prior (``kl_weight=1``: the plain VAE
    evidence lower bound; smaller values give sharper reconstructions, larger values a
    smoother latent space).

    Normalisation (constants stored in ``state_`` and undone by :meth:`decode` and
    :meth:`reconstruct`):

    - ``"global"`` (default): every spectrum is divided by the largest absolute value of the
      training cube, so intensities keep their relative scale (the latents see both the shape
      and the strength of the signal);
    - ``"channel"``: each energy channel is standardised (minus its mean, divided by its
      standard deviation over the training pixels).

    To model spectral *shape* only, normalise the spectrum image first
    (``si.normalize("area")``).

    Parameters
    ----------
    latent_dim : int
        Number of latent variables (>= 1; the paper uses 2).
    hidden : sequence of int
        Widths of the hidden layers of the encoder (the decoder mirrors them).
    kl_weight : float
        Weight of the KL term (>= 0).
    sigma : float, optional
        Fixed noise level of the Gaussian likelihood in normalised units; None learns it.
    normalize : {"global", "channel"}
        Normalisation of the spectra (see above).
    epochs, batch_size, lr, seed, device, val_fraction, patience
        Training options of the shared :class:`~eelswidgets.models.trainer.Trainer`.

    Attributes
    ----------
    module_ : torch.nn.Module
        The trained network.
    history_ : dict
        Training history (per-epoch ``loss``, ``val_loss``, ``seconds``...).
    state_ : dict
        ``n_energy``, ``energy`` (the axis fitted on), ``offset`` and ``scale`` (the
        normalisation: ``normalised = (counts - offset) * scale``), ``n_train``,
        ``latent_ranges``, ``latent_center``.
    latent_ranges_ : numpy.ndarray, shape (latent_dim, 2)
        2nd and 98th percentile of each latent over the training spectra (the default span
        of :meth:`manifold`).
    latent_center_ : numpy.ndarray, shape (latent_dim,)
        Median of each latent over the training spectra.

    Examples
    --------
    >>> import eelswidgets as ew
    >>> si = ew.datasets.nanowires(seed=0)
    >>> vae = ew.SpectralVAE(latent_dim=2, epochs=30, seed=0).fit(si, progress=False)
    >>> vae.encode(si).shape
    (64, 80, 2)
    """

    _short_name = "VAE"
    _parameter_constraints: ClassVar[dict[str, Rule]] = {
        "latent_dim": Integer(1, 1024),
        "hidden": IntTuple(1, 2**16, max_len=16),
        "kl_weight": Real(0, None),
        "sigma": Real(0, None, low_open=True, none_ok=True,
                      hint="sigma is None (learned) or a fixed positive noise level"),
        "normalize": Choice(*_NORMALIZE),
        **TRAINING_RULES,
    }
    _state_constraints: ClassVar[dict[str, Rule]] = {
        "n_energy": Integer(2, MAX_ENERGY),
        "energy": Array("float64", ("n_energy",)),
        "offset": Array("float32", ("n_energy",)),
        "scale": Array("float32", ("n_energy",), nonzero=True),
        "n_train": Integer(2, 2**40),
        **LATENT_STATE,
    }

    def __init__(self, *, latent_dim: int = 2, hidden=(256, 128), kl_weight: float = 1.0,
                 sigma: float | None = None, normalize: str = "global", epochs: int = 30,
                 batch_size: int = 128, lr: float = 1e-3, seed: int = 0,
                 device: str = "auto", val_fraction: float = 0.0,
                 patience: int | None = None):
        self.latent_dim = latent_dim
        self.hidden = hidden
        self.kl_weight = kl_weight
        self.sigma = sigma
        self.normalize = normalize
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.val_fraction = val_fraction
        self.patience = patience

    # ------------------------------------------------------------------ helpers
    def _build_module(self) -> nn.Module:
        p = self._validate_params()
        return _SpectralVAENet(int(self.state_["n_energy"]), p["latent_dim"], p["hidden"],
                               p["sigma"])

    @staticmethod
    def _spectra_of(data, name: str = "si") -> tuple[np.ndarray, np.ndarray | None,
                                                     np.ndarray, tuple[int, ...]]:
        """Return (spectra (n, ne) float32 of valid pixels, energy or None, valid, lead shape).

        ``valid`` has the leading shape of ``data`` (pixels) and marks the rows returned.
        """
        if isinstance(data, SpectrumImage):
            valid = data.valid
            return data.data[valid], data.energy, valid, data.data.shape[:2]
        arr = as_float_array(data, name, dtype=np.float32, copy=False)
        if arr.ndim < 2:
            raise ValueError(f"{name} must be a SpectrumImage or an array of spectra "
                             f"(..., n_energy), got shape {arr.shape}")
        lead = arr.shape[:-1]
        valid = np.all(np.isfinite(arr), axis=-1)
        if not valid.any():
            raise ValueError(f"{name} has no finite spectrum")
        return arr[valid], None, valid, lead

    def _normalise(self, spectra: np.ndarray) -> np.ndarray:
        st = self.state_
        return ((spectra - np.asarray(st["offset"], np.float32))
                * np.asarray(st["scale"], np.float32)).astype(np.float32, copy=False)

    def _denormalise(self, x: np.ndarray) -> np.ndarray:
        st = self.state_
        return x / np.asarray(st["scale"], np.float32) + np.asarray(st["offset"], np.float32)

    def _check_energy(self, spectra: np.ndarray, energy: np.ndarray | None) -> None:
        ne = int(self.state_["n_energy"])
        if spectra.shape[-1] != ne:
            raise ValueError(f"this SpectralVAE was fitted on spectra of {ne} energy channels "
                             f"but got {spectra.shape[-1]}; crop/bin the data the same way "
                             f"as for fit (e.g. si.crop_energy(...))")
        ref = self.state_.get("energy")
        if energy is not None and ref is not None:
            ref = np.asarray(ref, dtype=np.float64)
            step = abs(float(ref[-1] - ref[0])) / max(ne - 1, 1) if ne > 1 else 0.0
            if step and np.max(np.abs(ref - energy)) > 0.5 * step:
                warnings.warn("the energy axis differs from the one the model was fitted "
                              "on by more than half a channel; the latents may be "
                              "meaningless", UserWarning, stacklevel=3)

    # ------------------------------------------------------------------ fit
    @fit_atomically
    def fit(self, si, *, mask=None, progress="auto", callbacks=()) -> SpectralVAE:
        """Train on the spectra of ``si`` (its valid pixels, optionally only ``mask``).

        Parameters
        ----------
        si : SpectrumImage or array_like (..., n_energy)
            The spectra. An array's non-finite spectra are skipped. A lazy SpectrumImage is
            streamed chunk by chunk through a shuffle buffer (see ``models/_samples.py``;
            a validation split then holds out whole chunks); an in-memory one is read one
            mini-batch at a time, without a normalised copy.
        mask : array_like of bool, shape (ny, nx), optional
            Train only on these pixels (SpectrumImage input).
        progress : {"auto", True, False}
            Progress display (see :class:`~eelswidgets.models.trainer.Trainer`).
        callbacks : sequence
            Trainer callbacks (e.g. a live training monitor).

        Returns
        -------
        SpectralVAE
            ``self``.
        """
        self._validate_params()
        source, energy = self._fit_samples(si, mask)
        ne = source.n_energy
        if not 2 <= ne <= MAX_ENERGY:
            raise ValueError(f"spectra need 2 to {MAX_ENERGY} energy channels, got {ne}; "
                             f"crop or bin the energy axis")
        if len(source) < 2:
            raise ValueError("at least 2 spectra are needed to train")
        stats = source.stats(moments=self.normalize == "channel")
        if self.normalize == "global":
            if stats.peak == 0:
                raise ValueError("every spectrum is zero; there is nothing to learn")
            offset = np.zeros(ne, np.float32)
            scale = np.full(ne, 1.0 / stats.peak, np.float32)
        else:
            std = stats.std.copy()
            if not np.any(std > 0):
                raise ValueError("every spectrum is identical; there is nothing to learn")
            std[std == 0] = 1.0
            offset, scale = stats.mean.astype(np.float32), (1.0 / std).astype(np.float32)
        self.state_ = {
            "n_energy": int(ne),
            "energy": (np.asarray(energy, np.float64) if energy is not None
                       else np.arange(ne, dtype=np.float64)),
            "offset": offset,
            "scale": scale,
            "n_train": len(source),
        }
        source.make_batch = lambda _pixels, rows: (torch.from_numpy(_scaled(rows, offset,
                                                                           scale)),)
        kl_weight = float(self.kl_weight)

        def loss_fn(module, batch):
            xb = batch[0]
            mu, logvar = module.encode(xb)
            xh = module.decode(reparameterize(mu, logvar))
            log_sigma = module.log_sigma.clamp(min=_LOG_SIGMA_MIN)
            loss = gaussian_nll(xb, xh, log_sigma) + kl_weight * kl_normal(mu, logvar)
            return loss.mean() / module.n_energy

        self._train(source, loss_fn, callbacks=callbacks, progress=progress)
        codes = [self._apply(_scaled(rows, offset, scale), lambda t: self.module_.encode(t)[0])
                 for _pixels, rows in source.ordered()]
        self._store_latent_summary(np.concatenate(codes))
        return self

    def _fit_samples(self, si, mask) -> tuple[ArraySamples | ChunkedSamples, np.ndarray | None]:
        """The training pixels of ``si`` as a sample source, and the energy axis (or None).

        Nothing is copied per pixel: an in-memory cube is read through a ``(pixels, ne)``
        view one mini-batch at a time, a lazy one chunk by chunk (see ``models/_samples``).
        """
        if isinstance(si, SpectrumImage):
            keep = np.array(si.valid, dtype=bool)
            if mask is not None:
                keep &= check_mask(mask, (si.ny, si.nx), "mask")
                if not keep.any():
                    raise ValueError("mask selects no valid pixel; nothing to train on")
            return pixel_samples(si.data, keep), si.energy
        if is_lazy_array(si):
            raise TypeError("a dask array of spectra is trained on as a lazy SpectrumImage: "
                            "ew.SpectrumImage(cube, energy=E), then fit(si)")
        arr = as_float_array(si, "si", dtype=np.float32, copy=False)
        if arr.ndim < 2:
            raise ValueError(f"si must be a SpectrumImage or an array of spectra "
                             f"(..., n_energy), got shape {arr.shape}")
        if mask is not None:
            raise ValueError("mask is only supported with a SpectrumImage")
        rows = arr.reshape(-1, arr.shape[-1])
        keep = finite_rows(rows)
        if not keep.any():
            raise ValueError("si has no finite spectrum")
        return ArraySamples(rows, np.flatnonzero(keep)), None

    # ------------------------------------------------------------------ inference
    @torch.inference_mode()
    def _apply(self, x: np.ndarray, fn, batch: int = 8192) -> np.ndarray:
        dev = module_device(self.module_)
        outs = []
        for start in range(0, x.shape[0], batch):
            xb = torch.from_numpy(x[start:start + batch]).to(dev)
            outs.append(fn(xb).float().cpu())
        return torch.cat(outs).numpy() if outs else np.zeros((0,), np.float32)

    def _rows_of(self, data, name: str = "si"):
        """``(rows (n, ne) float32, valid (n,) or None, energy or None, lead shape)``.

        ``rows`` is a view of the cube (no copy for a SpectrumImage or a float32 C-contiguous
        array); ``valid`` is None for arrays (their non-finite spectra are skipped).
        """
        if isinstance(data, SpectrumImage):
            return (data.data.reshape(-1, data.ne), data.valid.reshape(-1), data.energy,
                    data.shape[:2])
        arr = as_float_array(data, name, dtype=np.float32, copy=False)
        if arr.ndim < 2:
            raise ValueError(f"{name} must be a SpectrumImage or an array of spectra "
                             f"(..., n_energy), got shape {arr.shape}")
        return arr.reshape(-1, arr.shape[-1]), None, None, arr.shape[:-1]

    def _infer_rows(self, rows: np.ndarray, valid: np.ndarray | None, kind: str
                    ) -> np.ndarray:
        """Encode or reconstruct the spectra ``rows`` ``(n, ne)``, batch by batch.

        ``kind="codes"``: means and log-variances ``(n, 2 d)``; ``"spectra"``: the
        reconstructed spectra ``(n, ne)`` in data units.

        Only one batch of normalised spectra (about ``_BATCH_BYTES``) exists at a time, so
        the extra memory is the output plus a few batches (the in-memory path runs it on the
        whole cube, the lazy path on each chunk). Rows that are not ``valid`` or not finite
        are NaN.
        """
        d = int(self.latent_dim)
        batch = max(64, _BATCH_BYTES // (4 * max(1, rows.shape[-1])))
        if kind == "codes":
            width, post = 2 * d, None

            def fn(t):
                return torch.cat(self.module_.encode(t), dim=1)
        else:
            width, post = rows.shape[-1], self._denormalise

            def fn(t):
                return self.module_.decode(self.module_.encode(t)[0])
        out = np.full((rows.shape[0], width), np.nan, np.float32)
        for s in range(0, rows.shape[0], batch):
            xb = rows[s:s + batch]
            ok = np.isfinite(xb).all(axis=1)
            if valid is not None:
                ok &= valid[s:s + batch]
            if ok.any():
                res = self._apply(self._normalise(xb[ok]), fn)
                out[s:s + batch][ok] = res if post is None else post(res)
        return out

    def encode(self, si, *, return_logvar: bool = False):
        """Latent means of every spectrum.

        Parameters
        ----------
        si : SpectrumImage or array_like (..., n_energy)
            Spectra with the energy length the model was fitted on. A lazy SpectrumImage
            gives lazy results (see Returns).
        return_logvar : bool
            Also return the posterior log-variances.

        Returns
        -------
        numpy.ndarray, shape (ny, nx, latent_dim) (or ``(..., latent_dim)``)
            float32, NaN at invalid pixels (``si.valid`` False / non-finite spectra).
            With ``return_logvar``, a tuple ``(mean, logvar)``. For a lazy SpectrumImage,
            dask arrays chunked ``(cy, cx, latent_dim)`` like its scan, computed chunk by
            chunk only when asked (``.compute()``).
        """
        self._check_fitted()
        d = int(self.latent_dim)
        refuse_lazy(si, "si", "SpectralVAE.encode")
        if isinstance(si, SpectrumImage) and si.is_lazy:
            self._check_energy(si.data, si.energy)
            codes = map_pixels(_vae_block, self, si.data, si.valid, tail=(2 * d,),
                               label="vae-encode", kind="codes")
        else:
            rows, valid, energy, lead = self._rows_of(si)
            self._check_energy(rows, energy)
            codes = self._infer_rows(rows, valid, "codes")
            if valid is None and not np.isfinite(codes[:, 0]).any():
                raise ValueError("si has no finite spectrum")
            codes = codes.reshape(*lead, 2 * d)
            return ((np.ascontiguousarray(codes[..., :d]), np.ascontiguousarray(codes[..., d:]))
                    if return_logvar else np.ascontiguousarray(codes[..., :d]))
        mean = codes[..., :d]
        return (mean, codes[..., d:]) if return_logvar else mean

    def decode(self, z) -> np.ndarray:
        """Spectra (in the units of the training data) decoded from latent points.

        Parameters
        ----------
        z : array_like, shape (..., latent_dim)

        Returns
        -------
        numpy.ndarray, shape (..., n_energy), float32
        """
        self._check_fitted()
        arr = as_float_array(z, "z", dtype=np.float32)
        d = int(self.latent_dim)
        if arr.ndim == 0 or arr.shape[-1] != d:
            raise ValueError(f"z must have shape (..., {d}) (latent_dim={d}), got {arr.shape}")
        check_finite(arr, "z")
        lead = arr.shape[:-1]
        out = self._apply(arr.reshape(-1, d), self.module_.decode)
        return self._denormalise(out).reshape(*lead, -1).astype(np.float32, copy=False)

    def reconstruct(self, si: SpectrumImage) -> SpectrumImage:
        """Denoised spectrum image: every spectrum encoded (posterior mean) and decoded.

        Returns
        -------
        SpectrumImage
            Same energy axis, HAADF, pixel size, truth; spectra in the input's units; NaN and
            ``valid`` False where the input is invalid. Lazy (chunked like ``si``, computed
            chunk by chunk) when ``si`` is lazy.
        """
        self._check_fitted()
        if not isinstance(si, SpectrumImage):
            raise TypeError(f"reconstruct needs a SpectrumImage, got {type(si).__name__}; "
                            f"for plain arrays use decode(encode(x))")
        self._check_energy(si.data, si.energy)
        if si.is_lazy:
            cube = map_pixels(_vae_block, self, si.data, si.valid, tail=(si.ne,),
                              label="vae-reconstruct", kind="spectra")
        else:
            rows, valid, _energy, _lead = self._rows_of(si)
            cube = self._infer_rows(rows, valid, "spectra").reshape(si.shape)
        meta = dict(si.metadata)
        meta["processing"] = [*list(meta.get("processing", [])),
                              f"SpectralVAE(latent_dim={self.latent_dim}).reconstruct"]
        name = f"{si.name} (VAE reconstruction)" if si.name else "VAE reconstruction"
        return si.replace(data=cube, metadata=meta, name=name)

    def _output_shape(self) -> tuple[int, ...]:
        return (int(self.state_["n_energy"]),)

    def _state_from_file(self, state):
        state = dict(state)
        for key in ("energy", "offset", "scale"):
            if key in state:
                state[key] = np.asarray(state[key])
        return state


def _vae_block(model: SpectralVAE, block: np.ndarray, valid: np.ndarray, *,
               kind: str) -> np.ndarray:
    """One chunk ``(cy, cx, ne)`` of a lazy cube: codes or reconstructed spectra."""
    cy, cx, ne = block.shape
    return model._infer_rows(block.reshape(-1, ne), valid.reshape(-1), kind).reshape(cy, cx, -1)
