"""One codec for the arrays that widgets send to the browser and receive from it.

An array travels as ``{"buffer": memoryview, "dtype": "float32" | "int32" | "uint8", "shape":
[...]}``; ipywidgets moves the ``memoryview`` as a binary message part (never as a JSON list)
and the JavaScript side (``js/src/lib/codec.js``) reads it as a typed array. float64 is sent as
float32, booleans as uint8, other integers as int32.

:class:`ArrayTrait` is the traitlet for such arrays: it checks dtype and number of dimensions
when a value is assigned, stores a new read-only C-contiguous array (the caller's array is never
aliased or changed) and, when synced, serialises through this codec.
"""

from __future__ import annotations

import numbers

import numpy as np
import traitlets

__all__ = [
    "WIRE_DTYPES",
    "ArrayTrait",
    "array_from_json",
    "array_serialization",
    "array_to_json",
    "coerce_array",
]

#: dtypes that travel to the browser
WIRE_DTYPES = ("float32", "int32", "uint8")

# dtypes accepted from the browser (codec.js can encode any typed array)
_FROM_WIRE = {
    "float32": "<f4", "float64": "<f8", "int32": "<i4", "uint32": "<u4", "int16": "<i2",
    "uint16": "<u2", "int8": "i1", "uint8": "u1",
}

_INT32 = np.iinfo(np.int32)


def _wire_array(arr: np.ndarray) -> np.ndarray:
    """Return ``arr`` converted to a wire dtype, C-contiguous (a copy only when needed)."""
    if arr.dtype == bool:
        return np.ascontiguousarray(arr, dtype=np.uint8)
    if np.issubdtype(arr.dtype, np.floating):
        return np.ascontiguousarray(arr, dtype=np.float32)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.size and (arr.min() < _INT32.min or arr.max() > _INT32.max):
            raise ValueError(f"integer array with values outside the int32 range "
                             f"[{arr.min()}, {arr.max()}] cannot be sent to the browser")
        return np.ascontiguousarray(arr, dtype=np.int32)
    raise TypeError(f"cannot send an array of dtype {arr.dtype} to the browser; use a real "
                    f"numeric dtype (float, int, uint8 or bool)")


def array_to_json(value, widget=None):
    """Serialise an array for the front end (ipywidgets ``to_json`` hook).

    Parameters
    ----------
    value : numpy.ndarray, array_like or None
        The array. float64 becomes float32, bool becomes uint8, other integers int32.
    widget : ipywidgets.Widget, optional
        Unused; part of the ipywidgets serializer signature.

    Returns
    -------
    dict or None
        ``{"buffer": memoryview, "dtype": str, "shape": list of int}``; None for None.
    """
    if value is None:
        return None
    arr = _wire_array(np.asarray(value))
    return {"buffer": memoryview(arr).cast("B"), "dtype": str(arr.dtype),
            "shape": [int(s) for s in arr.shape]}


def array_from_json(value, widget=None):
    """Deserialise an array sent by the front end (ipywidgets ``from_json`` hook).

    Parameters
    ----------
    value : dict or None
        ``{"buffer": bytes-like, "dtype": str, "shape": list of int}`` as produced by
        ``codec.js`` ``encodeArray`` (or by :func:`array_to_json`).
    widget : ipywidgets.Widget, optional
        Unused.

    Returns
    -------
    numpy.ndarray or None
        A read-only array over the received bytes (native byte order).
    """
    if value is None:
        return None
    if not isinstance(value, dict) or "buffer" not in value:
        raise TypeError("an array from the browser must be a dict with 'buffer', 'dtype' and "
                        f"'shape', got {type(value).__name__}")
    dtype = value.get("dtype")
    if dtype not in _FROM_WIRE:
        raise TypeError(f"unsupported array dtype {dtype!r} from the browser; "
                        f"expected one of {sorted(_FROM_WIRE)}")
    shape = tuple(int(s) for s in value.get("shape", ()))
    buf = value["buffer"]
    arr = np.frombuffer(buf, dtype=np.dtype(_FROM_WIRE[dtype]))
    if arr.size != int(np.prod(shape, dtype=np.int64)):
        raise ValueError(f"array buffer holds {arr.size} values but shape {shape} needs "
                         f"{int(np.prod(shape, dtype=np.int64))}")
    arr = arr.reshape(shape).astype(np.dtype(dtype), copy=False)
    arr.flags.writeable = False
    return arr


#: serializers for ``.tag(sync=True, **array_serialization)``
array_serialization = {"to_json": array_to_json, "from_json": array_from_json}


def coerce_array(value, name: str, *, dtype: str | None = "float32",
                 ndim: int | tuple[int, ...] | None = None) -> np.ndarray:
    """Return a new, read-only, C-contiguous array of ``dtype`` made from ``value``.

    Parameters
    ----------
    value : array_like
        Input values (never modified, never aliased).
    name : str
        Name used in error messages.
    dtype : {"float32", "int32", "uint8"} or None
        Target dtype; None keeps the numeric dtype of the input.
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions.

    Returns
    -------
    numpy.ndarray

    Raises
    ------
    TypeError
        For non-numeric or complex input, or floats where integers are required.
    ValueError
        For the wrong number of dimensions or integers out of the target range.
    """
    if value is None or isinstance(value, (str, bytes, dict)):
        raise TypeError(f"{name} must be an array of numbers, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise TypeError(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise TypeError(f"{name} must be real, got a complex array; take .real or abs() first")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, numbers.Integral) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise ValueError(f"{name} must have {want} dimension(s), got shape {arr.shape} "
                             f"({arr.ndim} dimension(s))")
    if dtype is None:
        out = np.array(arr, copy=True, order="C")
    elif dtype == "float32":
        out = np.array(arr, dtype=np.float32, copy=True, order="C")
    elif dtype in ("int32", "uint8"):
        info = np.iinfo(dtype)
        if arr.size == 0:
            out = np.zeros(arr.shape, dtype=dtype)
        else:
            if not (np.issubdtype(arr.dtype, np.integer) or arr.dtype == bool):
                raise TypeError(f"{name} must hold integers ({dtype}), got dtype {arr.dtype}")
            lo, hi = int(arr.min()), int(arr.max())
            if lo < info.min or hi > info.max:
                raise ValueError(f"{name} must lie in [{info.min}, {info.max}] for {dtype}, "
                                 f"got values from {lo} to {hi}")
            out = np.array(arr, dtype=dtype, copy=True, order="C")
    else:
        raise ValueError(f"unknown dtype {dtype!r}; use one of {WIRE_DTYPES} or None")
    out.flags.writeable = False
    return out


def _same_array(a, b) -> bool:
    if a is b:
        return True
    if not (isinstance(a, np.ndarray) and isinstance(b, np.ndarray)):
        return False
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    return bool(np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))


class ArrayTrait(traitlets.TraitType):
    """A numpy array traitlet, synced to the front end as a binary buffer.

    Parameters
    ----------
    dtype : {"float32", "int32", "uint8"} or None
        dtype the value is converted to on assignment (None: any real numeric dtype).
    ndim : int or tuple of int, optional
        Allowed number(s) of dimensions.
    default_value : array_like or None
        Default value (converted like an assignment).
    allow_none : bool
        Whether None is a valid value.
    sync : bool
        Tag the trait ``sync=True`` with the binary codec (False: a Python-only trait).
    **kwargs
        Passed to :class:`traitlets.TraitType`.

    Notes
    -----
    Every assignment stores a new read-only array, so in-place changes (which would not be
    sent to the browser) fail loudly; assign a new array instead.
    """

    info_text = "a numpy array"

    def __init__(self, dtype: str | None = "float32", ndim=None, default_value=None, *,
                 allow_none: bool = True, sync: bool = True, **kwargs):
        self.dtype = dtype
        self.ndim = ndim
        if default_value is not None:
            default_value = coerce_array(default_value, "default_value", dtype=dtype,
                                         ndim=ndim)
        super().__init__(default_value=default_value, allow_none=allow_none, **kwargs)
        if sync:
            self.tag(sync=True, **array_serialization)

    def set(self, obj, value):
        """Store a validated value; notify observers only when the array really changed.

        traitlets' default ``old == new`` test is elementwise for arrays (and very slow
        against None); here identical arrays (same shape, dtype and values, NaN equal to NaN)
        count as unchanged and anything else as changed.
        """
        new_value = self._validate(obj, value)
        try:
            old_value = obj._trait_values[self.name]
        except KeyError:
            old_value = self.default_value
        obj._trait_values[self.name] = new_value
        if not _same_array(old_value, new_value):
            obj._notify_trait(self.name, old_value, new_value)

    def validate(self, obj, value):
        """Convert ``value`` to a read-only array of the trait's dtype, checking ``ndim``."""
        if value is None:
            if self.allow_none:
                return None
            self.error(obj, value)
        return coerce_array(value, self.name or "array", dtype=self.dtype, ndim=self.ndim)
