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

import math
import numbers

import numpy as np
import traitlets

from ._front_end import InvalidType, InvalidValue

__all__ = [
    "MAX_WIRE_NDIM",
    "WIRE_DTYPES",
    "ArrayTrait",
    "array_from_json",
    "array_serialization",
    "array_to_json",
    "coerce_array",
]

#: most dimensions an array from the browser may have
MAX_WIRE_NDIM = 8

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
            raise InvalidValue(f"integer array with values outside the int32 range "
                               f"[{arr.min()}, {arr.max()}] cannot be sent to the browser")
        return np.ascontiguousarray(arr, dtype=np.int32)
    raise InvalidType(f"cannot send an array of dtype {arr.dtype} to the browser; use a real "
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

    Nothing is allocated: the result is a view of the received bytes, so a small message can
    never make the kernel build a large array. The payload is checked first: a dict with a
    bytes-like ``buffer``, a known ``dtype`` and a ``shape`` of at most
    :data:`MAX_WIRE_NDIM` non-negative integers whose product is the buffer's length.

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

    Raises
    ------
    InvalidType
        For a payload that is not such a dict, a buffer that is not bytes-like, an unknown
        dtype or a shape that is not a list of integers.
    InvalidValue
        For negative sizes, too many dimensions or a shape that does not match the buffer.
    """
    if value is None:
        return None
    if not isinstance(value, dict) or "buffer" not in value:
        raise InvalidType("an array from the browser must be a dict with 'buffer', 'dtype' and "
                          f"'shape', got {type(value).__name__}")
    dtype = value.get("dtype")
    if not isinstance(dtype, str) or dtype not in _FROM_WIRE:
        raise InvalidType(f"unsupported array dtype {dtype!r} from the browser; "
                          f"expected one of {sorted(_FROM_WIRE)}")
    shape = _wire_shape(value.get("shape", ()))
    buf = value["buffer"]
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise InvalidType(f"the array buffer from the browser must be binary (bytes), got "
                          f"{type(buf).__name__}")
    item = np.dtype(_FROM_WIRE[dtype]).itemsize
    nbytes = memoryview(buf).nbytes
    need = math.prod(shape)
    if nbytes != need * item:
        raise InvalidValue(f"array buffer of {nbytes} bytes holds {nbytes / item:g} {dtype} "
                           f"values but shape {shape} needs {need}")
    arr = np.frombuffer(buf, dtype=np.dtype(_FROM_WIRE[dtype]))
    arr = arr.reshape(shape).astype(np.dtype(dtype), copy=False)
    arr.flags.writeable = False
    return arr


def _wire_shape(shape) -> tuple[int, ...]:
    """A shape from the browser: a list of at most MAX_WIRE_NDIM non-negative integers."""
    if not isinstance(shape, (list, tuple)):
        raise InvalidType(f"an array shape from the browser must be a list of integers, got "
                          f"{type(shape).__name__}")
    if len(shape) > MAX_WIRE_NDIM:
        raise InvalidValue(f"an array from the browser has at most {MAX_WIRE_NDIM} dimensions, "
                           f"got {len(shape)}")
    if not all(isinstance(s, int) and not isinstance(s, bool) for s in shape):
        raise InvalidType(f"an array shape from the browser must hold integers, got {shape!r}")
    if any(s < 0 for s in shape):
        raise InvalidValue(f"an array shape from the browser must hold sizes >= 0, got "
                           f"{list(shape)}")
    return tuple(shape)


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
        raise InvalidType(f"{name} must be an array of numbers, got {type(value).__name__}")
    arr = np.asarray(value)
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidType(f"{name} must hold numbers, got dtype {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InvalidType(f"{name} must be real, got a complex array; take .real or abs() first")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, numbers.Integral) else tuple(ndim)
        if arr.ndim not in allowed:
            want = " or ".join(str(a) for a in allowed)
            raise InvalidValue(f"{name} must have {want} dimension(s), got shape {arr.shape} "
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
                raise InvalidType(f"{name} must hold integers ({dtype}), got dtype {arr.dtype}")
            lo, hi = int(arr.min()), int(arr.max())
            if lo < info.min or hi > info.max:
                raise InvalidValue(f"{name} must lie in [{info.min}, {info.max}] for {dtype}, "
                                   f"got values from {lo} to {hi}")
            out = np.array(arr, dtype=dtype, copy=True, order="C")
    else:
        raise InvalidValue(f"unknown dtype {dtype!r}; use one of {WIRE_DTYPES} or None")
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
