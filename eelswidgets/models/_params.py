"""Hyper-parameter and fitted-state rules declared as data, checked by one function.

Every estimator declares its rules in a dict, in the spirit of scikit-learn's
``_parameter_constraints``::

    _parameter_constraints = {"latent_dim": Integer(1, 1024), "sigma": Real(0, None,
                              low_open=True, none_ok=True), ...}

and :func:`check_params` checks a dict of values against them. It is called by ``fit`` (on
the estimator's own parameters) and by ``load`` (on the parameters and fitted constants read
from a file, before anything is allocated), so a value that ``fit`` refuses is refused by
``load`` too. Every failure is a ``ValueError`` (bad value) or ``TypeError`` (bad type) whose
message names the field, the value and what is allowed.

Rules may refer to other, already checked fields by name (``Array(shape=("n_energy",))``,
``FloatList(length="latent_dim")``): :func:`check_params` checks fields in the order of the
rules dict and passes the values checked so far (plus any ``context``) to each rule.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

__all__ = [
    "Array",
    "Boolean",
    "Choice",
    "Device",
    "Equal",
    "FloatList",
    "IntTuple",
    "Integer",
    "Normalization",
    "Pairs",
    "Real",
    "Rule",
    "TRAINING_RULES",
    "check_params",
]


class Rule:
    """One field's rule: :meth:`check` returns the (normalised) value or raises.

    Parameters
    ----------
    none_ok : bool
        ``None`` is allowed (and returned as is).
    hint : str
        Appended to every error message (why the rule exists, how to fix the value).
    """

    def __init__(self, *, none_ok: bool = False, hint: str = ""):
        self.none_ok = none_ok
        self.hint = hint

    def check(self, value, name: str, ctx: Mapping[str, Any]):
        """Return ``value`` checked (and normalised); raise ``ValueError``/``TypeError``."""
        if value is None and self.none_ok:
            return None
        if value is None:
            raise self.error(TypeError, name, value, "None is not allowed")
        return self._check(value, name, ctx)

    def _check(self, value, name, ctx):  # pragma: no cover - abstract
        raise NotImplementedError

    def describe(self) -> str:
        """What the rule allows, in words."""
        return ""

    def error(self, kind: type[Exception], name: str, value, problem: str) -> Exception:
        """An exception of ``kind`` naming the field, the problem, the rule and the value."""
        allowed = self.describe() + (" or None" if self.none_ok else "")
        text = f"{name} {problem} (allowed: {allowed}), got {_short(value)}"
        return kind(text + (f"; {self.hint}" if self.hint else ""))


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _as_int(value, name: str, rule: Rule) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise rule.error(TypeError, name, value, "must be an integer")
    return int(value)


def _as_float(value, name: str, rule: Rule) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise rule.error(TypeError, name, value, "must be a number")
    v = float(value)
    if not math.isfinite(v):
        raise rule.error(ValueError, name, value, "must be finite")
    return v


def _resolve(size, ctx: Mapping[str, Any]) -> int:
    """A size given as an int or as the name of an already checked integer field."""
    return int(ctx[size]) if isinstance(size, str) else int(size)


class Integer(Rule):
    """An integer in ``[low, high]``, optionally a multiple of ``multiple_of``."""

    def __init__(self, low: int, high: int, *, multiple_of: int = 1, **kw):
        super().__init__(**kw)
        self.low, self.high, self.multiple_of = low, high, multiple_of

    def describe(self) -> str:
        what = {1: "an integer", 2: "an even integer"}.get(
            self.multiple_of, f"a multiple of {self.multiple_of}")
        return f"{what} in [{self.low}, {self.high}]"

    def _check(self, value, name, ctx):
        v = _as_int(value, name, self)
        if v < self.low:
            raise self.error(ValueError, name, value, f"must be >= {self.low}")
        if v > self.high:
            raise self.error(ValueError, name, value, f"must be <= {self.high}")
        m = self.multiple_of
        if v % m:
            lo, hi = max(v - v % m, self.low), v - v % m + m
            what = "even" if m == 2 else f"a multiple of {m}"
            raise self.error(ValueError, name, value,
                             f"must be {what}; use {name}={lo} or {hi}")
        return v


class Real(Rule):
    """A finite number in ``[low, high]`` (either bound may be open or None)."""

    def __init__(self, low: float | None, high: float | None, *, low_open: bool = False,
                 high_open: bool = False, **kw):
        super().__init__(**kw)
        self.low, self.high = low, high
        self.low_open, self.high_open = low_open, high_open

    def describe(self) -> str:
        left = "(-inf" if self.low is None else ("(" if self.low_open else "[") + f"{self.low}"
        right = "inf)" if self.high is None else f"{self.high}" + (")" if self.high_open
                                                                   else "]")
        return f"a finite number in {left}, {right}"

    def _check(self, value, name, ctx):
        v = _as_float(value, name, self)
        if self.low is not None and (v < self.low or (self.low_open and v == self.low)):
            op = ">" if self.low_open else ">="
            raise self.error(ValueError, name, value, f"must be {op} {self.low}")
        if self.high is not None and (v > self.high or (self.high_open and v == self.high)):
            op = "<" if self.high_open else "<="
            raise self.error(ValueError, name, value, f"must be {op} {self.high}")
        return v


class Boolean(Rule):
    """``True`` or ``False``."""

    def describe(self) -> str:
        return "True or False"

    def _check(self, value, name, ctx):
        if not isinstance(value, (bool, np.bool_)):
            raise self.error(TypeError, name, value, "must be True or False")
        return bool(value)


class Choice(Rule):
    """One of a few strings."""

    def __init__(self, *choices: str, **kw):
        super().__init__(**kw)
        self.choices = choices

    def describe(self) -> str:
        return "one of " + ", ".join(repr(c) for c in self.choices)

    def _check(self, value, name, ctx):
        if not isinstance(value, str):
            raise self.error(TypeError, name, value, "must be a string")
        if value not in self.choices:
            raise ValueError(f"unknown {name} {_short(value)}; choose {self.describe()}")
        return value


class Device(Rule):
    """A device name: ``"auto"``, ``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"mps"``.

    Only the spelling is checked: whether the device exists here is checked when training
    (a model saved on a GPU machine loads on the CPU).
    """

    def describe(self) -> str:
        return "'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'"

    def _check(self, value, name, ctx):
        if isinstance(value, torch.device):
            return value
        if not isinstance(value, str):
            raise self.error(TypeError, name, value, "must be a device name")
        kind, _, index = value.strip().lower().partition(":")
        if kind not in ("auto", "cpu", "cuda", "mps") or (
                index and not (kind == "cuda" and index.isdigit() and len(index) < 4)):
            raise self.error(ValueError, name, value, "is not a device name")
        return value


class IntTuple(Rule):
    """A non-empty sequence of at most ``max_len`` integers in ``[low, high]`` (a tuple)."""

    def __init__(self, low: int, high: int, *, max_len: int, **kw):
        super().__init__(**kw)
        self.item = Integer(low, high)
        self.max_len = max_len

    def describe(self) -> str:
        return f"1 to {self.max_len} integers in [{self.item.low}, {self.item.high}]"

    def _check(self, value, name, ctx):
        if isinstance(value, numbers.Integral) and not isinstance(value, bool):
            value = (value,)
        if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
            raise self.error(TypeError, name, value,
                             "must be a sequence of layer widths such as (128, 64)")
        if not 1 <= len(value) <= self.max_len:
            raise self.error(ValueError, name, value, f"must list 1 to {self.max_len} widths")
        return tuple(self.item.check(v, f"{name} entry", ctx) for v in value)


class Pairs(Rule):
    """A sequence of ``(low, high)`` pairs of finite numbers with ``low < high``."""

    def __init__(self, *, max_len: int, **kw):
        super().__init__(**kw)
        self.max_len = max_len

    def describe(self) -> str:
        return f"1 to {self.max_len} (low, high) pairs of finite numbers, low < high"

    def _check(self, value, name, ctx):
        if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Sequence):
            raise self.error(TypeError, name, value, "must be a sequence of (low, high)")
        if not 1 <= len(value) <= self.max_len:
            raise self.error(ValueError, name, value, f"must hold 1 to {self.max_len} pairs")
        for pair in value:
            if isinstance(pair, (str, bytes)) or not isinstance(pair, Sequence) or len(
                    pair) != 2:
                raise self.error(TypeError, name, value, "must hold (low, high) pairs")
            lo, hi = (_as_float(v, name, self) for v in pair)
            if not lo < hi:
                raise self.error(ValueError, name, value, "needs low < high in every pair")
        return value


class FloatList(Rule):
    """A list of ``length`` finite numbers, or of ``length`` lists of ``width`` numbers.

    ``length`` may name another, already checked field.
    """

    def __init__(self, length: int | str, *, width: int | None = None, **kw):
        super().__init__(**kw)
        self.length, self.width = length, width

    def describe(self) -> str:
        item = "finite numbers" if self.width is None else f"lists of {self.width} numbers"
        return f"a list of {self.length} {item}"

    def _check(self, value, name, ctx):
        n = _resolve(self.length, ctx)
        if not isinstance(value, (list, tuple)):
            raise self.error(TypeError, name, value, "must be a list")
        if len(value) != n:
            raise self.error(ValueError, name, value, f"must have {n} entries")
        if self.width is None:
            return [_as_float(v, f"{name} entry", self) for v in value]
        inner = FloatList(self.width)
        return [inner.check(v, f"{name} entry", ctx) for v in value]


class Equal(Rule):
    """The same value as another, already checked field (e.g. a fitted window size)."""

    def __init__(self, other: str, **kw):
        super().__init__(**kw)
        self.other = other

    def describe(self) -> str:
        return f"the value of {self.other}"

    def _check(self, value, name, ctx):
        if value != ctx[self.other] or type(value) is not type(ctx[self.other]):
            raise self.error(ValueError, name, value, f"must equal {self.other}")
        return value


class Normalization(Rule):
    """The per-channel normalisation constants of :class:`eelswidgets.patches.Windows`."""

    _METHODS = ("channel", "joint", "none")

    def __init__(self, channels: int | str, **kw):
        super().__init__(**kw)
        self.channels = channels

    def describe(self) -> str:
        return (f"{{'method', 'lo', 'hi', 'out_lo', 'out_hi'}} with {self.channels} finite "
                f"numbers per list, lo < hi and out_lo < out_hi")

    def _check(self, value, name, ctx):
        keys = {"method", "lo", "hi", "out_lo", "out_hi"}
        if not isinstance(value, Mapping):
            raise self.error(TypeError, name, value, "must be a dict")
        if set(value) != keys:
            raise self.error(ValueError, name, value,
                             f"must have exactly the keys {sorted(keys)}")
        out = {"method": Choice(*self._METHODS).check(value["method"], f"{name}.method", ctx)}
        lists = FloatList(self.channels)
        for key in ("lo", "hi", "out_lo", "out_hi"):
            out[key] = lists.check(value[key], f"{name}.{key}", ctx)
        for a, b in (("lo", "hi"), ("out_lo", "out_hi")):
            if not all(x < y for x, y in zip(out[a], out[b], strict=True)):
                raise self.error(ValueError, name, value, f"needs {a} < {b} in every channel")
        return out


class Array(Rule):
    """A NumPy array of a given dtype and shape (entries of ``shape`` may name fields).

    In a model file such an entry is a tensor of the weights archive: :meth:`spec` gives the
    dtype and shape the archive must declare for it, and :meth:`check` checks the loaded
    values (``finite``: no NaN/Inf; ``nonzero``: no zero).
    """

    def __init__(self, dtype: str, shape: tuple[int | str, ...], *, nonzero: bool = False,
                 **kw):
        super().__init__(**kw)
        self.dtype = np.dtype(dtype)
        self.shape = shape
        self.nonzero = nonzero

    def describe(self) -> str:
        return f"a finite {self.dtype} array of shape {self.shape}"

    def spec(self, ctx: Mapping[str, Any]) -> tuple[np.dtype, tuple[int, ...]]:
        """The dtype and the shape (resolved in ``ctx``)."""
        return self.dtype, tuple(_resolve(s, ctx) for s in self.shape)

    def _check(self, value, name, ctx):
        if not isinstance(value, np.ndarray):
            raise self.error(TypeError, name, value, "must be an array")
        dtype, shape = self.spec(ctx)
        if value.dtype != dtype or value.shape != shape:
            raise self.error(ValueError, name, f"{value.dtype} array of shape {value.shape}",
                             "has the wrong dtype or shape")
        if not np.all(np.isfinite(value)):
            raise self.error(ValueError, name, "an array with NaN/Inf", "must be finite")
        if self.nonzero and not np.all(value != 0):
            raise self.error(ValueError, name, "an array with zeros", "must have no zero")
        return value


def check_params(owner: str, rules: Mapping[str, Rule], values: Mapping[str, Any], *,
                 context: Mapping[str, Any] | None = None, exact: bool = False,
                 skip: Sequence[str] = ()) -> dict[str, Any]:
    """Check ``values`` against ``rules``; return the checked (normalised) values.

    Parameters
    ----------
    owner : str
        Who the values belong to (e.g. ``"SpectralVAE"`` or ``"'m.eelsmodel' state"``),
        prefixed to every message.
    rules : mapping of str to Rule
        The rules, checked in this order (later rules may refer to earlier fields).
    values : mapping
        The values; fields without a rule are returned unchecked unless ``exact``.
    context : mapping, optional
        Further values that rules may refer to by name (e.g. the hyper-parameters when
        checking fitted constants).
    exact : bool
        ``values`` must have exactly the fields of ``rules`` (a model file): a missing or
        an unknown field is a ``ValueError`` naming it.
    skip : sequence of str
        Fields not checked here (e.g. arrays that are checked once loaded).

    Returns
    -------
    dict

    Raises
    ------
    TypeError, ValueError
        Naming the field, the value and what is allowed.
    """
    if not isinstance(values, Mapping):
        raise TypeError(f"{owner}: expected a dict of fields, got {type(values).__name__}")
    if exact:
        missing = [k for k in rules if k not in values and k not in skip]
        unknown = sorted(str(k) for k in values if k not in rules)
        if missing:
            raise ValueError(f"{owner}: the field(s) {missing} are missing")
        if unknown:
            raise ValueError(f"{owner}: unknown field(s) {unknown}; allowed: {list(rules)}")
    ctx = dict(context or {})
    out = dict(values)
    for key, rule in rules.items():
        if key in skip or key not in values:
            continue
        try:
            out[key] = ctx[key] = rule.check(values[key], key, ctx)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{owner}: {err}") from None
    return out


#: rules of the training options every model shares (see :class:`~.trainer.Trainer`)
TRAINING_RULES: dict[str, Rule] = {
    "epochs": Integer(1, 10**6),
    "batch_size": Integer(1, 2**20),
    "lr": Real(0, None, low_open=True),
    "seed": Integer(0, 2**63 - 1),
    "device": Device(),
    "val_fraction": Real(0, 1, high_open=True),
    "patience": Integer(1, 10**6, none_ok=True),
}
