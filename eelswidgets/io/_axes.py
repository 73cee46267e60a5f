"""Turn an N-d array with calibrated axes (rosettasciio / HyperSpy style) into SI parts.

An *axis* here is a dict like those rosettasciio readers return: ``size``, ``name``, ``units``,
``navigate`` and either ``offset``/``scale`` (uniform) or ``axis`` (the values, non-uniform),
listed in array order (or with ``index_in_array``).

Rule for the energy axis of a signal, in order:

1. the one axis whose units are an energy (``eV``, ``keV``, ``meV``, ``MeV``; converted to eV);
   if several have energy units, the one that is a signal axis (``navigate`` False);
2. otherwise the one signal axis (``navigate`` False) if it has no units (then eV is assumed
   and a warning is issued).

The other axes are spatial; axes of length 1 are dropped. Two spatial axes give ``(ny, nx)`` in
array order (row axis first), one gives a line scan ``(1, n)``, none a single spectrum
``(1, 1)``. More than two, or no energy axis, means the signal is not a spectrum image.
The pixel size comes from the column (x) axis; lengths in m, mm, µm, Å and pm are converted to
nm, an axis without units gives pixels (``"px"``).
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._lazy import is_lazy_array

__all__ = ["ENERGY_UNITS", "NotASpectrumImage", "SIParts", "image_from_axes",
           "normalise_axes", "si_parts_from_axes", "summarise"]

ENERGY_UNITS = {"eV": 1.0, "keV": 1e3, "meV": 1e-3, "MeV": 1e6}
_LENGTH_TO_NM = {"nm": 1.0, "\u00b5m": 1e3, "\u03bcm": 1e3, "um": 1e3, "\u00c5": 0.1,
                 "\u212b": 0.1, "angstrom": 0.1, "pm": 1e-3, "mm": 1e6, "m": 1e9}
_NO_UNITS = {"", "<undefined>", "undefined", "none", "px", "pixel", "pixels"}


class NotASpectrumImage(ValueError):
    """A signal that cannot be read as a spectrum image (the message says why)."""


@dataclass
class SIParts:
    """The pieces of a SpectrumImage found in a calibrated array."""

    cube: np.ndarray
    energy: np.ndarray
    pixel_size: float
    pixel_unit: str
    axes: list[dict[str, Any]]
    raw_pixel: tuple[float, str] | None = None  # x-axis (scale, units) as found, unconverted


def _units(axis: dict) -> str:
    u = axis.get("units")
    if u is None:
        return ""
    if isinstance(u, bytes):
        u = u.decode("utf-8", errors="replace")
    u = str(u).strip()
    return "" if u.lower() in _NO_UNITS else u


def normalise_axes(axes: list[dict], shape: tuple[int, ...]) -> list[dict]:
    """Return the axes in array order with plain-Python ``name``, ``units``, ``navigate``.

    Parameters
    ----------
    axes : list of dict
        Axis dicts as returned by rosettasciio.
    shape : tuple of int
        Shape of the data array.

    Returns
    -------
    list of dict
    """
    axes = list(axes)
    if len(axes) != len(shape):
        raise NotASpectrumImage(f"it has {len(axes)} calibrated axes for data of shape {shape}")
    if all("index_in_array" in a and a["index_in_array"] is not None for a in axes):
        axes.sort(key=lambda a: int(a["index_in_array"]))
    out = []
    for i, (a, n) in enumerate(zip(axes, shape, strict=True)):
        nav = a.get("navigate")
        out.append({**a, "size": int(n), "name": str(a.get("name") or f"axis {i}"),
                    "units": _units(a), "navigate": None if nav is None else bool(nav)})
    return out


def _values(axis: dict) -> np.ndarray:
    n = axis["size"]
    if axis.get("axis") is not None:
        vals = np.asarray(axis["axis"], dtype=np.float64).ravel()
        if vals.size != n:
            raise NotASpectrumImage(f"axis {axis['name']!r} lists {vals.size} values for "
                                    f"{n} channels")
        return vals
    if "expression" in axis:
        raise NotASpectrumImage(f"axis {axis['name']!r} is a functional axis; convert it with "
                                "HyperSpy (axis.convert_to_non_uniform_axis()) first")
    offset = float(axis.get("offset", 0.0) or 0.0)
    scale = float(axis.get("scale", 1.0) if axis.get("scale") is not None else 1.0)
    return offset + scale * np.arange(n, dtype=np.float64)


def _energy_index(axes: list[dict]) -> int:
    energy = [i for i, a in enumerate(axes) if a["units"] in ENERGY_UNITS]
    signal = [i for i, a in enumerate(axes) if a["navigate"] is False]
    if len(energy) == 1:
        return energy[0]
    if len(energy) > 1:
        both = [i for i in energy if i in signal]
        if len(both) == 1:
            return both[0]
        raise NotASpectrumImage(f"{len(energy)} axes have energy units, so the energy axis "
                                "is ambiguous")
    if len(signal) == 1:
        a = axes[signal[0]]
        if a["units"]:
            raise NotASpectrumImage(f"its signal axis {a['name']!r} has units {a['units']!r}, "
                                    "not an energy (eV or keV)")
        warnings.warn(f"the signal axis {a['name']!r} has no units; assuming eV",
                      UserWarning, stacklevel=5)
        return signal[0]
    if len(signal) >= 2:
        raise NotASpectrumImage(f"it has {len(signal)} signal dimensions (an image or image "
                                "stack) and no axis with energy units")
    raise NotASpectrumImage("no axis has energy units (eV or keV)")


def _pixel(axis: dict | None) -> tuple[float, str]:
    if axis is None:
        return 1.0, "px"
    unit = axis["units"]
    if axis.get("axis") is not None:  # non-uniform: mean spacing
        values = _values(axis)
        scale = float(np.mean(np.diff(values))) if values.size > 1 else 1.0
    else:
        scale = float(axis["scale"]) if axis.get("scale") is not None else 1.0
    scale = abs(scale)
    if not math.isfinite(scale) or scale == 0:
        return 1.0, "px"
    if not unit:
        return scale, "px"
    if unit in _LENGTH_TO_NM:
        return scale * _LENGTH_TO_NM[unit], "nm"
    return scale, unit


def summarise(axes: list[dict]) -> str:
    """Short description of a list of (normalised) axes for error messages."""
    parts = []
    for a in axes:
        unit = f" {a['units']}" if a["units"] else ""
        role = {True: "nav", False: "sig", None: "?"}[a["navigate"]]
        parts.append(f"{a['name']}[{a['size']}{unit}, {role}]")
    return ", ".join(parts)


def si_parts_from_axes(data: Any, axes: list[dict]) -> SIParts:
    """Reorder ``data`` to ``(ny, nx, ne)`` and compute the energy axis (eV) and pixel size.

    Parameters
    ----------
    data : array_like
        N-d array (not modified).
    axes : list of dict
        Its axes (see :func:`normalise_axes`).

    Returns
    -------
    SIParts

    Raises
    ------
    NotASpectrumImage
        The array is not a spectrum image (the message says why).
    """
    if not is_lazy_array(data):  # a dask array stays lazy
        data = np.asarray(data)
    axes = normalise_axes(axes, data.shape)
    if data.size == 0:
        raise NotASpectrumImage(f"it holds no data (shape {data.shape})")
    e_idx = _energy_index(axes)
    e_axis = axes[e_idx]
    factor = ENERGY_UNITS.get(e_axis["units"], 1.0)
    energy = _values(e_axis) * factor
    spatial = [i for i, a in enumerate(axes) if i != e_idx and a["size"] > 1]
    if len(spatial) > 2:
        raise NotASpectrumImage(f"it has {len(spatial)} navigation dimensions "
                                f"({summarise([axes[i] for i in spatial])}); a spectrum image "
                                "has at most 2 (slice the extra ones away first)")
    rest = [i for i in range(data.ndim) if i != e_idx and i not in spatial]
    cube = np.transpose(data, [*spatial, e_idx, *rest])
    if len(spatial) == 2:
        shape = (data.shape[spatial[0]], data.shape[spatial[1]])
    elif len(spatial) == 1:
        shape = (1, data.shape[spatial[0]])
    else:
        shape = (1, 1)
    cube = cube.reshape(*shape, energy.size)
    if energy.size > 1 and np.all(np.diff(energy) < 0):
        energy, cube = energy[::-1], cube[..., ::-1]
    size, unit = _pixel(axes[spatial[-1]] if spatial else None)
    if len(spatial) == 2:
        other, other_unit = _pixel(axes[spatial[0]])
        if other_unit == unit and not math.isclose(other, size, rel_tol=1e-6):
            warnings.warn(f"pixels are not square ({other:g} x {size:g} {unit}); using the "
                          f"column spacing {size:g} {unit} as pixel size", UserWarning,
                          stacklevel=4)
    raw = None
    if spatial and axes[spatial[-1]].get("scale") is not None:
        raw = (float(axes[spatial[-1]]["scale"]), axes[spatial[-1]]["units"])
    return SIParts(cube=cube, energy=energy, pixel_size=size, pixel_unit=unit, axes=axes,
                   raw_pixel=raw)


def image_from_axes(data: Any, axes: list[dict]) -> np.ndarray | None:
    """Return ``data`` as a 2D ``(ny, nx)`` image if it is one (no energy axis), else None."""
    if not is_lazy_array(data):
        data = np.asarray(data)
    try:
        axes = normalise_axes(axes, tuple(data.shape))
    except NotASpectrumImage:
        return None
    if any(a["units"] in ENERGY_UNITS for a in axes):
        return None
    keep = [i for i, a in enumerate(axes) if a["size"] > 1]
    if len(keep) != 2 or data.dtype.kind not in "biuf":
        return None
    return np.asarray(data.reshape(tuple(data.shape[i] for i in keep)))  # computes an image
