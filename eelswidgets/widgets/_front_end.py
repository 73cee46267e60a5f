"""What the browser may change: the errors validators raise and the gate on front-end updates.

A widget's state reaches the kernel from the browser through ``Widget.set_state`` (the comm
message ``{"method": "update", "state": ...}``). traitlets undoes such an update only when a
validator raises :class:`traitlets.TraitError`; any other exception leaves the bad value in
the kernel. So every validator of the widgets raises :class:`InvalidValue` or
:class:`InvalidType`: a ``TraitError`` that Python callers can still catch as ``ValueError`` or
``TypeError``.

:class:`FrontEndGate` is the mixin through which every widget class of the package receives
updates: only the traits named in its ``_from_browser`` set (what its front-end code sets:
a click, a brush, a toolbar button) are accepted from the browser; an update of any other
trait (shapes, contrast limits, data buffers, ...) is refused whole. A refused or invalid
update changes nothing in the kernel, is logged as a warning (never raised into the kernel's
message loop), and the kernel's values are sent back so that the browser shows them again.
"""

from __future__ import annotations

import reprlib
from typing import ClassVar

import traitlets

__all__ = ["FrontEndGate", "InvalidType", "InvalidValue", "NotFromBrowser"]


class InvalidValue(traitlets.TraitError, ValueError):
    """A trait value out of its allowed range (a ``TraitError`` and a ``ValueError``)."""


class InvalidType(traitlets.TraitError, TypeError):
    """A trait value of the wrong type (a ``TraitError`` and a ``TypeError``)."""


class NotFromBrowser(traitlets.TraitError):
    """An update from the front end of a trait that only the kernel sets."""


class FrontEndGate:
    """Mixin for widgets: accept front-end updates only of the traits in ``_from_browser``.

    Put it before the ipywidgets base class (``class View(FrontEndGate, AnyWidget)``) and name
    in ``_from_browser`` the synced traits that the widget's JavaScript sets. Everything else
    is set by the kernel only.

    Notes
    -----
    ipywidgets 8 echoes an update to the browser (``echo_update``) before it validates it, so
    the browser would keep a value that the kernel refused; the gate therefore sends the
    kernel's values of every trait of a refused update back (:meth:`send_state`).
    """

    #: synced traits the front end may set (every other one is kernel-only)
    _from_browser: ClassVar[frozenset[str]] = frozenset()

    def set_state(self, sync_data) -> None:
        """Apply an update from the front end, or refuse it whole (logged, then re-synced).

        Parameters
        ----------
        sync_data : dict
            Trait names to JSON values (binary buffers already in place), as ipywidgets
            passes them from a comm ``update`` message.
        """
        name = type(self).__name__
        if not isinstance(sync_data, dict):
            self.log.warning("%s refused an update from the front end: the state must be a "
                             "dict of trait values, got %s", name, type(sync_data).__name__)
            return
        keys = [k for k in sync_data if k in self.keys]
        kernel_only = sorted(set(keys) - self._from_browser)
        try:
            if kernel_only:
                raise NotFromBrowser(f"{name}: {', '.join(kernel_only)} can only be set from "
                                     f"Python (the front end may set "
                                     f"{', '.join(sorted(self._from_browser)) or 'nothing'})")
            for key in keys:
                self._check_type(key, sync_data[key])
            super().set_state(sync_data)
        except traitlets.TraitError as err:
            # traitlets has rolled the whole update back; show the kernel's values again
            self.log.warning("%s refused an update from the front end: %s", name, err)
            if keys:
                self.send_state(keys)

    def _check_type(self, key: str, value) -> None:
        """Decode ``value`` and check it against the trait's type, raising only TraitError.

        Run before the update is applied: traitlets rolls an update back only on a
        ``TraitError``, and a decoder or a type check that raised anything else (an
        ``OverflowError`` for ``10**400`` as a float, a ``ValueError`` from numpy) would leave
        the other traits of the same update set without their validators having run.
        """
        trait = self.traits()[key]
        try:
            decoded = self.trait_metadata(key, "from_json", self._trait_from_json)(value, self)
            if not (decoded is None and trait.allow_none) and hasattr(trait, "validate"):
                trait.validate(self, decoded)
        except traitlets.TraitError:
            raise
        except Exception as err:
            raise InvalidValue(f"{type(self).__name__}.{key}: cannot use the value "
                               f"{_short(value)} from the front end ({type(err).__name__}: "
                               f"{err})") from err


def _short(value) -> str:
    """A short ``repr`` of ``value`` (values from a browser can be huge)."""
    return reprlib.repr(value)
