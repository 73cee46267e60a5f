"""Lazy windows around pixels: views and indices, never a materialised window array.

A window of ``w x w`` pixels around each of the 65 536 pixels of a 256x256 map is 65 536
windows; stacking them all multiplies the memory by ``w**2`` (about 600 MB for 16x16 windows of
a 9-channel float32 stack). :class:`Windows` keeps one normalised copy of the stack and cuts the
windows of a mini-batch only when asked (:meth:`Windows.get_batch`), through one
``index_select`` on a flat view of the stack with the batch's pixel indices (no copy of the
stack per window).

Window geometry
---------------
The window of pixel ``(y, x)`` covers rows ``y - w//2 ... y - w//2 + w - 1`` (columns alike), so
the pixel itself sits at index ``w//2`` of its window for odd **and** even ``w``. For odd ``w``
the window is symmetric; for even ``w`` it has one more row/column before the pixel than after
it (the geometric centre is half a pixel up-left of the pixel's centre). Pixels whose window
would cross the image border are excluded: they are False in :attr:`Windows.valid_mask` and
NaN in the maps made by :meth:`Windows.to_map`. Which parity a model needs is its own
business: pass ``parity="odd"`` (or ``"even"``) to have it checked with a clear error. The
models of this package accept both: ``MultichannelRVAE`` rotates about the window's geometric
centre and ``Im2Spec``/``Spec2Im`` use even windows (16x16) as in the paper.

Normalisation
-------------
``"channel"`` (default, as in the paper): each channel is mapped to [0, 1] by its own minimum
and maximum over the whole map; ``"joint"``: one minimum and maximum over all channels;
``"none"``: values as they are. ``ranges`` then maps the [0, 1] interval of each channel to a
user range, e.g. ``ranges=[(0, 1), (0, 2), (0, 1)]`` gives channel 1 twice the weight. The
constants are in :attr:`Windows.normalization` (JSON-able), so new data can be normalised the
same way (``Windows(new_maps, w, normalization=old.normalization)``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import torch

from ._checks import as_float_array, check_choice, check_finite, check_int, check_mask

__all__ = ["ArrayWindows", "WindowSampler", "Windows", "border_mask", "check_window_fits",
           "cut_windows", "largest_window", "make_windows", "window_bounds", "window_slices"]

_NORMALIZE = ("channel", "joint", "none")


def window_bounds(window: int) -> tuple[int, int]:
    """Return ``(before, after)``: pixels of a window before and after its centre pixel.

    ``before + 1 + after == window``; ``before = window // 2``.

    Examples
    --------
    >>> window_bounds(5), window_bounds(4)
    ((2, 2), (2, 1))
    """
    w = check_int(window, "window", low=1)
    return w // 2, w - 1 - w // 2


def border_mask(shape, window: int) -> np.ndarray:
    """Pixels whose ``window x window`` window lies entirely inside an image of ``shape``.

    Parameters
    ----------
    shape : tuple of int
        ``(ny, nx)`` (further entries are ignored).
    window : int
        Window size ``w``.

    Returns
    -------
    numpy.ndarray of bool, shape (ny, nx)
        True for ``w//2 <= y <= ny - w + w//2`` (and likewise for ``x``); all False when the
        window is larger than the image.

    Examples
    --------
    >>> border_mask((4, 5), 3).astype(int)
    array([[0, 0, 0, 0, 0],
           [0, 1, 1, 1, 0],
           [0, 1, 1, 1, 0],
           [0, 0, 0, 0, 0]])
    """
    ny, nx = (check_int(v, "shape entry", low=0) for v in tuple(shape)[:2])
    before, after = window_bounds(window)
    out = np.zeros((ny, nx), dtype=bool)
    out[before:max(ny - after, 0), before:max(nx - after, 0)] = True
    return out


def window_slices(y: int, x: int, window: int, shape) -> tuple[slice, slice] | None:
    """Row and column slices of the window of pixel ``(y, x)``; None if it crosses the border.

    ``image[..., rows, cols]`` is then the ``w x w`` window the models see at that pixel.
    """
    before, _after = window_bounds(window)
    w = int(window)
    y0, x0 = int(y) - before, int(x) - before
    ny, nx = int(shape[-2]), int(shape[-1])
    if y0 < 0 or x0 < 0 or y0 + w > ny or x0 + w > nx:
        return None
    return slice(y0, y0 + w), slice(x0, x0 + w)


def cut_windows(image, pixels, window: int) -> np.ndarray:
    """Copy the windows around some pixels of an image or stack (index arithmetic).

    Only the windows asked for are copied, so callers cut a batch at a time.

    Parameters
    ----------
    image : numpy.ndarray, shape (ny, nx) or (C, ny, nx)
        The image (e.g. HAADF) or stack of maps, as stored (not normalised).
    pixels : array_like of int, shape (n, 2)
        ``(y, x)`` of each window's pixel; every window must lie inside the image (see
        :func:`border_mask`).
    window : int
        Window size ``w``.

    Returns
    -------
    numpy.ndarray, shape (n, w, w) or (n, C, w, w)
        Same dtype as ``image``.
    """
    img = np.asarray(image)
    pix = np.asarray(pixels, dtype=np.int64).reshape(-1, 2)
    before, after = window_bounds(window)
    ny, nx = img.shape[-2:]
    if pix.size and (pix[:, 0].min() < before or pix[:, 1].min() < before
                     or pix[:, 0].max() >= ny - after or pix[:, 1].max() >= nx - after):
        raise ValueError(f"some pixels have no {window}x{window} window inside the "
                         f"{ny}x{nx} image; keep pixels where border_mask is True")
    offs = np.arange(int(window)) - before
    rows = pix[:, 0:1] + offs[None, :]                     # (n, w)
    cols = pix[:, 1:2] + offs[None, :]
    if img.ndim == 2:
        return img[rows[:, :, None], cols[:, None, :]]
    return np.moveaxis(img[:, rows[:, :, None], cols[:, None, :]], 0, 1)


def largest_window(ny: int, nx: int, *, multiple: int = 1, minimum: int = 1) -> int | None:
    """The largest window that fits an image of ``ny x nx`` pixels, or None if none does.

    It must be at most the image's smaller side, a multiple of ``multiple`` (2: even, as
    Im2Spec needs; 4: as Spec2Im needs) and at least ``minimum``.
    """
    w = min(int(ny), int(nx)) // multiple * multiple
    return w if w >= minimum else None


def check_window_fits(window: int, ny: int, nx: int, who: str, *, multiple: int = 1,
                      minimum: int = 1) -> None:
    """Raise a ``ValueError`` naming the largest window that fits if ``window`` does not.

    Parameters
    ----------
    window : int
        The requested window size.
    ny, nx : int
        The image size in pixels.
    who : str
        The model, for the message (e.g. ``"Im2Spec"``).
    multiple, minimum : int
        The model's rules on the window size (see :func:`largest_window`).
    """
    if window <= min(ny, nx):
        return
    if multiple == 2:
        desc = "an even window"
    elif multiple > 2:
        desc = f"a window that is a multiple of {multiple}"
    else:
        desc = "a window"
    if minimum > max(multiple, 1):
        desc += f" of at least {minimum} pixels"
    needs = f" ({who} needs {desc})" if desc != "a window" else ""
    best = largest_window(ny, nx, multiple=multiple, minimum=minimum)
    if best is None:
        fix = (f"no window fits{needs}: the image is only {min(ny, nx)} pixel(s) across. "
               f"Windowed models need a scan at least {max(multiple, minimum)} pixels across; "
               "the spectral models (decompose, SpectralVAE) work on any scan, line scans "
               "included")
    else:
        fix = f"the largest window that fits{needs} is window={best}"
    raise ValueError(f"window={window} is larger than the image ({ny} x {nx} pixels; a window "
                     f"must be at most its smaller side, {min(ny, nx)}); {fix}")


def _check_parity(window: int, parity: str | None, who: str = "this model") -> None:
    if parity is None:
        return
    check_choice(parity, "parity", ("odd", "even"))
    if (window % 2 == 1) != (parity == "odd"):
        hint = (f"use window={window + 1} or {window - 1}" if window > 1
                else f"use window={window + 1}")
        raise ValueError(f"{who} needs an {parity} window size, got window={window}; {hint}")


def _as_stack(maps, name: str = "maps") -> np.ndarray:
    """Return a (C, ny, nx) float32 copy of a stack (or of a single 2D image)."""
    if isinstance(maps, torch.Tensor):
        maps = maps.detach().cpu().numpy()
    arr = as_float_array(maps, name, ndim=(2, 3), dtype=np.float32, copy=True)
    if arr.ndim == 2:
        arr = arr[None]
    if min(arr.shape) < 1:
        raise ValueError(f"{name} must be non-empty, got shape {arr.shape}")
    if not np.isfinite(arr.sum(dtype=np.float64)):  # NaN/Inf propagate; no temporary mask
        check_finite(arr, name)
    return arr


def _normalization_constants(arr: np.ndarray, axes: tuple[int, ...], normalize: str,
                             ranges, name: str) -> dict:
    """Compute per-channel ``lo``/``hi`` (input range) and ``out_lo``/``out_hi``."""
    check_choice(normalize, "normalize", _NORMALIZE)
    c = arr.shape[0] if axes == (1, 2) else arr.shape[1]
    if normalize == "channel":
        lo = arr.min(axis=axes).astype(np.float64)
        hi = arr.max(axis=axes).astype(np.float64)
        const = np.flatnonzero(hi <= lo)
        if const.size:
            raise ValueError(
                f"channel(s) {const.tolist()} of {name} are constant, so per-channel "
                f"normalisation would divide by zero; drop them (e.g. maps[[...]]) or use "
                f"normalize='joint' or 'none'")
    elif normalize == "joint":
        lo = np.full(c, float(arr.min()))
        hi = np.full(c, float(arr.max()))
        if hi[0] <= lo[0]:
            raise ValueError(f"{name} is constant, so normalisation would divide by zero; "
                             f"use normalize='none'")
    else:
        lo = np.zeros(c)
        hi = np.ones(c)
    out_lo, out_hi = np.zeros(c), np.ones(c)
    if ranges is not None:
        rng = np.asarray(ranges, dtype=np.float64)
        if rng.shape != (c, 2):
            raise ValueError(f"ranges must give one (low, high) pair per channel, i.e. shape "
                             f"({c}, 2), got shape {rng.shape}")
        if not np.all(np.isfinite(rng)) or np.any(rng[:, 1] <= rng[:, 0]):
            raise ValueError(f"every range must be finite with low < high, got "
                             f"{rng.tolist()}")
        out_lo, out_hi = rng[:, 0], rng[:, 1]
    return {"method": normalize, "lo": lo.tolist(), "hi": hi.tolist(),
            "out_lo": out_lo.tolist(), "out_hi": out_hi.tolist()}


def _apply_normalization(arr: np.ndarray, norm: dict, channel_axis: int) -> np.ndarray:
    """Normalise ``arr`` in place (it is our own copy) with the given constants."""
    c = arr.shape[channel_axis]
    try:
        lo, hi, olo, ohi = (np.asarray(norm[k], dtype=np.float64)
                            for k in ("lo", "hi", "out_lo", "out_hi"))
    except (KeyError, TypeError) as err:
        raise ValueError(f"normalization must be the dict of a fitted Windows object "
                         f"(keys lo, hi, out_lo, out_hi), got {norm!r}") from err
    if lo.shape != (c,):
        raise ValueError(f"the normalisation constants are for {lo.size} channels but the "
                         f"data has {c}; pass the same channels as at fit time")
    scale = (ohi - olo) / (hi - lo)
    shape = [1] * arr.ndim
    shape[channel_axis] = c
    arr -= lo.reshape(shape).astype(np.float32)
    arr *= scale.reshape(shape).astype(np.float32)
    arr += olo.reshape(shape).astype(np.float32)
    return arr


class _WindowSet:
    """What :class:`Windows` and :class:`ArrayWindows` share: batching for the trainer."""

    def __len__(self) -> int:
        raise NotImplementedError

    def gather(self, idx) -> torch.Tensor:
        """Windows ``idx``: ``(B, C, w, w)`` float32."""
        raise NotImplementedError

    def get_batch(self, idx) -> tuple[torch.Tensor]:
        """Trainer protocol: ``(windows,)`` for the indices ``idx``."""
        return (self.gather(idx),)

    def batches(self, batch_size: int = 512) -> Iterator[tuple[np.ndarray, torch.Tensor]]:
        """Iterate over all windows in order: yields ``(indices, windows)`` per batch."""
        bs = check_int(batch_size, "batch_size", low=1)
        for start in range(0, len(self), bs):
            idx = np.arange(start, min(start + bs, len(self)))
            yield idx, self.gather(idx)

    def _normalize(self, arr: np.ndarray, channel_axis: int, normalize: str, ranges,
                   normalization: dict | None, name: str) -> np.ndarray:
        """Scale ``arr`` (new constants, or another set's ``normalization``); keep them."""
        if normalization is None:
            axes = tuple(a for a in range(arr.ndim) if a != channel_axis)
            normalization = _normalization_constants(arr, axes, normalize, ranges, name)
        else:
            normalization = dict(normalization)
        self.normalization = normalization
        return _apply_normalization(arr, normalization, channel_axis)

    def _per_window(self, values) -> np.ndarray:
        """``values`` as a NumPy array, checked to hold one entry per window."""
        if isinstance(values, torch.Tensor):
            values = values.detach().cpu().numpy()
        vals = np.asarray(values)
        if vals.ndim == 0 or vals.shape[0] != len(self):
            raise ValueError(f"values must hold one entry per window ({len(self)}), got "
                             f"shape {vals.shape}")
        return vals


class Windows(_WindowSet):
    """Lazy ``w x w`` windows around every pixel of a stack of maps ``(C, ny, nx)``.

    Parameters
    ----------
    maps : array_like, shape (C, ny, nx) or (ny, nx)
        Stack of maps (e.g. NMF abundances) or a single image (e.g. HAADF; then C = 1).
        Must be finite. The input is copied, never modified.
    window : int
        Window size ``w`` (see the module docstring for the geometry of even sizes).
    normalize : {"channel", "joint", "none"}
        Per-channel [0, 1] scaling (default), one joint scaling, or none.
    ranges : sequence of (low, high), optional
        Per-channel output range replacing [0, 1], e.g. ``[(0, 1), (0, 2), (0, 1)]``.
    normalization : dict, optional
        Constants of another :class:`Windows` (its :attr:`normalization`) to reuse instead of
        computing new ones (``normalize`` and ``ranges`` are then ignored).
    mask : array_like of bool, shape (ny, nx), optional
        Only these centre pixels are used (e.g. a training region).
    parity : {"odd", "even"}, optional
        Window parity required by the caller; checked with a clear error.
    device : str or torch.device
        Where the normalised stack (and so every batch) lives.

    Attributes
    ----------
    stack : torch.Tensor, shape (C, ny, nx)
        The normalised stack (one float32 copy).
    valid_mask : numpy.ndarray of bool, shape (ny, nx)
        Pixels that have a window (inside the border margin and ``mask``).
    centers : numpy.ndarray of int64, shape (N, 2)
        ``(y, x)`` of every window, row-major order; window ``i`` is ``centers[i]``
        (computed on access: nothing per window is stored).

    Examples
    --------
    >>> import numpy as np
    >>> maps = np.random.default_rng(0).random((3, 20, 30))
    >>> win = Windows(maps, 5)
    >>> len(win), win.get_batch(np.arange(4))[0].shape
    (416, torch.Size([4, 3, 5, 5]))
    """

    def __init__(self, maps, window: int, *, normalize: str = "channel", ranges=None,
                 normalization: dict | None = None, mask=None, parity: str | None = None,
                 device: str | torch.device = "cpu"):
        arr = _as_stack(maps)
        c, ny, nx = arr.shape
        w = check_int(window, "window", low=1)
        _check_parity(w, parity)
        check_window_fits(w, ny, nx, "windows", multiple=1 if parity != "even" else 2)
        arr = self._normalize(arr, 0, normalize, ranges, normalization, "maps")
        self.window = w
        self.n_channels = c
        self.image_shape = (ny, nx)
        before, after = window_bounds(w)
        valid = border_mask((ny, nx), w)
        if mask is not None:
            valid &= check_mask(mask, (ny, nx), "mask")
            if not valid.any():
                raise ValueError("mask leaves no pixel whose window fits inside the image; "
                                 f"the usable pixels are at least {before} from the top/left "
                                 f"and {after} from the bottom/right border")
        valid.setflags(write=False)
        self.valid_mask = valid
        self._n = int(valid.sum())
        self.stack = torch.from_numpy(arr).to(device)
        dev = self.stack.device
        # Flat index of each window's top-left pixel: computed from the window number when
        # every window fits (no per-window storage), else kept as int32 (masked subsets).
        self._nvx = nx - w + 1
        self._corner = None
        if mask is not None:
            cy, cx = np.nonzero(valid)
            self._corner = torch.from_numpy(((cy - before) * nx + (cx - before)).astype(
                np.int32)).to(dev)
        rows = torch.arange(w, device=dev)
        self._offsets = (rows[:, None] * nx + rows[None, :]).reshape(-1)
        self._flat = self.stack.reshape(c, ny * nx)

    # ------------------------------------------------------------------ access
    def __len__(self) -> int:
        return self._n

    @property
    def centers(self) -> np.ndarray:
        """``(y, x)`` of every window ``(N, 2)``, row-major order (computed on each call)."""
        return np.argwhere(self.valid_mask)

    def __repr__(self) -> str:
        ny, nx = self.image_shape
        return (f"Windows(n={len(self)}, channels={self.n_channels}, window={self.window}, "
                f"image={ny}x{nx}, normalize={self.normalization['method']!r})")

    @property
    def device(self) -> torch.device:
        """Device of the stack and of every batch."""
        return self.stack.device

    @property
    def nbytes_materialized(self) -> int:
        """Bytes a materialised float32 array of every window would take (not allocated)."""
        return len(self) * self.n_channels * self.window ** 2 * 4

    def gather(self, idx) -> torch.Tensor:
        """Cut the windows ``idx`` (indices into :attr:`centers`): ``(B, C, w, w)`` float32.

        Only the batch is copied: one ``index_select`` on a flat view of the stack.
        """
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.stack.device).reshape(-1)
        if idx.numel() and (int(idx.min()) < -len(self) or int(idx.max()) >= len(self)):
            raise IndexError(f"window index out of range for {len(self)} windows")
        b, w = idx.numel(), self.window
        if self._corner is None:  # window i has its top-left pixel at (i // nvx, i % nvx)
            corner = (idx // self._nvx) * self.image_shape[1] + idx % self._nvx
        else:
            corner = self._corner[idx].long()
        pix = (corner[:, None] + self._offsets[None, :]).reshape(-1)
        out = self._flat.index_select(1, pix)                  # (C, B*w*w)
        return out.reshape(self.n_channels, b, w, w).transpose(0, 1).contiguous()

    def materialize(self) -> torch.Tensor:
        """All windows as one ``(N, C, w, w)`` tensor (for small data only)."""
        return self.gather(torch.arange(len(self)))

    def center_values(self) -> torch.Tensor:
        """Normalised values at the window centres, ``(N, C)``."""
        return self.stack[:, torch.from_numpy(self.valid_mask).to(self.stack.device)].T

    def to_map(self, values, fill: float = np.nan) -> np.ndarray:
        """Put per-window results back on the image grid.

        Parameters
        ----------
        values : array_like, shape (N, ...)
            One value (or vector/array) per window, in the order of :attr:`centers`.
        fill : float
            Value of the pixels without a window (default NaN).

        Returns
        -------
        numpy.ndarray, shape (ny, nx, ...)
            float32 (float64 if ``values`` is float64).
        """
        vals = self._per_window(values)
        dtype = np.float64 if vals.dtype == np.float64 else np.float32
        out = np.full(self.image_shape + vals.shape[1:], fill, dtype=dtype)
        out[self.valid_mask] = vals
        return out


#: alias, for readers who think of it as a sampler
WindowSampler = Windows


class ArrayWindows(_WindowSet):
    """A batch of ready-made windows ``(n, C, w, w)`` with the :class:`Windows` interface.

    Used when a model is given windows directly (tests, windows from elsewhere). The windows
    are copied and normalised with the same options as :class:`Windows` (minimum and maximum
    per channel over all windows). ``to_map`` returns the values unchanged (there is no image).

    Parameters
    ----------
    windows : array_like, shape (n, C, w, w)
        The windows.
    normalize, ranges, normalization, parity, device
        As for :class:`Windows`.
    """

    def __init__(self, windows, *, normalize: str = "channel", ranges=None,
                 normalization: dict | None = None, parity: str | None = None,
                 device: str | torch.device = "cpu"):
        if isinstance(windows, torch.Tensor):
            windows = windows.detach().cpu().numpy()
        arr = as_float_array(windows, "windows", ndim=4, dtype=np.float32, copy=True)
        n, c, h, w = arr.shape
        if h != w:
            raise ValueError(f"windows must be square, got {h}x{w}")
        if n < 1 or c < 1 or w < 1:
            raise ValueError(f"windows must be non-empty, got shape {arr.shape}")
        check_finite(arr, "windows")
        _check_parity(w, parity)
        arr = self._normalize(arr, 1, normalize, ranges, normalization, "windows")
        self.window = w
        self.n_channels = c
        self.data = torch.from_numpy(arr).to(device)

    def __len__(self) -> int:
        return int(self.data.shape[0])

    @property
    def device(self) -> torch.device:
        """Device of the windows."""
        return self.data.device

    def gather(self, idx) -> torch.Tensor:
        """Windows ``idx``: ``(B, C, w, w)``."""
        idx = torch.as_tensor(idx, dtype=torch.long, device=self.data.device).reshape(-1)
        return self.data[idx]

    def materialize(self) -> torch.Tensor:
        """All windows ``(n, C, w, w)``."""
        return self.data

    def to_map(self, values, fill: float = np.nan) -> np.ndarray:
        """Return ``values`` as a NumPy array (one entry per window; there is no image)."""
        vals = self._per_window(values)
        return vals.astype(np.float64 if vals.dtype == np.float64 else np.float32)


def make_windows(data, window: int | None = None, *, normalize: str = "channel",
                 ranges=None, normalization: dict | None = None, mask=None,
                 parity: str | None = None, device="cpu",
                 expect_channels: int | None = None,
                 expect_window: int | None = None) -> Windows | ArrayWindows:
    """Return :class:`Windows` for a stack/image or :class:`ArrayWindows` for ``(n, C, w, w)``.

    ``expect_channels``/``expect_window`` check the data against what a fitted model expects.
    """
    ndim = np.ndim(data) if not isinstance(data, torch.Tensor) else data.ndim
    if ndim == 4:
        if mask is not None:
            raise ValueError("mask applies to a stack of maps, not to ready-made windows")
        win: Windows | ArrayWindows = ArrayWindows(
            data, normalize=normalize, ranges=ranges, normalization=normalization,
            parity=parity, device=device)
        if window is not None and win.window != window:
            raise ValueError(f"the windows are {win.window}x{win.window} but window={window}")
    elif ndim in (2, 3):
        if window is None:
            raise ValueError("window is required for a stack of maps")
        if expect_channels is not None:
            c = 1 if ndim == 2 else int(np.shape(data)[0])
            if c != expect_channels:
                raise ValueError(f"the model was fitted on {expect_channels} channel(s) but "
                                 f"the stack has {c}; pass the same channels (maps[[...]])")
        win = Windows(data, window, normalize=normalize, ranges=ranges,
                      normalization=normalization, mask=mask, parity=parity, device=device)
    else:
        raise ValueError(f"expected a stack (C, ny, nx), an image (ny, nx) or windows "
                         f"(n, C, w, w); got {ndim} dimensions")
    if expect_channels is not None and win.n_channels != expect_channels:
        raise ValueError(f"the model was fitted on {expect_channels} channel(s) but the data "
                         f"has {win.n_channels}; pass the same channels")
    if expect_window is not None and win.window != expect_window:
        raise ValueError(f"the model was fitted on {expect_window}x{expect_window} windows, "
                         f"got {win.window}x{win.window}")
    return win
