"""Im2Spec and Spec2Im: predict the spectrum from the HAADF window around a pixel, and back.

Both estimators learn from pairs made of the ``window x window`` HAADF sub-image around a pixel
and the spectrum measured at that pixel (Roccapriore et al., "Predictability of localized
plasmonic responses in nanoparticle assemblies"). They are trained on one region of a
spectrum image, given as a boolean pixel mask (see :mod:`eelswidgets.models.splits`), and
evaluated on another.

Window geometry: the window of pixel ``(y, x)`` covers rows ``y - w//2 ... y - w//2 + w - 1``
(columns alike), see :mod:`eelswidgets.patches`. Pixels whose window crosses the image border
have no prediction: NaN in every result and False in the ``valid`` mask of a predicted
:class:`~eelswidgets.SpectrumImage`. Pairs are gathered per mini-batch from one normalised copy
of the HAADF image and the cube (in memory, or chunk by chunk for a lazy one); the windows of
all pixels, and a copy of the training spectra, are never materialised.

Normalisation (constants in ``state_``, reused for any later data):

- HAADF windows: ``(haadf - min) / (max - min)`` with the minimum and maximum of the HAADF
  image passed to ``fit`` (the whole image, not only the training region), so the input is in
  [0, 1] for the training image;
- spectra: divided by ``spec_scale``, the largest absolute value of the training spectra, so
  they are in [-1, 1] on the training region. Predictions are returned in the original units.
"""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from .._checks import as_float_array, check_int, check_mask
from ..analysis import relative_error
from ..patches import Windows, border_mask, check_window_fits, cut_windows, window_bounds
from ..spectrum_image import SpectrumImage
from ._chunked import map_pixels, map_windows, refuse_lazy
from ._im2spec_nets import Im2SpecNet, Spec2ImNet
from ._params import TRAINING_RULES, Array, Integer, Normalization, Real, Rule
from ._samples import pixel_samples
from .base import BaseModel, fit_atomically, preset_table
from .latent import LATENT_STATE, LatentModel

__all__ = ["Im2Spec", "Spec2Im"]

_PREDICT_BATCH = 1024
MAX_WINDOW = 512      #: largest HAADF window (the networks grow with its area)
MAX_ENERGY = 2**17    #: most energy channels (the networks grow with the spectrum length)

#: rules shared by Im2Spec and Spec2Im (each adds its window rule and its own knobs)
_PAIR_RULES = {
    "latent_dim": Integer(1, 1024),
    "nb_filters": Integer(2, 1024),
    "n_dilated": Integer(1, 64),
    **TRAINING_RULES,
}
_PAIR_STATE = {
    "n_energy": Integer(2, MAX_ENERGY),
    "energy": Array("float64", ("n_energy",)),
    "haadf_norm": Normalization(1),
    "spec_scale": Real(0, None, low_open=True),
    "n_train": Integer(1, 2**40),
    **LATENT_STATE,
}


def _pair_batches(windows: Windows, usable: np.ndarray, scale: np.float32):
    """``make_batch`` of the training pairs: ``(windows (B, 1, w, w), spectra / scale)``.

    The HAADF windows are cut from the (small, in-memory) image for the pixels of each batch;
    the spectra come from the sample source (an in-memory cube or the chunks of a lazy one).
    """
    number = np.full(usable.size, -1, dtype=np.int64)   # flat pixel -> window number
    number[np.flatnonzero(usable)] = np.arange(len(windows))

    def make_batch(pixels: np.ndarray, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        idx = torch.from_numpy(number[pixels]).to(windows.device)
        return windows.gather(idx), torch.from_numpy(rows / scale)

    return make_batch


def _im2spec_loss(module, batch):
    windows, spectra = batch
    return torch.mean((module(windows) - spectra) ** 2)


def _spec2im_loss(module, batch):
    windows, spectra = batch
    return torch.mean((module(spectra) - windows[:, 0]) ** 2)


class _PairModel(LatentModel, BaseModel):
    """Shared machinery of :class:`Im2Spec` and :class:`Spec2Im` (not used directly)."""

    _input_kind = "window"  # what the encoder reads: "window" or "spectrum"
    _learned_private: ClassVar[tuple[str, ...]] = (*BaseModel._learned_private, "_reference",
                                                   "_ref_cache")

    # ------------------------------------------------------------------ checks
    def _check_si(self, si, *, need_haadf: bool) -> SpectrumImage:
        if not isinstance(si, SpectrumImage):
            raise TypeError(f"{type(self).__name__} works on a SpectrumImage, got "
                            f"{type(si).__name__}; build one with "
                            f"ew.SpectrumImage(cube, energy=E, haadf=image)")
        if need_haadf and si.haadf is None:
            raise ValueError(f"{type(self).__name__} needs the HAADF image of the spectrum "
                             f"image (si.haadf is None); pass haadf= when building it, e.g. "
                             f"si.replace(haadf=image)")
        rule = self._parameter_constraints["window"]
        check_window_fits(int(self.window), si.ny, si.nx, type(self).__name__,
                          multiple=rule.multiple_of, minimum=rule.low)
        return si

    def _check_energy(self, si: SpectrumImage) -> None:
        ne = int(self.state_["n_energy"])
        if si.ne != ne:
            raise ValueError(f"this {type(self).__name__} was fitted on spectra of {ne} "
                             f"energy channels but si has {si.ne}; crop or bin it to the "
                             f"same energy axis as the training data")

    def _usable(self, si: SpectrumImage, mask=None) -> np.ndarray:
        """Pixels with a value whose window fits inside the image (and inside ``mask``)."""
        ok = border_mask((si.ny, si.nx), int(self.window)) & si.valid
        if mask is not None:
            ok &= check_mask(mask, (si.ny, si.nx), "mask")
        return ok

    def _device_of_module(self) -> torch.device:
        module = getattr(self, "module_", None)
        if module is not None:
            for p in module.parameters():
                return p.device
        return self._device()

    # ------------------------------------------------------------------ fit
    @fit_atomically
    def fit(self, si: SpectrumImage, train=None, *, callbacks=(), progress="auto"):
        """Train on the pixels of ``train`` whose window fits inside the image.

        Parameters
        ----------
        si : SpectrumImage
            Spectrum image with its HAADF image. A lazy one is streamed: the spectra of the
            training pixels are read chunk by chunk through a shuffle buffer (see
            ``models/_samples.py``), the windows cut from the in-memory HAADF image.
        train : array_like of bool, shape (ny, nx), optional
            Training pixels (default: every pixel). See :mod:`eelswidgets.models.splits`.
        callbacks : sequence
            Trainer callbacks (e.g. a live training widget).
        progress : {"auto", True, False, None} or callback
            Progress display (see :class:`~eelswidgets.models.trainer.Trainer`).

        Returns
        -------
        self
        """
        self._validate_params()
        si = self._check_si(si, need_haadf=True)
        if not 2 <= si.ne <= MAX_ENERGY:
            raise ValueError(f"{type(self).__name__} needs spectra of 2 to {MAX_ENERGY} "
                             f"energy channels, got {si.ne}; crop or bin the energy axis")
        train_mask = (np.ones((si.ny, si.nx), dtype=bool) if train is None
                      else check_mask(train, (si.ny, si.nx), "train"))
        usable = self._usable(si, train_mask)
        if not usable.any():
            b, a = window_bounds(int(self.window))
            raise ValueError(
                f"the training mask selects no valid pixel whose {self.window}x{self.window} "
                f"window fits inside the image ({int(train_mask.sum())} pixels selected); "
                f"usable pixels are at least {b} from the top/left and {a} from the "
                f"bottom/right border")
        haadf = si.haadf
        lo, hi = float(haadf.min()), float(haadf.max())
        if not hi > lo:
            raise ValueError("the HAADF image is constant, so its windows carry no "
                             "information and cannot be normalised; check si.haadf")
        device = self._device()
        windows = Windows(haadf, int(self.window), normalize="channel", mask=usable,
                          device=device)
        source = pixel_samples(si.data, usable)  # target spectra: read per batch / chunk
        scale = source.stats().peak
        if not scale > 0:
            raise ValueError("the training spectra are all zero; nothing to learn")
        self.state_ = {
            "n_energy": int(si.ne),
            "energy": np.asarray(si.energy, dtype=np.float64).copy(),
            "haadf_norm": windows.normalization,
            "spec_scale": scale,
            "n_train": len(windows),
        }
        source.make_batch = _pair_batches(windows, usable, np.float32(scale))
        loss = _im2spec_loss if self._input_kind == "window" else _spec2im_loss
        self._train(source, loss, callbacks=callbacks, progress=progress)
        self._store_latent_summary(self._training_codes(si, usable, source))
        self._reference = si
        self._ref_cache = None
        return self

    # ------------------------------------------------------------------ inference kernels
    @torch.inference_mode()
    def _window_outputs(self, image: np.ndarray, usable: np.ndarray, offset: int,
                        shape: tuple[int, int], kind: str) -> np.ndarray:
        """Outputs at the ``usable`` pixels of an image (Im2Spec: windows in, per pixel out).

        ``image`` ``(ny, nx)`` or ``(1, ny, nx)`` is the HAADF image (in memory: the whole
        image, ``offset`` 0) or one chunk's halo region (lazy: the chunk starts at row and
        column ``offset`` of it); ``shape`` is the chunk's ``(cy, cx)``. ``kind`` ``"codes"``
        gives ``(cy, cx, latent_dim)``, ``"spectra"`` the predicted spectra
        ``(cy, cx, ne)`` in data units; NaN elsewhere. Windows are cut per batch.
        """
        width = int(self.latent_dim) if kind == "codes" else int(self.state_["n_energy"])
        out = np.full((*shape, width), np.nan, dtype=np.float32)
        if not usable.any():
            return out
        win = Windows(image, int(self.window), normalization=self.state_["haadf_norm"],
                      mask=usable, device=self._device_of_module())
        pix = win.centers - offset
        scale = np.float32(self.state_["spec_scale"])
        for idx, batch in win.batches(_PREDICT_BATCH):
            res = (self.module_.encode(batch).cpu().numpy() if kind == "codes"
                   else self.module_(batch).cpu().numpy() * scale)
            out[pix[idx, 0], pix[idx, 1]] = res
        return out

    @torch.inference_mode()
    def _spectrum_batches(self, rows: np.ndarray, idx: np.ndarray, kind: str):
        """Yield ``(slice of idx, outputs)`` for the spectra ``rows[idx]`` (Spec2Im).

        ``kind`` ``"codes"``: latent codes ``(B, latent_dim)``; ``"windows"``: predicted
        windows ``(B, w, w)`` in HAADF units.
        """
        device = self._device_of_module()
        scale = np.float32(self.state_["spec_scale"])
        for s in range(0, idx.size, _PREDICT_BATCH):
            sl = slice(s, s + _PREDICT_BATCH)
            spec = torch.from_numpy(np.asarray(rows[idx[sl]], np.float32) / scale).to(device)
            if kind == "codes":
                yield sl, self.module_.encode(spec).cpu().numpy()
            else:
                yield sl, self._denormalize(self.module_(spec).cpu().numpy())

    def _spectrum_outputs(self, block: np.ndarray, ok: np.ndarray, kind: str) -> np.ndarray:
        """Outputs at the ``ok`` pixels of a cube or chunk ``(cy, cx, ne)`` (Spec2Im).

        ``(cy, cx, latent_dim)`` codes or ``(cy, cx, w, w)`` windows; NaN elsewhere.
        """
        cy, cx, ne = block.shape
        rows = block.reshape(-1, ne)
        idx = np.flatnonzero(ok)
        tail = (int(self.latent_dim),) if kind == "codes" else self._output_shape()
        out = np.full((cy * cx, *tail), np.nan, dtype=np.float32)
        for sl, res in self._spectrum_batches(rows, idx, kind):
            out[idx[sl]] = res
        return out.reshape(cy, cx, *tail)

    def _outputs(self, si: SpectrumImage, mask: np.ndarray, kind: str):
        """Per-pixel outputs over the whole image: numpy, or dask for a lazy ``si``."""
        w = int(self.window)
        if self._input_kind == "window":
            if si.is_lazy:
                tail = ((int(self.latent_dim),) if kind == "codes"
                        else (int(self.state_["n_energy"]),))
                return map_windows(_window_block, self, si.haadf[None], mask, window=w,
                                   chunks=si.data.chunks[:2], tail=tail,
                                   label=f"{self._short_name}-{kind}", kind=kind)
            return self._window_outputs(si.haadf, mask, 0, (si.ny, si.nx), kind)
        if si.is_lazy:
            tail = (int(self.latent_dim),) if kind == "codes" else self._output_shape()
            return map_pixels(_spectrum_block, self, si.data, mask, tail=tail,
                              label=f"{self._short_name}-{kind}", kind=kind)
        return self._spectrum_outputs(si.data, mask, kind)

    # ------------------------------------------------------------------ latent space
    @torch.inference_mode()
    def _training_codes(self, si: SpectrumImage, usable: np.ndarray, source) -> np.ndarray:
        """Latent codes ``(n, d)`` of the training pixels (for the latent summary).

        Spec2Im reads the spectra through the training sample source (chunk by chunk for a
        lazy cube); Im2Spec needs only the HAADF windows.
        """
        if self._input_kind == "window":
            return self._encode_pixels(si, usable)
        codes = []
        for _pixels, rows in source.ordered(_PREDICT_BATCH):
            idx = np.arange(rows.shape[0])
            codes.extend(res for _sl, res in self._spectrum_batches(rows, idx, "codes"))
        return np.concatenate(codes)

    def _encode_pixels(self, si: SpectrumImage, mask: np.ndarray) -> np.ndarray:
        """Latent codes ``(n, d)`` of the True pixels of ``mask`` (row-major order)."""
        return np.asarray(self._outputs(si, mask, "codes"))[mask]

    def _check_input_si(self, si) -> SpectrumImage:
        self._check_fitted()
        refuse_lazy(si, "si", type(self).__name__)
        si = self._check_si(si, need_haadf=self._input_kind == "window")
        if self._input_kind == "spectrum":
            self._check_energy(si)
        return si

    def encode(self, si: SpectrumImage):
        """Latent maps of every valid pixel.

        Parameters
        ----------
        si : SpectrumImage
            Data with the same energy axis length (Spec2Im) / a HAADF image (Im2Spec).

        Returns
        -------
        numpy.ndarray, shape (ny, nx, latent_dim), float32
            NaN where the window does not fit (border) or the pixel is not valid. For a
            lazy ``si``, a dask array chunked like its scan (windows reach across chunk
            borders), computed only when asked.
        """
        si = self._check_input_si(si)
        return self._outputs(si, self._usable(si), "codes")

    @torch.inference_mode()
    def _decode_normalized(self, z: np.ndarray) -> np.ndarray:
        device = self._device_of_module()
        outs = []
        for s in range(0, z.shape[0], _PREDICT_BATCH):
            zt = torch.from_numpy(z[s:s + _PREDICT_BATCH]).to(device)
            outs.append(self.module_.decode(zt).cpu().numpy())
        if not outs:
            return np.empty((0, *self._output_shape()), dtype=np.float32)
        return np.concatenate(outs)

    def _output_shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def _denormalize(self, out: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def decode(self, z) -> np.ndarray:
        """Decode latent points.

        Parameters
        ----------
        z : array_like, shape (n, latent_dim) or (latent_dim,)
            Latent coordinates.

        Returns
        -------
        numpy.ndarray
            Spectra ``(n, ne)`` (Im2Spec) or windows ``(n, w, w)`` (Spec2Im), in the units of
            the training data (one item less of leading axis for a single point).
        """
        self._check_fitted()
        arr = as_float_array(z, "z", ndim=(1, 2))
        single = arr.ndim == 1
        arr = arr.reshape(-1, arr.shape[-1])
        d = int(self.latent_dim)
        if arr.shape[1] != d:
            raise ValueError(f"z must have {d} columns (latent_dim), got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError("z contains NaN/Inf; decode finite latent points only")
        out = self._denormalize(self._decode_normalized(arr))
        return out[0] if single else out

    def latent_grid(self, grid: int = 8, ranges=None, *, dims: tuple[int, int] = (0, 1)):
        """Decode a regular ``grid x grid`` lattice of latent points, and return the points.

        The same lattice as :meth:`manifold`: the two latent dimensions ``dims`` vary over
        ``ranges`` (default ``latent_ranges_``, the 2nd to 98th percentile of the training
        codes); every other dimension is held at ``latent_center_`` (their median).

        Parameters
        ----------
        grid : int
            Points per axis.
        ranges : ((float, float), (float, float)), optional
            ``(lo, hi)`` of ``dims[0]`` and ``dims[1]``.
        dims : (int, int)
            The latent dimensions to vary.

        Returns
        -------
        decoded : numpy.ndarray
            ``(grid, grid, ne)`` spectra (Im2Spec) or ``(grid, grid, w, w)`` windows
            (Spec2Im); ``decoded[i, j]`` has ``dims[0]`` varying with ``j`` and ``dims[1]``
            with ``i`` (both increasing).
        coords : numpy.ndarray, shape (grid, grid, latent_dim)
            The latent points.
        """
        self._check_fitted()
        if int(self.latent_dim) < 2:
            raise ValueError("latent_grid needs latent_dim >= 2; with one latent use "
                             "decode(np.linspace(lo, hi, n)[:, None])")
        coords = self._manifold_coords(grid, ranges, dims)
        decoded = self.decode(coords.reshape(-1, coords.shape[-1]))
        return decoded.reshape(*coords.shape[:2], *decoded.shape[1:]), coords

    # ------------------------------------------------------------------ back-projection
    def _reference_codes(self, si, mask):
        """Codes ``(n, d)`` and pixels ``(n, 2)`` of the candidate inputs."""
        if si is None:
            si = getattr(self, "_reference", None)
            if si is None:
                raise ValueError("this model holds no data to search (it was loaded from a "
                                 "file); pass the spectrum image: back_project(points, si=si)")
        si = self._check_input_si(si)
        usable = self._usable(si, mask)
        if not usable.any():
            raise ValueError("no valid pixel to search: the mask selects no pixel whose "
                             "window fits inside the image")
        key = (id(si), None if mask is None else np.asarray(mask).tobytes())
        cache = getattr(self, "_ref_cache", None)
        if cache is not None and cache[0] == key and cache[1] is si:
            return si, cache[2], cache[3]
        codes = self._encode_pixels(si, usable)
        pixels = np.argwhere(usable).astype(np.int64)
        self._ref_cache = (key, si, codes, pixels)
        return si, codes, pixels

    def back_project(self, points, k: int = 5, *, si: SpectrumImage | None = None,
                     mask=None, dims=None) -> dict:
        """The observed inputs whose latent codes are nearest to given latent points.

        Parameters
        ----------
        points : array_like, shape (P, latent_dim) or (P, len(dims))
            Latent points (e.g. clicked on a decoded manifold).
        k : int
            Neighbours per point.
        si : SpectrumImage, optional
            Data to search (default: the spectrum image the model was fitted on).
        mask : array_like of bool, shape (ny, nx), optional
            Restrict the search to these pixels (e.g. the training region).
        dims : sequence of int, optional
            Compare only these latent dimensions (then ``points`` has ``len(dims)`` columns).

        Returns
        -------
        dict
            ``inputs``: the nearest inputs, ``(P, k, w, w)`` HAADF windows (Im2Spec) or
            ``(P, k, ne)`` spectra (Spec2Im), in data units; ``mean``: their average
            ``(P, w, w)`` / ``(P, ne)``; ``pixels``: ``(P, k, 2)`` their ``(y, x)``;
            ``distances``: ``(P, k)`` latent distances; ``codes``: ``(P, k, latent_dim)``.
        """
        from sklearn.neighbors import NearestNeighbors

        self._check_fitted()
        d = int(self.latent_dim)
        pts = as_float_array(points, "points", ndim=(1, 2), dtype=np.float64)
        if pts.ndim == 1:
            pts = pts[None]
        cols = list(range(d)) if dims is None else [int(c) for c in dims]
        if any(not 0 <= c < d for c in cols) or len(set(cols)) != len(cols) or not cols:
            raise ValueError(f"dims must be distinct latent dimensions in [0, {d}), got "
                             f"{dims!r}")
        if pts.shape[1] != len(cols):
            raise ValueError(f"points must have {len(cols)} columns "
                             f"({'latent_dim' if dims is None else 'len(dims)'}), got shape "
                             f"{pts.shape}")
        if not np.all(np.isfinite(pts)):
            raise ValueError("points contains NaN/Inf")
        si, codes, pixels = self._reference_codes(si, mask)
        k = check_int(k, "k", low=1, high=codes.shape[0])
        nn_ = NearestNeighbors(n_neighbors=k).fit(codes[:, cols].astype(np.float64))
        dist, idx = nn_.kneighbors(pts)
        pix = pixels[idx]  # (P, k, 2)
        inputs = self._raw_inputs(si, pix.reshape(-1, 2))
        inputs = inputs.reshape(pix.shape[:2] + inputs.shape[1:])
        return {"inputs": inputs, "mean": inputs.mean(axis=1), "pixels": pix,
                "distances": dist, "codes": codes[idx]}

    def _haadf_windows(self, si: SpectrumImage, pix: np.ndarray) -> np.ndarray:
        """Raw HAADF windows ``(n, w, w)`` around the pixels ``pix`` ``(n, 2)``."""
        return cut_windows(si.haadf, pix, int(self.window))

    def _raw_inputs(self, si: SpectrumImage, pix: np.ndarray) -> np.ndarray:
        if self._input_kind == "spectrum":
            if si.is_lazy:  # only these spectra are read
                return np.asarray(si.data.vindex[pix[:, 0], pix[:, 1]], np.float32)
            return si.data[pix[:, 0], pix[:, 1]].astype(np.float32)
        return self._haadf_windows(si, pix).astype(np.float32)

    @classmethod
    def _upgrade_state(cls, state):
        """Bring a file from before the latent summary up to date.

        ``code_lo``/``code_hi`` (1st and 99th percentiles then) are the range, ``code_mid``
        the centre.
        """
        state = dict(state)
        if "code_lo" in state and "latent_ranges" not in state:
            lo, hi = state.pop("code_lo"), state.pop("code_hi", None)
            state["latent_ranges"] = (list(map(list, zip(lo, hi, strict=True)))
                                      if isinstance(lo, list) and isinstance(hi, list)
                                      and len(lo) == len(hi) else lo)
            state["latent_center"] = state.pop("code_mid", None)
        return super()._upgrade_state(state)

    def _state_from_file(self, state):
        state = dict(state)
        state["energy"] = np.asarray(state["energy"], dtype=np.float64)
        return state


class Im2Spec(_PairModel):
    """Predict the spectrum at a pixel from the HAADF window around it.

    Convolutional encoder (kernel 3, LeakyReLU 0.1) → dense latent of ``latent_dim`` → decoder
    with a 1D spatial pyramid of dilated convolutions (see
    :class:`~eelswidgets.models._im2spec_nets.Im2SpecNet`); MSE loss, Adam. The window must be
    even (16 by default, as in the paper): the pixel sits at index ``window // 2`` of it.

    Parameters
    ----------
    latent_dim : int
        Size of the latent layer (the paper compares 2 and 10).
    window : int
        HAADF window side (even, >= 4).
    nb_filters : int
        Base number of convolution channels.
    n_dilated : int
        Layers of the dilated pyramid (dilations 1..n).
    upsample : int
        The decoder's pyramid runs on ``ceil(ne / upsample)`` points.
    epochs, batch_size, lr, seed, device, val_fraction, patience
        Training options of the shared :class:`~eelswidgets.models.trainer.Trainer`.

    Presets
    -------
    ``Im2Spec.from_preset("paper", **overrides)`` (see ``Im2Spec.presets``) returns an
    ordinary estimator with the paper's decoder: ``upsample=1`` (the dilated pyramid runs on
    the full-length spectrum, one output channel, no sub-pixel shuffle), ``n_dilated=4``
    (dilations 1, 2, 3, 4) and ``nb_filters=64``. The paper describes the decoder as a
    spatial pyramid of dilated convolutions; we found no filter count in its description,
    so we take 64, the decoder width of the im2spec/spec2im networks published with that
    work (AtomAI lineage), whose pyramid keeps one width throughout. The default (``upsample=4``,
    ``nb_filters=32``) is a faster decoder; ``bench/bench_presets.py`` compares the two.

    Attributes
    ----------
    module_, history_ : the network and the training history.
    state_ : dict
        ``n_energy``, ``energy``, ``haadf_norm`` (HAADF min/max), ``spec_scale``, ``n_train``,
        ``latent_ranges``, ``latent_center``.
    latent_ranges_ : numpy.ndarray, shape (latent_dim, 2)
        2nd and 98th percentile of each latent over the training codes (the default span of
        :meth:`manifold` and :meth:`latent_grid`).
    latent_center_ : numpy.ndarray, shape (latent_dim,)
        Median of each latent over the training codes.

    Examples
    --------
    >>> import eelswidgets as ew
    >>> from eelswidgets.models.splits import left_right_split
    >>> si = ew.datasets.nanocube_array(seed=0)
    >>> im = ew.Im2Spec(latent_dim=10, epochs=5).fit(si, train=left_right_split(si),
    ...                                             progress=False)
    >>> pred = im.predict(si)                       # a SpectrumImage, NaN at the border
    >>> err = ew.error_map(si, pred)                # relative error in %
    """

    _input_kind = "window"
    _short_name = "Im2Spec"
    _parameter_constraints: ClassVar[dict[str, Rule]] = {
        **_PAIR_RULES,
        "window": Integer(4, MAX_WINDOW, multiple_of=2, hint=(
            "Im2Spec needs an even window, as the paper's 16x16 sub-images (the pixel sits "
            "at index window//2 of its window)")),
        "upsample": Integer(1, 1024),
    }
    _state_constraints: ClassVar[dict[str, Rule]] = _PAIR_STATE
    presets = preset_table(paper={"upsample": 1, "nb_filters": 64, "n_dilated": 4})

    def __init__(self, *, latent_dim: int = 10, window: int = 16, nb_filters: int = 32,
                 n_dilated: int = 4, upsample: int = 4, epochs: int = 50,
                 batch_size: int = 64, lr: float = 1e-3, seed: int = 0, device: str = "auto",
                 val_fraction: float = 0.0, patience: int | None = None):
        self.latent_dim = latent_dim
        self.window = window
        self.nb_filters = nb_filters
        self.n_dilated = n_dilated
        self.upsample = upsample
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.val_fraction = val_fraction
        self.patience = patience

    def _build_module(self) -> torch.nn.Module:
        p = self._validate_params()
        return Im2SpecNet(p["window"], int(self.state_["n_energy"]), p["latent_dim"],
                          nb_filters=p["nb_filters"], n_dilated=p["n_dilated"],
                          upsample=p["upsample"])

    def _output_shape(self) -> tuple[int, ...]:
        return (int(self.state_["n_energy"]),)

    def _denormalize(self, out: np.ndarray) -> np.ndarray:
        return (out * np.float32(self.state_["spec_scale"])).astype(np.float32)

    def predict(self, si: SpectrumImage) -> SpectrumImage:
        """Predicted spectra at every pixel whose window fits inside the image.

        Parameters
        ----------
        si : SpectrumImage
            Spectrum image with a HAADF image and the energy length the model was fitted on.

        Returns
        -------
        SpectrumImage
            Same energy axis, HAADF and calibration as ``si``; ``data`` is NaN and ``valid``
            False at the border (and wherever ``si`` is not valid). Lazy, chunked like
            ``si``, when ``si`` is lazy.
        """
        si = self._check_input_si(si)
        self._check_energy(si)
        mask = self._usable(si)
        cube = self._outputs(si, mask, "spectra")
        meta = dict(si.metadata)
        meta["processing"] = [*si.metadata.get("processing", []),
                              f"Im2Spec.predict(latent_dim={self.latent_dim}, "
                              f"window={self.window})"]
        name = f"{si.name} (Im2Spec prediction)" if si.name else "Im2Spec prediction"
        return SpectrumImage(cube, energy=si.energy, haadf=si.haadf, valid=mask,
                             pixel_size=si.pixel_size, pixel_unit=si.pixel_unit,
                             metadata=meta, name=name)


class Spec2Im(_PairModel):
    """Predict the HAADF window around a pixel from the spectrum measured there.

    The spectrum is average-pooled by ``pool`` (16 by default), passed through a 1D conv block
    (kernel 3, LeakyReLU 0.1) to a dense latent of ``latent_dim``; the decoder maps it to a
    ``(window/4)x(window/4)`` map, upsamples twice by 2 and applies a 2D spatial pyramid of
    dilated convolutions (see :class:`~eelswidgets.models._im2spec_nets.Spec2ImNet`); MSE
    loss, Adam. The window must be a multiple of 4 (16 by default).

    Parameters
    ----------
    latent_dim : int
        Size of the latent layer.
    window : int
        HAADF window side (multiple of 4, >= 4).
    pool : int
        Average-pooling factor of the spectrum.
    nb_filters : int
        Base number of convolution channels.
    n_dilated : int
        Layers of the dilated pyramid (dilations 1..n).
    epochs, batch_size, lr, seed, device, val_fraction, patience
        Training options of the shared :class:`~eelswidgets.models.trainer.Trainer`.

    Presets
    -------
    ``Spec2Im.from_preset("paper")``: ``nb_filters=256``, ``n_dilated=4``. The channel
    count halves at each of the two upsamplings, so the full-resolution dilated pyramid
    runs at ``nb_filters / 4 = 64`` channels, the decoder width of the published spec2im
    network (we found no number in the paper); the default runs it at 8. The spectrum
    pooling (``pool``) is kept: the paper does not describe the encoder's input length.

    Attributes
    ----------
    module_, history_, state_ : as for :class:`Im2Spec`.
    """

    _input_kind = "spectrum"
    _short_name = "Spec2Im"
    _parameter_constraints: ClassVar[dict[str, Rule]] = {
        **_PAIR_RULES,
        "window": Integer(4, MAX_WINDOW, multiple_of=4, hint=(
            "Spec2Im needs a window that is a multiple of 4 (the decoder upsamples a "
            "(window/4)x(window/4) map twice by 2)")),
        "pool": Integer(1, MAX_ENERGY),
    }
    _state_constraints: ClassVar[dict[str, Rule]] = _PAIR_STATE
    presets = preset_table(paper={"nb_filters": 256, "n_dilated": 4})

    def __init__(self, *, latent_dim: int = 10, window: int = 16, pool: int = 16,
                 nb_filters: int = 32, n_dilated: int = 4, epochs: int = 50,
                 batch_size: int = 64, lr: float = 1e-3, seed: int = 0, device: str = "auto",
                 val_fraction: float = 0.0, patience: int | None = None):
        self.latent_dim = latent_dim
        self.window = window
        self.pool = pool
        self.nb_filters = nb_filters
        self.n_dilated = n_dilated
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.seed = seed
        self.device = device
        self.val_fraction = val_fraction
        self.patience = patience

    def _build_module(self) -> torch.nn.Module:
        p = self._validate_params()
        return Spec2ImNet(int(self.state_["n_energy"]), p["window"], p["latent_dim"],
                          pool=p["pool"], nb_filters=p["nb_filters"], n_dilated=p["n_dilated"])

    def _output_shape(self) -> tuple[int, ...]:
        return (int(self.window), int(self.window))

    def _denormalize(self, out: np.ndarray) -> np.ndarray:
        norm = self.state_["haadf_norm"]
        lo, hi = float(norm["lo"][0]), float(norm["hi"][0])
        olo, ohi = float(norm["out_lo"][0]), float(norm["out_hi"][0])
        return ((out - olo) * ((hi - lo) / (ohi - olo)) + lo).astype(np.float32)

    def predict(self, si: SpectrumImage):
        """Predicted HAADF windows at every pixel whose window fits inside the image.

        Parameters
        ----------
        si : SpectrumImage
            Spectra with the energy length the model was fitted on (no HAADF needed).

        Returns
        -------
        numpy.ndarray, shape (ny, nx, w, w), float32
            HAADF units; NaN at the border and wherever ``si`` is not valid. For large
            images prefer :meth:`window_error_map`, which never holds all windows. For a
            lazy ``si``, a dask array chunked ``(cy, cx, w, w)`` like its scan.
        """
        si = self._check_input_si(si)
        return self._outputs(si, self._usable(si), "windows")

    def _window_errors(self, image: np.ndarray, block: np.ndarray, ok: np.ndarray,
                       offset: int) -> np.ndarray:
        """Relative errors ``(cy, cx)`` of the windows predicted from the spectra ``block``.

        The true windows are cut from ``image`` (the HAADF image, or a chunk's halo region
        whose row and column ``offset`` is the chunk's first pixel); NaN where not ``ok``.
        """
        cy, cx, ne = block.shape
        idx = np.flatnonzero(ok)
        pix = np.stack([idx // cx, idx % cx], axis=1) + offset
        out = np.full(cy * cx, np.nan, dtype=np.float32)
        for sl, pred in self._spectrum_batches(block.reshape(-1, ne), idx, "windows"):
            out[idx[sl]] = relative_error(cut_windows(image, pix[sl], int(self.window)),
                                          pred, axis=(1, 2))
        return out.reshape(cy, cx)

    def window_error_map(self, si: SpectrumImage):
        """Per-pixel relative squared error of the predicted windows, in percent.

        ``100 * sum (pred - true)^2 / sum true^2`` over the window, with the true window cut
        from ``si.haadf``; computed batch by batch (same result as
        ``eelswidgets.analysis.window_error_map(si.haadf, self.predict(si))``).

        Returns
        -------
        numpy.ndarray, shape (ny, nx), float32
            NaN at the border and wherever ``si`` is not valid. For a lazy ``si``, a dask
            array chunked like its scan.
        """
        si = self._check_input_si(si)
        if si.haadf is None:
            raise ValueError("window_error_map needs si.haadf (the true windows)")
        mask = self._usable(si)
        if si.is_lazy:
            err = map_windows(_error_block, self, si.haadf[None], mask, window=int(self.window),
                              chunks=si.data.chunks[:2], tail=(1,), label="Spec2Im-error",
                              extra=(si.data,))
            return err[..., 0]
        return self._window_errors(si.haadf, si.data, mask, 0)


def _window_block(model: _PairModel, region: np.ndarray, usable: np.ndarray, offset: int, *,
                  kind: str) -> np.ndarray:
    """One chunk of a lazy Im2Spec result: its halo region of the HAADF image in."""
    w = int(model.window)
    shape = (region.shape[-2] - w + 1, region.shape[-1] - w + 1)
    return model._window_outputs(region, usable, offset, shape, kind)


def _spectrum_block(model: _PairModel, block: np.ndarray, ok: np.ndarray, *,
                    kind: str) -> np.ndarray:
    """One chunk ``(cy, cx, ne)`` of a lazy Spec2Im result."""
    return model._spectrum_outputs(block, ok, kind)


def _error_block(model: Spec2Im, region: np.ndarray, usable: np.ndarray, offset: int,
                 block: np.ndarray) -> np.ndarray:
    """One chunk of a lazy window error map: the HAADF halo region and the chunk's spectra."""
    cy, cx = block.shape[:2]
    ok = usable[offset:offset + cy, offset:offset + cx]
    return model._window_errors(region[0], block, ok, offset)[..., None]
