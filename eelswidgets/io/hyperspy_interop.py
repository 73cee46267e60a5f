"""Convert between :class:`~eelswidgets.SpectrumImage` and HyperSpy / exspy signals.

``to_hyperspy`` makes an exspy ``EELSSpectrum`` with calibrated axes (navigation ``x``, ``y``
in the pixel unit, signal ``Energy loss`` in eV: a uniform axis when the channels are evenly
spaced, otherwise a non-uniform axis holding the exact energies). The SpectrumImage metadata
(as JSON) and HAADF image are kept in ``original_metadata.eelswidgets``, so that
``from_hyperspy`` and ``ew.load`` of a saved ``.hspy`` file get them back.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from .._lazy import is_lazy_array
from ..spectrum_image import SpectrumImage
from ._axes import NotASpectrumImage
from ._codec import to_jsonable
from ._optional import require
from .rosetta import STORE_KEY, si_from_parts

__all__ = ["from_hyperspy", "to_hyperspy"]


def _axis_dict(axis) -> dict[str, Any]:
    d: dict[str, Any] = {"name": axis.name, "size": int(axis.size), "units": axis.units,
                         "navigate": bool(axis.navigate),
                         "index_in_array": axis.index_in_array}
    if getattr(axis, "is_uniform", True):
        d["offset"] = float(axis.offset)
        d["scale"] = float(axis.scale)
    else:
        d["axis"] = np.asarray(axis.axis, dtype=np.float64)
    return d


def from_hyperspy(signal, *, haadf=None) -> SpectrumImage:
    """Make a SpectrumImage from a HyperSpy signal (exspy ``EELSSpectrum`` or ``Signal1D``).

    Parameters
    ----------
    signal : hyperspy.signals.Signal1D
        One signal dimension (energy) and at most two navigation dimensions. A lazy signal
        gives a lazy SpectrumImage over its dask array (nothing is computed; every pixel is
        taken as valid unless the signal came from :func:`to_hyperspy`, which stores the valid
        mask); the signal itself is left unchanged.
    haadf : array_like or hyperspy Signal2D, optional
        HAADF image ``(ny, nx)`` to attach. By default a HAADF image stored by
        :func:`to_hyperspy` is used when its shape fits.

    Returns
    -------
    SpectrumImage

    Raises
    ------
    TypeError
        ``signal`` is not a HyperSpy signal.
    ValueError
        It is not a spectrum image (e.g. an image), or its energy axis cannot be identified.

    Examples
    --------
    >>> import exspy, numpy as np, eelswidgets as ew  # doctest: +SKIP
    >>> s = exspy.signals.EELSSpectrum(np.ones((4, 5, 100)))  # doctest: +SKIP
    >>> s.axes_manager[-1].units = "eV"  # doctest: +SKIP
    >>> ew.from_hyperspy(s).shape  # doctest: +SKIP
    (4, 5, 100)
    """
    am = getattr(signal, "axes_manager", None)
    if am is None or not hasattr(signal, "data"):
        raise TypeError(f"from_hyperspy expects a HyperSpy signal (e.g. exspy EELSSpectrum), "
                        f"got {type(signal).__name__}; for arrays use ew.SpectrumImage(...)")
    if am.signal_dimension != 1:
        raise ValueError(f"from_hyperspy needs a 1D signal (EELSSpectrum / Signal1D) with up to "
                         f"2 navigation axes; this one has {am.signal_dimension} signal "
                         "dimension(s) (an image?); use signal.as_signal1D(...) or "
                         "transpose(signal_axes=1) first")
    axes = [_axis_dict(ax) for ax in (*am.navigation_axes, *am.signal_axes)]
    data = signal.data if is_lazy_array(signal.data) else np.asarray(signal.data)
    if haadf is not None:
        haadf = np.asarray(getattr(haadf, "data", haadf))
    metadata = signal.metadata.as_dictionary() if hasattr(signal, "metadata") else {}
    original = signal.original_metadata if hasattr(signal, "original_metadata") else {}
    try:
        return si_from_parts(data, axes, metadata=metadata, original=original, name="",
                             haadf=haadf)
    except NotASpectrumImage as exc:
        raise ValueError(f"the signal is not a spectrum image: {exc}") from exc


def _is_uniform(energy: np.ndarray) -> bool:
    if energy.size < 2:
        return True
    step = (energy[-1] - energy[0]) / (energy.size - 1)
    grid = energy[0] + step * np.arange(energy.size)
    return bool(np.max(np.abs(energy - grid)) <= 1e-6 * abs(step))


def to_hyperspy(si: SpectrumImage):
    """Return an exspy ``EELSSpectrum`` with calibrated axes (needs the ``io`` extra).

    Parameters
    ----------
    si : SpectrumImage
        The spectrum image (its arrays are copied; a lazy cube gives a lazy signal over the
        same dask array, nothing computed).

    Returns
    -------
    exspy.signals.EELSSpectrum or exspy.signals.LazyEELSSpectrum
        Navigation axes ``x`` (columns) and ``y`` (rows) with ``scale = si.pixel_size`` and
        ``units = si.pixel_unit``; signal axis ``Energy loss`` in eV, uniform when the channels
        are evenly spaced (to 1e-6 of a channel), else non-uniform with the exact energies.
        ``metadata.General.title`` is ``si.name``; ``original_metadata.eelswidgets`` holds the
        metadata (JSON), the pixel size and unit as given, the HAADF image and, when some
        pixels are invalid, the valid mask.
    """
    if not isinstance(si, SpectrumImage):
        raise TypeError(f"to_hyperspy expects a SpectrumImage, got {type(si).__name__}")
    signals = require("exspy.signals", "to_hyperspy()")
    e = si.energy
    if _is_uniform(e):
        step = float((e[-1] - e[0]) / (e.size - 1)) if e.size > 1 else 1.0
        e_axis: dict[str, Any] = {"offset": float(e[0]), "scale": step}
    else:
        e_axis = {"axis": np.array(e)}
    unit = si.pixel_unit
    axes = [
        {"name": "y", "size": si.ny, "offset": 0.0, "scale": si.pixel_size, "units": unit,
         "navigate": True},
        {"name": "x", "size": si.nx, "offset": 0.0, "scale": si.pixel_size, "units": unit,
         "navigate": True},
        {"name": "Energy loss", "size": si.ne, "units": "eV", "navigate": False, **e_axis},
    ]
    if si.is_lazy:
        s = signals.LazyEELSSpectrum(si.data, axes=axes)
    else:
        s = signals.EELSSpectrum(np.array(si.data), axes=axes)
    s.metadata.General.title = si.name
    stored: dict[str, Any] = {"metadata_json": json.dumps(to_jsonable(si.metadata)),
                              "pixel_size": si.pixel_size, "pixel_unit": si.pixel_unit}
    if si.haadf is not None:
        stored["haadf"] = np.array(si.haadf)
    if not si.valid.all():  # read back by a lazy load, which does not scan for NaN pixels
        stored["valid"] = np.array(si.valid)
    s.original_metadata.add_dictionary({STORE_KEY: stored})
    return s
