"""MultichannelRVAE: rotationally invariant VAE on windows of a stack of maps."""

from __future__ import annotations

import math
from typing import ClassVar

import numpy as np
import torch

from .._checks import as_float_array, check_finite, check_real_dtype
from .._lazy import is_lazy_array
from ..analysis import rgb_tiles
from ..patches import ArrayWindows, Windows, border_mask, check_window_fits, make_windows
from ._chunked import map_windows
from ._layers import gaussian_nll, kl_normal, module_device, reparameterize
from ._params import (
    TRAINING_RULES,
    Boolean,
    Choice,
    Equal,
    Integer,
    Normalization,
    Pairs,
    Real,
    Rule,
)
from ._rvae_nets import RVAENet
from ._samples import computed_maps
from .base import BaseModel, fit_atomically, preset_table
from .latent import LATENT_STATE, LatentModel, PoseAdapter

__all__ = ["MultichannelRVAE"]

_DECODERS = ("spatial", "fast")
_TILE_SCALES = ("channel", "absolute")
_LOG_SIGMA_MIN = math.log(1e-4)
MAX_WINDOW = 256     #: largest window (the networks grow with its area)
MAX_CHANNELS = 256   #: most channels (maps) in a stack


class MultichannelRVAE(LatentModel, BaseModel):
    """Rotationally invariant VAE on ``w x w`` windows around every pixel of ``C`` maps.

    Each window (all ``C`` channels, e.g. three NMF abundance maps, each normalised to
    [0, 1] separately) is encoded into a rotation angle, an optional shift ``(dx, dy)`` and
    ``latent_dim`` content latents ``z``. The decoder renders the content at angle 0 and
    rotates (and shifts) it, so ``z`` describes *what* is in the window whatever its
    orientation and the angle says *how it is turned*.

    Decoders (see :mod:`eelswidgets.models._rvae_nets` for the coordinate convention):

    - ``"spatial"`` (default, as in the paper and AtomAI's rVAE): an MLP evaluated at each
      rotated/shifted pixel coordinate together with ``z``;
    - ``"fast"``: an MLP renders the unrotated window from ``z`` once, then it is rotated with
      ``affine_grid``-style bilinear resampling (``grid_sample``); about an order of magnitude
      faster to train.

    Angles are in radians, wrapped to (-pi, pi]; a positive angle turns the content from +x
    towards +y (clockwise as displayed with row 0 at the top), about the window's centre pixel,
    as in :func:`eelswidgets.datasets.rotated_motifs`. They are defined up to a global offset
    (the pose of the learned template), and modulo ``2 pi / n`` for content with ``n``-fold
    symmetry; for mirror-symmetric content the sign may be flipped as well.

    Priors: the content latents and the shift latents have standard normal priors (the shift
    in window units is ``translation_prior`` times the shift latent, a window spanning
    [-1, 1]); the angle posterior's spread is regularised towards ``rotation_prior`` (its
    mean is free, as in AtomAI, so any rotation is allowed).

    Presets
    -------
    ``MultichannelRVAE.from_preset("paper", **overrides)`` (see ``presets``) returns an
    ordinary estimator set as the multichannel rVAE of the paper (AtomAI's rVAE): the
    spatial decoder, no translation latents (``translation=False``: the angle and ``z``
    only), a fixed noise level (``sigma=0.1``, see below) instead of a learned one, and
    manifold tiles on an absolute colour scale (``tile_scale="absolute"``, see
    :meth:`rgb_tiles`), so that a channel the decoder renders weakly stays weak.
    AtomAI's loss, ``0.5 * sum (x - x_hat)^2``, is a Gaussian likelihood with sigma 1 in the
    units of its input; on windows normalised to [0, 1] that noise level equals the whole
    data range and the posterior collapses on our test motifs (angle resultant 0.08 at
    sigma 1, 0.998 at 0.1, ``tests/test_rvae.py`` settings), so the preset fixes
    ``sigma=0.1`` (a tenth of the normalised range, where the learned sigma starts);
    ``from_preset("paper", sigma=1.0)`` gives AtomAI's weighting exactly.

    Input
    -----
    ``fit``/``encode`` take a stack ``(C, ny, nx)`` (or one image ``(ny, nx)``): the windows
    are cut lazily around every pixel whose window fits (see :mod:`eelswidgets.patches`); or
    ready-made windows ``(n, C, w, w)`` (then per-window arrays are returned instead of maps).

    Parameters
    ----------
    latent_dim : int
        Number of content latents ``z`` (>= 1).
    window : int
        Window size ``w`` (>= 3). Odd and even sizes both work: the rotation is about the
        window's centre pixel ``(w // 2, w // 2)``, the pixel the window belongs to (see
        :mod:`eelswidgets.patches`).
    translation : bool
        Also infer a shift ``(dx, dy)``.
    decoder : {"spatial", "fast"}
        Decoder type (see above).
    symmetry : int
        Rotational symmetry order of the content, if known (default 1: none). The angle is
        then inferred modulo ``2 pi / symmetry`` and returned in
        (-pi / symmetry, pi / symmetry]; this keeps the encoder continuous for symmetric
        content (see :class:`~eelswidgets.models._rvae_nets.RVAEEncoder`).
    rotation_prior : float
        Standard deviation (radians) of the angle prior.
    translation_prior : float
        Scale of the shift in window units (the window spans [-1, 1]).
    hidden, n_layers : int
        Width and number of hidden layers of the decoder (AtomAI: 128 and 2).
    encoder_hidden, encoder_layers : int
        Width and number of layers of the MLP encoder (AtomAI: 128 and 2).
    sigma : float, optional
        Fixed noise level of the Gaussian likelihood (normalised units); None learns it.
    kl_weight : float
        Weight of the KL terms.
    normalize : {"channel", "joint", "none"}
        Window normalisation (see :class:`eelswidgets.patches.Windows`).
    ranges : sequence of (low, high), optional
        Per-channel output ranges after normalisation (e.g. give one channel [0, 2]).
    tile_scale : {"channel", "absolute"}
        Colour scale of :meth:`rgb_tiles`: each channel stretched over its own range in
        the tiles, or one absolute scale for all (:meth:`absolute_tile_ranges`).
    epochs, batch_size, lr, seed, device, val_fraction, patience
        Options of the shared :class:`~eelswidgets.models.trainer.Trainer` (AtomAI's rVAE
        uses batches of 100).

    Attributes
    ----------
    module_, history_ : as for every model
    state_ : dict
        ``n_channels``, ``window``, ``normalization`` (constants reused by ``encode``),
        ``n_train``, ``latent_ranges`` and ``latent_center`` (see ``latent_ranges_`` and
        ``latent_center_``).
    latent_ranges_ : numpy.ndarray, shape (latent_dim, 2)
        2nd and 98th percentile of each content latent over the training windows (the
        default span of :meth:`manifold`).
    latent_center_ : numpy.ndarray, shape (latent_dim,)
        Median of each content latent over the training windows.

    Examples
    --------
    >>> import numpy as np, eelswidgets as ew
    >>> maps = np.random.default_rng(0).random((3, 24, 24))
    >>> rv = ew.MultichannelRVAE(window=8, epochs=1, seed=0, device="cpu").fit(
    ...     maps, progress=False)
    >>> enc = rv.encode(maps)
    >>> enc["angle"].shape, enc["z"].shape
    ((24, 24), (24, 24, 2))
    """

    _adapter = PoseAdapter
    _short_name = "rVAE"
    _parameter_constraints: ClassVar[dict[str, Rule]] = {
        "latent_dim": Integer(1, 256),
        "window": Integer(3, MAX_WINDOW, hint="a rotation needs a window of at least 3 "
                          "pixels; the networks grow with the window's area"),
        "translation": Boolean(),
        "decoder": Choice(*_DECODERS),
        "symmetry": Integer(1, 360, hint="symmetry is the order of rotational symmetry "
                            "(1: none)"),
        "rotation_prior": Real(0, None, low_open=True),
        "translation_prior": Real(0, None, low_open=True),
        "hidden": Integer(1, 8192),
        "n_layers": Integer(0, 64),
        "encoder_hidden": Integer(1, 8192),
        "encoder_layers": Integer(1, 64),
        "sigma": Real(0, None, low_open=True, none_ok=True,
                      hint="sigma is None (learned) or a fixed positive noise level"),
        "kl_weight": Real(0, None),
        "normalize": Choice("channel", "joint", "none"),
        "ranges": Pairs(max_len=MAX_CHANNELS, none_ok=True),
        "tile_scale": Choice(*_TILE_SCALES),
        **TRAINING_RULES,
    }
    _state_constraints: ClassVar[dict[str, Rule]] = {
        "n_channels": Integer(1, MAX_CHANNELS),
        "window": Equal("window"),
        "normalization": Normalization("n_channels"),
        "n_train": Integer(2, 2**40),
        **LATENT_STATE,
    }
    presets = preset_table(paper={"translation": False, "sigma": 0.1, "decoder": "spatial",
                                  "tile_scale": "absolute"})

    def __init__(self, *, latent_dim: int = 2, window: int = 10, translation: bool = True,
                 decoder: str = "spatial", symmetry: int = 1, rotation_prior: float = 0.1,
                 translation_prior: float = 0.1, hidden: int = 128, n_layers: int = 2,
                 encoder_hidden: int = 128, encoder_layers: int = 2,
                 sigma: float | None = None, kl_weight: float = 1.0,
                 normalize: str = "channel", ranges=None, tile_scale: str = "channel",
                 epochs: int = 30,
                 batch_size: int = 100, lr: float = 1e-3, seed: int = 0,
                 device: str = "auto", val_fraction: float = 0.0,
                 patience: int | None = None):
        self.latent_dim = latent_dim
        self.window = window
        self.translation = translation
        self.decoder = decoder
        self.symmetry = symmetry
        self.rotation_prior = rotation_prior
        self.translation_prior = translation_prior
        self.hidden = hidden
        self.n_layers = n_layers
        self.encoder_hidden = encoder_hidden
        self.encoder_layers = encoder_layers
        self.sigma = sigma
        self.kl_weight = kl_weight
        self.normalize = normalize
        self.ranges = ranges
        self.tile_scale = tile_scale
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.val_fraction = val_fraction
        self.patience = patience

    # ------------------------------------------------------------------ network
    def _build_module(self) -> RVAENet:
        p = self._validate_params()
        sigma = p["sigma"]
        return RVAENet(n_channels=int(self.state_["n_channels"]), window=p["window"],
                       latent_dim=p["latent_dim"], translation=p["translation"],
                       decoder=p["decoder"], hidden=p["hidden"], n_layers=p["n_layers"],
                       encoder_hidden=p["encoder_hidden"],
                       encoder_layers=p["encoder_layers"],
                       translation_prior=p["translation_prior"],
                       learn_sigma=sigma is None, sigma=0.1 if sigma is None else sigma,
                       symmetry=p["symmetry"])

    def _check_fits(self, data) -> None:
        if np.ndim(data) in (2, 3):
            ny, nx = np.shape(data)[-2:]
            check_window_fits(int(self.window), ny, nx, "MultichannelRVAE",
                              minimum=self._parameter_constraints["window"].low)

    def _windows(self, data, *, fitted: bool, device) -> Windows | ArrayWindows:
        self._check_fits(data)
        if fitted:
            window = None if np.ndim(data) == 4 else int(self.window)
            return make_windows(data, window,
                                normalization=self.state_["normalization"], device=device,
                                expect_channels=int(self.state_["n_channels"]),
                                expect_window=int(self.window))
        return make_windows(data, int(self.window), normalize=self.normalize,
                            ranges=self.ranges, device=device)

    # ------------------------------------------------------------------ fit
    @fit_atomically
    def fit(self, stack, *, mask=None, progress="auto", callbacks=()) -> MultichannelRVAE:
        """Train on the windows around every pixel of ``stack`` (or on given windows).

        Parameters
        ----------
        stack : array_like, shape (C, ny, nx), (ny, nx) or (n, C, w, w)
            Maps (e.g. ``dec.maps[[0, 1, 2]]``), one image, or ready-made windows.
            Must be finite; never modified. A lazy (dask) stack of maps is computed once:
            a stack is small beside its cube, and the windows are cut per mini-batch (see
            ``models/_samples.computed_maps``).
        mask : array_like of bool, shape (ny, nx), optional
            Train only on windows centred on these pixels.
        progress, callbacks
            See :class:`~eelswidgets.models.trainer.Trainer`.

        Returns
        -------
        MultichannelRVAE
            ``self``.
        """
        self._validate_params()
        device = self._device()
        stack = computed_maps(stack)  # a lazy map stack is small: see computed_maps
        if np.ndim(stack) == 4 or (isinstance(stack, torch.Tensor) and stack.ndim == 4):
            if mask is not None:
                raise ValueError("mask applies to a stack of maps, not to ready-made windows")
            win = ArrayWindows(stack, normalize=self.normalize, ranges=self.ranges,
                               device=device)
            if win.window != int(self.window):
                raise ValueError(f"the windows are {win.window}x{win.window} but "
                                 f"window={self.window}; set window={win.window}")
        else:
            self._check_fits(stack)
            win = make_windows(stack, int(self.window), normalize=self.normalize,
                               ranges=self.ranges, mask=mask, device=device)
        if len(win) < 2:
            raise ValueError("at least 2 windows are needed to train")
        self.state_ = {"n_channels": int(win.n_channels), "window": int(self.window),
                       "normalization": win.normalization, "n_train": len(win)}
        kl_w = float(self.kl_weight)
        log_prior = math.log(float(self.rotation_prior))
        prior_var = float(self.rotation_prior) ** 2

        def loss_fn(module, batch):
            x = batch[0]
            mu, logvar = module.encoder(x)
            lat = reparameterize(mu, logvar)
            angle, shift, z = module.split(lat)
            xh = module.decode(angle, shift, z)
            nll = gaussian_nll(x, xh, module.log_sigma.clamp(min=_LOG_SIGMA_MIN))
            lv0 = logvar[:, 0]
            kl_rot = 0.5 * (2 * log_prior - lv0 + lv0.exp() / prior_var - 1.0)
            kl = kl_rot + kl_normal(mu[:, 1:], logvar[:, 1:])
            return (nll + kl_w * kl).mean() / x[0].numel()

        try:
            self._train(win, loss_fn, callbacks=callbacks, progress=progress)
        finally:
            release = getattr(getattr(self, "module_", None), "decoder", None)
            if hasattr(release, "release_workspace"):
                release.release_workspace()
        self._store_latent_summary(
            self._encode_windows(win)[0][:, module_n_pose(self.module_):])
        return self

    @classmethod
    def _upgrade_state(cls, state):
        """Bring a file from before the latent summary up to date.

        ``z_range`` is the range; the centre is 0, where those versions held the latents a
        manifold does not vary.
        """
        state = dict(state)
        if "z_range" in state and "latent_ranges" not in state:
            zr = state.pop("z_range")
            state["latent_ranges"] = zr
            state["latent_center"] = [0.0] * len(zr) if isinstance(zr, list) else zr
        return super()._upgrade_state(state)

    def _output_shape(self) -> tuple[int, ...]:
        w = int(self.window)
        return (int(self.state_["n_channels"]), w, w)

    # ------------------------------------------------------------------ encode
    @torch.inference_mode()
    def _encode_windows(self, win, batch: int = 2048) -> tuple[np.ndarray, np.ndarray]:
        mus, lvs = [], []
        for _, xb in win.batches(batch):
            mu, lv = self.module_.encoder(xb)
            mus.append(mu.float().cpu())
            lvs.append(lv.float().cpu())
        return torch.cat(mus).numpy(), torch.cat(lvs).numpy()

    def encode(self, stack, *, return_std: bool = False) -> dict[str, np.ndarray]:
        """Encode the window around every pixel (posterior means).

        Parameters
        ----------
        stack : array_like, shape (C, ny, nx), (ny, nx) or (n, C, w, w)
            Same channels as at fit time; normalised with the fit-time constants. A dask
            stack ``(C, ny, nx)`` (or ``(ny, nx)``) is encoded chunk by chunk over its scan
            chunks (each chunk with the halo its windows need).
        return_std : bool
            Also return the posterior standard deviations (``angle_std``, ``z_std``...).

        Returns
        -------
        dict of numpy.ndarray
            ``angle`` (ny, nx) in radians wrapped to (-pi, pi] (to (-pi/n, pi/n] with
            ``symmetry=n``); ``z`` (ny, nx, latent_dim);
            with ``translation``: ``dx`` and ``dy`` (ny, nx) in pixels (the content is
            centred ``(dx, dy)`` from the window's centre pixel, x to the right, y down).
            NaN where a window would cross the border. For windows ``(n, C, w, w)`` the
            leading shape is ``(n,)``. For a dask stack, dask arrays chunked like its scan,
            computed only when asked (a non-finite value raises then).
        """
        self._check_fitted()
        if is_lazy_array(stack):
            return self._encode_lazy(stack, return_std)
        win = self._windows(stack, fitted=True, device=module_device(self.module_))
        mu, logvar = self._encode_windows(win)
        return self._latent_dict(mu, logvar, return_std, win.to_map)

    def _encode_lazy(self, stack, return_std: bool) -> dict:
        """:meth:`encode` of a dask stack: every chunk of the scan with its windows' halo."""
        if stack.ndim == 2:
            stack = stack[None]
        c = int(self.state_["n_channels"])
        if stack.ndim != 3:
            raise ValueError(f"a dask input must be a stack of maps (C, ny, nx) or one image "
                             f"(ny, nx), got shape {stack.shape}; compute ready-made windows "
                             f"(n, C, w, w) first (np.asarray(windows))")
        check_real_dtype(stack.dtype, "stack")
        if stack.shape[0] != c:
            raise ValueError(f"the model was fitted on {c} channel(s) but the stack has "
                             f"{stack.shape[0]}; pass the same channels (maps[[...]])")
        self._check_fits(stack)
        w = int(self.window)
        n_lat = module_n_pose(self.module_) + int(self.latent_dim)
        raw = map_windows(_encode_block, self, stack, border_mask(stack.shape[1:], w),
                          window=w, chunks=stack.chunks[1:], tail=(2 * n_lat,),
                          label="rvae-encode")
        return self._latent_dict(raw[..., :n_lat], raw[..., n_lat:], return_std, _as_map)

    def _latent_dict(self, mu, logvar, return_std, to_map) -> dict[str, np.ndarray]:
        """Angle, z (and shift) from posterior means and log-variances ``(..., latents)``.

        ``to_map`` places per-window values on the image grid (``Windows.to_map``), or is
        the identity for values that already are maps (the lazy path).
        """
        n_pose = module_n_pose(self.module_)
        half = (int(self.window) - 1) / 2.0
        n = int(self.symmetry)
        angle = (np.angle(np.exp(1j * n * mu[..., 0].astype(np.float64))) / n).astype(
            np.float32)
        out = {"angle": to_map(angle), "z": to_map(mu[..., n_pose:])}
        std = np.exp(0.5 * logvar)
        if return_std:
            out["angle_std"] = to_map(std[..., 0])
            out["z_std"] = to_map(std[..., n_pose:])
        if n_pose == 3:
            scale = float(self.translation_prior) * half
            out["dx"] = to_map(mu[..., 1] * scale)
            out["dy"] = to_map(mu[..., 2] * scale)
            if return_std:
                out["dx_std"] = to_map(std[..., 1] * scale)
                out["dy_std"] = to_map(std[..., 2] * scale)
        return out

    # ------------------------------------------------------------------ decode
    @torch.inference_mode()
    def decode(self, z, angle=None, dx=None, dy=None, *, batch: int = 1024) -> np.ndarray:
        """Decode content latents at a pose into windows (normalised units).

        Parameters
        ----------
        z : array_like, shape (n, latent_dim)
        angle : array_like, shape (n,), optional
            Radians (default 0: the unrotated template).
        dx, dy : array_like, shape (n,), optional
            Content offset in pixels (default 0), as returned by :meth:`encode`.

        Returns
        -------
        numpy.ndarray, shape (n, C, w, w), float32
        """
        self._check_fitted()
        d = int(self.latent_dim)
        z = as_float_array(z, "z", ndim=(1, 2))
        if z.ndim == 1:
            z = z[None]
        if z.shape[1] != d:
            raise ValueError(f"z must have {d} columns (latent_dim), got shape {z.shape}")
        n = z.shape[0]

        def vec(v, name):
            if v is None:
                return np.zeros(n, np.float32)
            arr = np.broadcast_to(as_float_array(v, name, ndim=(0, 1)), (n,)).copy()
            return np.ascontiguousarray(arr)

        a, ddx, ddy = vec(angle, "angle"), vec(dx, "dx"), vec(dy, "dy")
        for arr, name in ((z, "z"), (a, "angle"), (ddx, "dx"), (ddy, "dy")):
            check_finite(arr, name)
        half = (int(self.window) - 1) / 2.0
        shift = np.stack([ddx, ddy], axis=1) / half
        dev = module_device(self.module_)
        cols = [torch.from_numpy(np.ascontiguousarray(v, dtype=np.float32)).to(dev)
                for v in (a, shift, z)]
        outs = [self.module_.decode(*(c[s:s + batch] for c in cols)).float().cpu()
                for s in range(0, n, batch)]
        return torch.cat(outs).numpy()

    def rgb_tiles(self, tiles, **kwargs) -> np.ndarray:
        """Compose this model's manifold tiles into one RGB image.

        :func:`eelswidgets.analysis.rgb_tiles` with the model's ``tile_scale``:
        ``"channel"`` stretches each shown channel over its own range in the tiles;
        ``"absolute"`` puts every shown channel on one fixed scale, the span of the ranges
        the training windows were normalised to (:meth:`absolute_tile_ranges`; [0, 1] by
        default), so a channel the decoder renders weakly stays dark, as in the paper's
        figures. ``ranges=`` or ``normalize=`` in ``kwargs`` take precedence.

        Parameters
        ----------
        tiles : array_like, shape (g1, g2, C, w, w)
            E.g. ``self.manifold(grid=8)``.
        **kwargs
            ``channels``, ``gap``, ``normalize``, ``background``, ``ranges`` of
            :func:`~eelswidgets.analysis.rgb_tiles`.

        Returns
        -------
        numpy.ndarray, float32 in [0, 1]
            The RGB mosaic.
        """
        self._check_fitted()
        if (self.tile_scale == "absolute" and kwargs.get("ranges") is None
                and "normalize" not in kwargs):
            kwargs["ranges"] = self.absolute_tile_ranges(kwargs.get("channels", (0, 1, 2)))
        return rgb_tiles(tiles, **kwargs)

    def absolute_tile_ranges(self, channels=(0, 1, 2)) -> np.ndarray:
        """One ``(lo, hi)`` for every shown channel: the span of their normalised ranges.

        ``lo`` is the smallest and ``hi`` the largest bound of the ranges the training
        windows of ``channels`` were normalised to (``state_["normalization"]``: [0, 1] per
        channel unless ``ranges`` gave others), so all channels share one absolute scale:
        a channel given [0, 2] can reach full brightness where the others reach half.

        Returns
        -------
        numpy.ndarray, shape (len(channels), 2)
        """
        self._check_fitted()
        norm = self.state_["normalization"]
        c = int(self.state_["n_channels"])
        ch = [int(k) for k in channels]
        if any(not 0 <= k < c for k in ch):
            raise ValueError(f"channels must be in [0, {c}) (the model has {c} channels), "
                             f"got {tuple(channels)!r}")
        lo = min(float(norm["out_lo"][k]) for k in ch)
        hi = max(float(norm["out_hi"][k]) for k in ch)
        return np.tile([lo, hi], (len(ch), 1))

    @torch.inference_mode()
    def reconstruction_error(self, stack, *, batch: int = 1024) -> np.ndarray:
        """Mean squared error (normalised units) of each window's reconstruction.

        Windows are encoded to their posterior means and decoded at the inferred pose.

        Returns
        -------
        numpy.ndarray
            ``(ny, nx)`` with NaN at the border (or ``(n,)`` for given windows).
        """
        self._check_fitted()
        win = self._windows(stack, fitted=True, device=module_device(self.module_))
        errs = []
        for _, xb in win.batches(batch):
            mu, _ = self.module_.encoder(xb)
            xh = self.module_.decode(*self.module_.split(mu))
            errs.append((xh - xb).pow(2).mean(dim=(1, 2, 3)).float().cpu())
        return win.to_map(torch.cat(errs))


def _as_map(values):
    """The identity: values that already lie on the image grid."""
    return values


def _encode_block(model: MultichannelRVAE, region: np.ndarray, usable: np.ndarray,
                  offset: int) -> np.ndarray:
    """One chunk of a lazy encode: posterior means and log-variances ``(cy, cx, 2 L)``."""
    win = Windows(region, int(model.window), normalization=model.state_["normalization"],
                  mask=usable, device=module_device(model.module_))
    mu, logvar = model._encode_windows(win)
    maps = win.to_map(np.concatenate([mu, logvar], axis=1))
    cy, cx = (n - int(model.window) + 1 for n in region.shape[1:])
    return maps[offset:offset + cy, offset:offset + cx]


def module_n_pose(module) -> int:
    """Number of pose latents (1: angle, 3: angle and shift) of an rVAE network."""
    return int(module.n_pose)
