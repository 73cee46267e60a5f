"""The one data object: a STEM-EELS spectrum image with its energy axis and HAADF image."""

from __future__ import annotations

import copy
import numbers
import os
from typing import Any

import numpy as np

from . import _lazy
from . import preprocess as _pp
from . import spikes as _spikes
from . import zlp_align as _zlp
from ._checks import (
    as_float_array,
    check_choice,
    check_finite,
    check_int,
    check_mask,
    frozen_float_array,
)

__all__ = ["SpectrumImage"]


class SpectrumImage:
    """A spectrum image: cube ``(ny, nx, ne)``, energy axis in eV and an optional HAADF image.

    The constructor validates its inputs and never writes to them; every method returns a new
    object (or an array) and nothing is modified in place. The arrays are stored read-only and
    with at most one copy: a ``data`` cube that is already float32 and C-contiguous is *not*
    copied but kept as a read-only view (so a large cube is not doubled in memory); pass
    ``data.copy()`` if you will keep changing your array afterwards. Any other cube is
    converted once; the small arrays (energy, HAADF, valid) are always copied.

    **Lazy data.** A ``dask.array.Array`` cube is kept lazy (:attr:`is_lazy`): nothing is
    computed on construction. It is chunked over the scan with whole spectra per chunk
    (``(cy, cx, ne)``; its own chunks are kept when the energy axis is whole, else about
    64 MiB chunks are chosen), converted to float32 lazily, and its finiteness is checked chunk
    by chunk when it is computed (a ``ValueError`` names the chunk and the first bad pixel).
    The preprocessing methods return lazy spectrum images (they run the same numpy kernels on
    every chunk; :meth:`align_zlp` and :meth:`remove_spikes` first compute what they need of
    the whole cube: the shift map, the noise model), the reductions (:meth:`mean_spectrum`,
    :meth:`energy_image`, :meth:`spectrum`) compute their small results, and :meth:`compute` /
    :meth:`persist` are explicit. See :meth:`as_lazy`, :meth:`rechunk` and
    ``ew.load(path, lazy=True)``.

    Parameters
    ----------
    data : array_like or dask.array.Array, shape (ny, nx, ne)
        The spectra, stored as float32. Must be finite wherever ``valid`` is True. A
        ``numpy.ma.MaskedArray`` is refused (its mask would be lost): pass
        ``np.ma.filled(x.astype(float), np.nan)`` with ``valid=~np.ma.getmaskarray(x).any(-1)``.
    energy : array_like, shape (ne,)
        Energy-loss axis in eV, strictly increasing (uniform or not).
    haadf : array_like, shape (ny, nx), optional
        Registered HAADF (or any simultaneously acquired) image.
    pixel_size : float
        Size of one pixel in ``pixel_unit`` (default 1.0).
    pixel_unit : str
        Unit of ``pixel_size`` (default ``"nm"``).
    metadata : dict, optional
        Free-form acquisition metadata (copied).
    truth : dict, optional
        Ground truth for synthetic data (copied), e.g. noise-free cube, component spectra.
    valid : array_like of bool, shape (ny, nx), optional
        Pixels that hold a value. Pixels outside it (e.g. the border a windowed model cannot
        see) may be NaN. Default: every pixel is valid.
    name : str
        A short title used in plots and the repr.

    Examples
    --------
    >>> import numpy as np, eelswidgets as ew
    >>> si = ew.SpectrumImage(np.ones((4, 5, 10)), energy=np.linspace(0, 2, 10))
    >>> si.shape
    (4, 5, 10)
    """

    def __init__(self, data, energy, haadf=None, *, pixel_size: float = 1.0,
                 pixel_unit: str = "nm", metadata: dict | None = None,
                 truth: dict | None = None, valid=None, name: str = ""):
        lazy = _lazy.is_lazy_array(data)
        cube = _lazy.lazy_cube(data, "data") if lazy else frozen_float_array(data, "data", ndim=3)
        ny, nx, ne = cube.shape
        if min(ny, nx, ne) < 1:
            raise ValueError(f"data must be non-empty in every dimension, got shape {cube.shape}")
        e = as_float_array(energy, "energy", ndim=1, dtype=np.float64)  # small: always copied
        if e.size != ne:
            raise ValueError(f"energy has {e.size} values but data has {ne} energy channels "
                             f"(data shape {cube.shape}); pass one energy per channel")
        check_finite(e, "energy")
        if ne > 1 and not np.all(np.diff(e) > 0):
            raise ValueError("energy must be strictly increasing; sort the channels "
                             "(np.argsort(energy)) and reorder data along its last axis")
        if valid is None:
            vmask = np.ones((ny, nx), dtype=bool)
        else:
            vmask = check_mask(valid, (ny, nx), "valid")
        tiles = None
        if lazy:
            tiles = _lazy.stored_tiles(cube, vmask, "data")  # a cube read straight from a file
            cube = _lazy.checked(cube, "data", vmask)  # checked when a chunk is computed
        else:
            check_finite(cube, "data", where=vmask)
        h = None
        if haadf is not None:
            h = as_float_array(haadf, "haadf", ndim=2)
            if h.shape != (ny, nx):
                raise ValueError(f"haadf has shape {h.shape} but data has {ny}x{nx} pixels; "
                                 "the HAADF image must be registered to the spectrum image; "
                                 "for an image sampled an integer number of times per pixel "
                                 "use si.attach_haadf(image)")
            check_finite(h, "haadf")
        ps = float(pixel_size)
        if not np.isfinite(ps) or ps <= 0:
            raise ValueError(f"pixel_size must be a positive number, got {pixel_size!r}")
        if not isinstance(pixel_unit, str):
            raise TypeError(f"pixel_unit must be a string such as 'nm', got {pixel_unit!r}")
        for label, d in (("metadata", metadata), ("truth", truth)):
            if d is not None and not isinstance(d, dict):
                raise TypeError(f"{label} must be a dict, got {type(d).__name__}")
        self._data = cube
        self._tiles = tiles
        self._energy = e
        self._haadf = h
        self._valid = vmask
        self.pixel_size = ps
        self.pixel_unit = pixel_unit
        self.metadata = copy.deepcopy(metadata) if metadata else {}
        self.truth = copy.deepcopy(truth) if truth else {}
        self.name = str(name)
        for arr in (self._energy, self._valid) + ((h,) if h is not None else ()):
            arr.setflags(write=False)

    # ------------------------------------------------------------------ properties
    @property
    def data(self) -> np.ndarray:
        """The cube ``(ny, nx, ne)``, float32, read-only (use ``.copy()`` to edit).

        A ``dask.array.Array`` chunked ``(cy, cx, ne)`` for a lazy spectrum image.
        """
        return self._data

    @property
    def is_lazy(self) -> bool:
        """Whether the cube is a dask array (computed only by :meth:`compute` and reductions)."""
        return _lazy.is_lazy_array(self._data)

    @property
    def chunks(self) -> tuple[int, int, int] | None:
        """Largest chunk ``(cy, cx, ne)`` of a lazy cube, None in memory."""
        if not self.is_lazy:
            return None
        return tuple(int(max(c)) for c in self._data.chunks)  # type: ignore[return-value]

    @property
    def storage(self) -> _lazy.StoredTiles | None:
        """Checked reads of the file's storage chunks under a lazy cube loaded from a file.

        Set for the cube ``ew.load(path, lazy=True)`` returns (``.zarr``, ``.h5``): a spectrum
        is then read from the one storage chunk that holds it, not through its whole dask
        chunk, and checked as the chunk check does. None in memory and for derived lazy
        spectrum images (cropped, processed, ...), whose spectra are read by chunks.
        """
        return self._tiles

    @property
    def energy(self) -> np.ndarray:
        """Energy axis ``(ne,)`` in eV, read-only."""
        return self._energy

    @property
    def haadf(self) -> np.ndarray | None:
        """HAADF image ``(ny, nx)`` or None, read-only."""
        return self._haadf

    @property
    def valid(self) -> np.ndarray:
        """Boolean ``(ny, nx)`` mask of pixels that hold a value."""
        return self._valid

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(ny, nx, ne)``."""
        return self._data.shape

    @property
    def ny(self) -> int:
        """Number of rows."""
        return self._data.shape[0]

    @property
    def nx(self) -> int:
        """Number of columns."""
        return self._data.shape[1]

    @property
    def ne(self) -> int:
        """Number of energy channels."""
        return self._data.shape[2]

    @property
    def dispersion(self) -> float:
        """Mean channel width in eV (0 for a single channel)."""
        return float(np.mean(np.diff(self._energy))) if self.ne > 1 else 0.0

    # ------------------------------------------------------------------ helpers
    def replace(self, **changes: Any) -> SpectrumImage:
        """Return a new SpectrumImage with some fields replaced (validated again).

        Parameters
        ----------
        **changes
            Any constructor argument: ``data``, ``energy``, ``haadf``, ``pixel_size``,
            ``pixel_unit``, ``metadata``, ``truth``, ``valid``, ``name``.
        """
        fields = dict(data=self._data, energy=self._energy, haadf=self._haadf,
                      pixel_size=self.pixel_size, pixel_unit=self.pixel_unit,
                      metadata=self.metadata, truth=self.truth, valid=self._valid,
                      name=self.name)
        unknown = set(changes) - set(fields)
        if unknown:
            raise TypeError(f"unknown field(s) {sorted(unknown)}; allowed: {sorted(fields)}")
        fields.update(changes)
        return SpectrumImage(**fields)

    def copy(self) -> SpectrumImage:
        """Return an independent copy (the cube is copied too; a lazy cube stays lazy)."""
        return self.replace(data=self._data.copy())

    # ------------------------------------------------------------------ lazy data
    def compute(self) -> SpectrumImage:
        """An in-memory SpectrumImage (computes a lazy cube; an in-memory one is returned)."""
        if not self.is_lazy:
            return self
        return self.replace(data=self._data.compute())

    def persist(self) -> SpectrumImage:
        """A lazy SpectrumImage whose chunks are computed now and kept.

        The chunks stay in memory (or on a cluster's workers); later steps start from them
        instead of the file. An in-memory SpectrumImage is returned as it is.
        """
        if not self.is_lazy:
            return self
        return self.replace(data=self._data.persist())

    def as_lazy(self, chunks="auto") -> SpectrumImage:
        """A lazy SpectrumImage over the same cube, chunked ``(cy, cx, ne)``.

        Parameters
        ----------
        chunks : "auto", (cy, cx) or (cy, cx, ne)
            Pixels per chunk along y and x (the energy axis stays whole); "auto" gives chunks
            of about 64 MiB.
        """
        if self.is_lazy:
            return self.rechunk(chunks)
        import dask.array as da

        cube = da.from_array(self._data, chunks=_lazy.scan_chunks(self.shape, chunks))
        return self.replace(data=cube)

    def rechunk(self, chunks="auto") -> SpectrumImage:
        """A lazy SpectrumImage with other chunks over the scan (see :meth:`as_lazy`)."""
        if not self.is_lazy:
            raise ValueError("rechunk applies to a lazy SpectrumImage; use si.as_lazy(chunks) "
                             "to make one from an in-memory cube")
        return self.replace(data=self._data.rechunk(_lazy.scan_chunks(self.shape, chunks)))

    def _with_history(self, step: str, **changes: Any) -> SpectrumImage:
        meta = copy.deepcopy(self.metadata)
        meta.setdefault("processing", []).append(step)
        return self.replace(metadata=meta, **changes)

    def attach_haadf(self, image) -> SpectrumImage:
        """Return a copy with an image (HAADF, ADF...) acquired with the spectra attached.

        Acquisition software often saves the simultaneously acquired HAADF image as a separate
        file, sometimes sampled more finely than the spectrum image. An image whose shape is an
        integer multiple ``(fy * ny, fx * nx)`` of the spectrum-image grid is block-averaged
        onto it (one value per spectrum-image pixel, the mean of its ``fy x fx`` samples).

        Both are assumed to be stored as ``(y, x)`` = (rows, columns) over the same scanned
        area, as Digital Micrograph, HyperSpy and rosettasciio do; the image is not flipped,
        transposed or registered.

        Parameters
        ----------
        image : array_like (ny_img, nx_img) or str or os.PathLike
            The image, or a file holding it (``.dm3``, ``.dm4``, ``.hspy``, ``.emd``, or the
            project's own ``.npz``/``.h5`` whose HAADF is used); read with
            :func:`eelswidgets.io.read_image`.

        Returns
        -------
        SpectrumImage
            ``metadata["haadf_source"]`` records the original shape, the samples per pixel and
            the file name when the image came from a file.

        Raises
        ------
        ValueError
            The image's shape is not an integer multiple of ``(ny, nx)`` (the message names
            both shapes), or it holds NaN/Inf.
        """
        source: dict[str, Any] = {}
        if isinstance(image, (str, os.PathLike)):
            from .io import read_image  # io builds on this class; imported lazily

            source["file"] = os.path.basename(os.fspath(image))
            image = read_image(image)
        img = as_float_array(image, "haadf image", ndim=2, dtype=np.float64)
        check_finite(img, "haadf image")
        h = _pp.block_average(img, (self.ny, self.nx))
        fy, fx = img.shape[0] // self.ny, img.shape[1] // self.nx
        meta = copy.deepcopy(self.metadata)
        meta["haadf_source"] = {**source, "shape": list(img.shape), "samples_per_pixel": [fy, fx]}
        meta.setdefault("processing", []).append(
            f"attach_haadf({source.get('file', 'array')}, {fy}x{fx} samples per pixel)")
        return self.replace(metadata=meta, haadf=h)

    # ------------------------------------------------------------------ selection
    def crop_energy(self, lo: float, hi: float) -> SpectrumImage:
        """Keep the channels with ``lo <= E <= hi`` (eV)."""
        sl = _pp.energy_slice(self._energy, lo, hi)
        return self._with_history(f"crop_energy({lo}, {hi})", data=self._data[..., sl],
                                  energy=self._energy[sl])

    def crop(self, y0: int, y1: int, x0: int, x1: int) -> SpectrumImage:
        """Keep pixels ``y0 <= y < y1`` and ``x0 <= x < x1`` (Python slice semantics)."""
        ys = slice(*slice(y0, y1).indices(self.ny))
        xs = slice(*slice(x0, x1).indices(self.nx))
        if ys.stop <= ys.start or xs.stop <= xs.start:
            raise ValueError(f"crop ({y0}:{y1}, {x0}:{x1}) is empty for an image of "
                             f"{self.ny}x{self.nx} pixels")
        truth = {k: v[ys, xs] if isinstance(v, np.ndarray) and v.shape[:2] == (self.ny, self.nx)
                 else v for k, v in self.truth.items()}
        return self._with_history(
            f"crop({y0}, {y1}, {x0}, {x1})", data=self._data[ys, xs],
            haadf=None if self._haadf is None else self._haadf[ys, xs],
            valid=self._valid[ys, xs], truth=truth)

    def bin(self, spatial: int = 1, energy: int = 1) -> SpectrumImage:
        """Sum ``spatial x spatial`` pixel blocks and ``energy`` channels (counts add up)."""
        spatial = check_int(spatial, "spatial", low=1, high=min(self.ny, self.nx))
        energy = check_int(energy, "energy", low=1, high=self.ne)
        if not self._valid.all():
            raise ValueError("cannot bin a SpectrumImage with invalid pixels; crop them first")
        if self.is_lazy:
            cube = _bin_lazy(self._data, self._energy, spatial, energy)
            e, h = _pp.bin_axes(self._energy, self._haadf, spatial, energy)
        else:
            cube, e, h = _pp.bin_cube(self._data, self._energy, self._haadf, spatial, energy)
        ny, nx = cube.shape[:2]
        return self._with_history(f"bin(spatial={spatial}, energy={energy})", data=cube,
                                  energy=e, haadf=h, valid=np.ones((ny, nx), bool),
                                  pixel_size=self.pixel_size * spatial, truth={})

    def clip(self, lo: float | None = 0.0, hi: float | None = None) -> SpectrumImage:
        """Clip intensities to ``[lo, hi]`` (e.g. make a cube non-negative for NMF).

        ``None`` leaves that side open; at least one bound is needed and ``lo <= hi``.
        """
        bounds = []
        for label, v in (("lo", lo), ("hi", hi)):
            if v is not None and (isinstance(v, bool) or not isinstance(v, numbers.Real)
                                  or np.isnan(v)):
                raise TypeError(f"clip: {label} must be a number or None, got {v!r}")
            bounds.append(None if v is None else float(v))
        lo_f, hi_f = bounds
        if lo_f is None and hi_f is None:
            raise ValueError("clip needs at least one bound: pass lo, hi or both")
        if lo_f is not None and hi_f is not None and lo_f > hi_f:
            raise ValueError(f"clip: lo ({lo}) is greater than hi ({hi}); pass lo <= hi")
        return self._with_history(f"clip({lo}, {hi})", data=np.clip(self._data, lo_f, hi_f))

    # ------------------------------------------------------------------ processing
    def normalize(self, method: str = "area") -> SpectrumImage:
        """Normalise spectra: ``"area"`` (per-pixel integral), ``"max"`` or ``"global"``.

        See :func:`eelswidgets.preprocess.normalize_cube`.
        """
        check_choice(method, "normalisation method", _pp.NORMALIZE_METHODS)
        if not self.is_lazy:
            cube = _normalize_block(self._data, self._valid, energy=self._energy, method=method)
        else:
            scale = (np.abs(np.nan_to_num(self._data)).max(),) if method == "global" else ()
            cube = _lazy.map_spectra(_normalize_block, self._data, maps=(self._valid,),
                                     lazy_args=scale, energy=self._energy, method=method)
        return self._with_history(f"normalize({method!r})", data=cube)

    def remove_zlp(self, fit_window: tuple[float, float] = (0.2, 0.35), *,
                   model: str = "powerlaw", cut: float | None = None) -> SpectrumImage:
        """Remove the zero-loss-peak tail and truncate the axis below ``cut``.

        The tail is fitted per pixel over ``fit_window`` (eV) with a power law ``A E^-r``
        (``model="powerlaw"``) or a two-term exponential (``model="exp2"``), subtracted, and
        channels below ``cut`` (default: the start of the fit window) are dropped, as done for
        low-loss plasmon maps. Only the kept channels are computed, so channels at ``E <= 0``
        (the zero-loss peak) are fine as long as ``cut`` is above them.

        Parameters
        ----------
        fit_window : (float, float)
            Energy window of the tail fit, above the ZLP and below the first plasmon peak.
        model : {"powerlaw", "exp2"}
            Tail model.
        cut : float, optional
            Lowest energy kept.
        """
        cut = float(fit_window[0]) if cut is None else float(cut)
        sl = _pp.energy_slice(self._energy, cut, float(self._energy[-1]))
        cube = self._background_removed(fit_window, model, sl)
        return self._with_history(f"remove_zlp({tuple(fit_window)}, model={model!r})",
                                  data=cube, energy=self._energy[sl])

    def align_zlp(self, search: tuple[float, float] | None = None, *,
                  return_shifts: bool = False):
        """Shift every spectrum so that its zero-loss peak sits at 0 eV.

        The ZLP position is found per pixel to a fraction of a channel, every spectrum is
        resampled by linear interpolation onto one axis that has a channel at 0 eV (same
        spacing), and the axis is cropped to the energies that every pixel measured. See
        :mod:`eelswidgets.zlp_align` for the method and why the interpolation is linear.

        Parameters
        ----------
        search : (float, float), optional
            Energy window (eV, on the current axis) that holds the ZLP at every pixel; default
            the whole axis. Narrow it when another feature could be taken for the ZLP.
        return_shifts : bool
            Also return the shift map.

        Returns
        -------
        SpectrumImage, or (SpectrumImage, numpy.ndarray) if ``return_shifts``
            The aligned spectrum image (float32). For a lazy spectrum image the shift map is
            computed now (it fixes the common axis), reading the ``search`` window of every
            pixel into memory (pass a narrow window for a large scan); the resampling stays
            lazy. The shift map, the energy (eV) on the
            original axis at which the ZLP of each pixel was found (NaN at invalid pixels), is
            also kept in ``metadata["zlp_shifts"]`` (a nested list, None at invalid pixels).

        Raises
        ------
        ValueError
            Pixels without a clear ZLP (the message lists them and says what to do), or a
            drift larger than the energy range.

        Examples
        --------
        >>> aligned, shifts = si.align_zlp(return_shifts=True)   # doctest: +SKIP
        >>> float(np.ptp(shifts))          # drift across the scan, eV   # doctest: +SKIP
        """
        if self.is_lazy:  # the shift map needs every pixel: computed from the search window
            sl = _zlp.search_slice(self._energy, search)
            pos = _zlp.zlp_positions(self._data[..., sl].compute(), self._energy[sl],
                                     self._valid)
            energy = _zlp.common_axis(self._energy, pos, self._valid)
            cube = _lazy.map_spectra(_resample_block, self._data, maps=(pos, self._valid),
                                     ne_out=energy.size, energy=self._energy, grid=energy)
        else:
            pos = _zlp.zlp_positions(self._data, self._energy, self._valid, search)
            cube, energy = _zlp.shift_to_common_axis(self._data, self._energy, pos,
                                                     self._valid)
        meta = copy.deepcopy(self.metadata)
        meta["zlp_shifts"] = [[None if np.isnan(v) else float(v) for v in row] for row in pos]
        meta.setdefault("processing", []).append(
            f"align_zlp(search={search}): ZLP at {np.nanmin(pos):.4g}..{np.nanmax(pos):.4g} eV "
            f"moved to 0 eV, axis {energy[0]:.4g}..{energy[-1]:.4g} eV")
        out = self.replace(data=cube, energy=energy, metadata=meta)
        return (out, pos) if return_shifts else out

    def remove_spikes(self, threshold: float = _spikes.DEFAULT_THRESHOLD, *,
                      return_report: bool = False):
        """Replace spikes (cosmic rays, hot detector pixels), without any interaction.

        A spike is a value far above the local noise that is narrow in energy (one or two
        channels) and that no neighbouring pixel has at that energy (within one channel), so
        sharp features that are spatially extended (the zero-loss peak, an edge onset, a white
        line) are left alone. Each one is replaced by the local spectrum (median of 5 channels)
        plus the fine structure the neighbours have there. See :mod:`eelswidgets.spikes` for
        the exact test. A spike on the top of the ZLP, where the neighbours' peaks differ as
        much, cannot be told apart and is kept; a 1 x 1 image has no neighbours and is kept.

        Parameters
        ----------
        threshold : float
            In units of the local (Poisson-model) noise; default 8.
        return_report : bool
            Also return a :class:`~eelswidgets.spikes.SpikeReport` (count, mask, locations).

        Returns
        -------
        SpectrumImage, or (SpectrumImage, SpikeReport) if ``return_report``
            The count is always recorded in ``metadata["processing"]``. For a lazy spectrum
            image the noise model's two medians over the whole cube and the count are
            computed now (the cube is read five times, chunk by chunk; the medians are exact);
            the cleaned cube stays lazy (each chunk is flagged with a one-pixel rim of its
            neighbours).

        Examples
        --------
        >>> clean, report = si.remove_spikes(return_report=True)   # doctest: +SKIP
        >>> report.count, report.locations[:3]                    # doctest: +SKIP
        """
        if isinstance(threshold, bool) or not isinstance(threshold, numbers.Real):
            raise TypeError(f"threshold must be a number of noise units, got {threshold!r}")
        if not np.isfinite(threshold) or threshold <= 0:
            raise ValueError(f"threshold must be a positive, finite number of noise units, "
                             f"got {threshold!r}")
        if self.is_lazy:
            cube, mask = _lazy_spikes(self._data, self._valid, float(threshold))
            import dask

            count, n_pixels = (int(v) for v in dask.compute(mask.sum(), mask.any(-1).sum()))
            report = (_spike_report(self._data, cube, mask.compute(), self._energy)
                      if return_report else None)
        else:
            mask, cube = _spikes.find_spikes(self._data, self._valid, float(threshold))
            report = _spike_report(self._data, cube, mask, self._energy)
            count, n_pixels = report.count, len(report.pixels)
        out = self._with_history(
            f"remove_spikes(threshold={float(threshold):g}): {count} value(s) replaced "
            f"in {n_pixels} pixel(s)", data=cube)
        return (out, report) if return_report else out

    def remove_background(self, window: tuple[float, float], model: str = "powerlaw"
                          ) -> SpectrumImage:
        """Subtract a core-loss pre-edge background ``A E^-r`` fitted per pixel over ``window``.

        The fit is the standard weighted log-log least squares (Poisson weights), so pixels with
        few counts still give a finite background. The axis is kept whole, so with the power
        law it must not include ``E <= 0`` (where ``E^-r`` is undefined): crop those channels
        first (``crop_energy``), or use :meth:`remove_zlp`, which drops them.
        """
        cube = self._background_removed(window, model)
        return self._with_history(f"remove_background({tuple(window)}, {model!r})", data=cube)

    def _background_removed(self, window, model: str, channels: slice | None = None):
        """The cube minus a background fitted per pixel (lazy for a lazy cube)."""
        if not self.is_lazy:
            return _pp.subtract_background(self._data, self._energy, window, model,
                                           channels=channels)
        fit, keep = _pp.background_channels(self._energy, window, model, channels)
        decays: tuple = ()
        if model == "exp2":  # decay constants from the mean spectrum of the whole cube
            mean = self._data[..., fit].astype(np.float64).mean(axis=(0, 1))
            decays = (mean.map_blocks(_pp.fit_exp_decays, e=self._energy[fit].astype(np.float64),
                                      chunks=(3,), dtype=np.float64, meta=np.empty(0)),)
        n_out = len(range(*keep.indices(self.ne)))
        return _lazy.map_spectra(_background_block, self._data, lazy_args=decays, ne_out=n_out,
                                 energy=self._energy, window=window, model=model,
                                 channels=channels)

    # ------------------------------------------------------------------ reductions
    def mean_spectrum(self, mask=None) -> np.ndarray:
        """Mean spectrum over valid pixels (optionally inside a boolean ``mask``)."""
        m = self._valid if mask is None else check_mask(mask, (self.ny, self.nx)) & self._valid
        if not m.any():
            raise ValueError("mean_spectrum: the mask selects no valid pixel")
        if not self.is_lazy:
            return self._data[m].mean(axis=0, dtype=np.float64).astype(np.float32)
        import dask.array as da

        inside = da.from_array(m[..., None], chunks=(*self._data.chunks[:2], 1))
        total = da.where(inside, self._data, 0).sum(axis=(0, 1), dtype=np.float64)
        return (total / np.count_nonzero(m)).astype(np.float32).compute()

    def energy_image(self, lo: float, hi: float) -> np.ndarray:
        """Sum of the channels with ``lo <= E <= hi`` at every pixel, ``(ny, nx)`` float32."""
        sl = _pp.energy_slice(self._energy, lo, hi)
        image = self._data[..., sl].sum(axis=-1, dtype=np.float64).astype(np.float32)
        return image.compute() if self.is_lazy else image

    def spectrum(self, y: int, x: int) -> np.ndarray:
        """The spectrum at pixel ``(y, x)`` (a copy).

        For a lazy cube, one chunk is read (one storage chunk, see :attr:`storage`).
        """
        y = check_int(y, "y", low=-self.ny, high=self.ny - 1)
        x = check_int(x, "x", low=-self.nx, high=self.nx - 1)
        if self._tiles is not None:
            return self._tiles.spectrum(y % self.ny, x % self.nx)
        return np.array(self._data[y, x])

    # ------------------------------------------------------------------ I/O
    def save(self, path, *, chunks=None) -> None:
        """Write to ``path`` (``.npz``, ``.h5`` or ``.zarr``; see :func:`eelswidgets.io.save`).

        ``chunks``: pixels per storage chunk of a ``.zarr`` store (default about 1 MiB).
        """
        from .io import save  # io builds on this class; imported lazily

        save(self, path, chunks=chunks)

    def to_hyperspy(self):
        """Return an ``exspy`` EELSSpectrum (lazy for a lazy cube; needs the ``io`` extra)."""
        from .io import to_hyperspy

        return to_hyperspy(self)

    # ------------------------------------------------------------------ dunder
    def __repr__(self) -> str:
        ny, nx, ne = self.shape
        e0, e1 = self._energy[0], self._energy[-1]
        disp = f", {self.dispersion * 1000:.3g} meV/ch" if ne > 1 else ""
        fov = f"{ny * self.pixel_size:.4g} x {nx * self.pixel_size:.4g} {self.pixel_unit}"
        parts = [f"{ny} x {nx} px ({fov}, {self.pixel_size:.4g} {self.pixel_unit}/px)",
                 f"{ne} channels {e0:.4g}–{e1:.4g} eV{disp}",
                 "HAADF" if self._haadf is not None else "no HAADF"]
        if not self._valid.all():
            parts.append(f"{int(self._valid.sum())} valid px")
        if self.is_lazy:
            parts.append("lazy, chunks {} x {} x {}".format(*self.chunks))
        if self.truth:
            parts.append(f"truth: {', '.join(sorted(self.truth))}")
        title = f" {self.name!r}" if self.name else ""
        return f"<SpectrumImage{title}: " + "; ".join(parts) + ">"

    def __eq__(self, other) -> bool:
        """Exact equality of arrays, calibration and metadata (for round-trip tests)."""
        if not isinstance(other, SpectrumImage):
            return NotImplemented
        return (np.array_equal(np.asarray(self._data), np.asarray(other._data), equal_nan=True)
                and np.array_equal(self._energy, other._energy)
                and ((self._haadf is None and other._haadf is None)
                     or (self._haadf is not None and other._haadf is not None
                         and np.array_equal(self._haadf, other._haadf)))
                and np.array_equal(self._valid, other._valid)
                and self.pixel_size == other.pixel_size and self.pixel_unit == other.pixel_unit
                and self.name == other.name)

    __hash__ = None


# ---------------------------------------------------------------------- per-chunk kernels
def _normalize_block(cube: np.ndarray, valid: np.ndarray, scale=None, *, energy: np.ndarray,
                     method: str) -> np.ndarray:
    """Normalised spectra, NaN at invalid pixels (a whole cube or one chunk of it)."""
    out = _pp.normalize_cube(np.nan_to_num(cube), energy, method, scale=scale)
    out[~valid] = np.nan  # a new array from the kernel, not the input
    return out


def _background_block(cube: np.ndarray, decays=None, **kwargs) -> np.ndarray:
    """:func:`preprocess.subtract_background` on one chunk (whole-cube decay constants)."""
    return _pp.subtract_background(cube, decays=decays, **kwargs)


def _resample_block(cube: np.ndarray, positions: np.ndarray, valid: np.ndarray, *,
                    energy: np.ndarray, grid: np.ndarray) -> np.ndarray:
    """:func:`zlp_align.resample` on one chunk."""
    return _zlp.resample(cube, energy, grid, positions, valid)


def _bin_lazy(cube, energy: np.ndarray, spatial: int, energy_factor: int):
    """:func:`preprocess.bin_cube` on a lazy cube: chunks aligned to whole blocks first."""
    ny, nx = cube.shape[0] // spatial * spatial, cube.shape[1] // spatial * spatial
    cy, cx = (max(spatial, max(c) // spatial * spatial) for c in cube.chunks[:2])
    whole = cube[:ny, :nx].rechunk((cy, cx, cube.shape[2]))
    ne = cube.shape[2] // energy_factor
    chunks = (tuple(c // spatial for c in whole.chunks[0]),
              tuple(c // spatial for c in whole.chunks[1]), (ne,))
    return whole.map_blocks(_binned_block, energy=energy, spatial=spatial,
                            energy_factor=energy_factor, chunks=chunks, dtype=np.float32,
                            meta=np.empty((0, 0, 0), np.float32))


def _binned_block(cube: np.ndarray, *, energy: np.ndarray, spatial: int,
                  energy_factor: int) -> np.ndarray:
    """:func:`preprocess.bin_cube` on one chunk of whole blocks."""
    return _pp.bin_cube(cube, energy, None, spatial, energy_factor)[0]


def _spike_report(cube, cleaned, mask: np.ndarray, energy: np.ndarray) -> _spikes.SpikeReport:
    """The read-only report of :meth:`SpectrumImage.remove_spikes` (lazy: reads flagged values)."""
    where = np.nonzero(mask)
    if _lazy.is_lazy_array(cube):
        original = np.asarray(cube.vindex[where]) if where[0].size else np.empty(0, np.float32)
        replacement = (np.asarray(cleaned.vindex[where]) if where[0].size
                       else np.empty(0, np.float32))
    else:
        original, replacement = cube[where].copy(), cleaned[where]
    report = _spikes.SpikeReport(mask=mask, energy=energy.copy(), original=original,
                                 replacement=replacement)
    for arr in (report.mask, report.energy, report.original, report.replacement):
        arr.setflags(write=False)
    return report


def _spike_values(block: np.ndarray, valid: np.ndarray, m0: float | None) -> np.ndarray:
    """One chunk's share of the values whose medians set the spike noise model."""
    x, smooth, _ = _spikes.highpass(block, valid)
    if m0 is None:
        return _spikes.level_values(smooth, valid)
    return _spikes.noise_ratios(x, smooth, valid, m0)


def _lazy_spikes(cube, valid: np.ndarray, threshold: float):
    """:func:`spikes.find_spikes` on a lazy cube; returns lazy ``(cleaned, mask)``.

    The noise model's medians over the whole cube are computed exactly (two passes each, see
    :func:`eelswidgets._lazy.exact_median`); then every chunk is flagged with a one-pixel rim
    of its neighbours (``map_overlap``).
    """
    import dask
    import dask.array as da

    ny, nx, ne = cube.shape
    if _spikes.filter_width(ne) < 3 or ny * nx < 2:
        return cube, da.zeros(cube.shape, bool, chunks=cube.chunks)
    ys, xs = (np.concatenate([[0], np.cumsum(c)]) for c in cube.chunks[:2])
    blocks = cube.to_delayed()

    def parts(m0):
        return [dask.delayed(_spike_values)(blocks[i, j, 0], valid[ys[i]:ys[i + 1],
                                                                   xs[j]:xs[j + 1]], m0)
                for i in range(len(ys) - 1) for j in range(len(xs) - 1)]

    m0 = _spikes.level_floor(_lazy.exact_median(parts(None)))
    spread = _lazy.exact_median(parts(m0))
    scale = 0.0 if np.isnan(spread) else 1.4826 * spread
    rim = da.from_array(valid[..., None], chunks=(*cube.chunks[:2], 1))
    common = dict(depth=[{0: 1, 1: 1, 2: 0}] * 2, trim=True, threshold=threshold, m0=m0,
                  scale=scale, boundary=[{0: np.nan, 1: np.nan, 2: "none"},
                                         {0: False, 1: False, 2: "none"}])
    cleaned = da.map_overlap(_spikes_block, cube, rim, what="cleaned", dtype=np.float32,
                             meta=np.empty((0, 0, 0), np.float32), **common)
    mask = da.map_overlap(_spikes_block, cube, rim, what="mask", dtype=bool,
                          meta=np.empty((0, 0, 0), bool), **common)
    return cleaned, mask


def _spikes_block(block: np.ndarray, valid: np.ndarray, **kwargs) -> np.ndarray:
    """:func:`spikes.flag_block` on one chunk with its rim (valid comes as ``(cy, cx, 1)``)."""
    return _spikes.flag_block(block, valid[..., 0], **kwargs)
