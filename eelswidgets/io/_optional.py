"""Import optional dependencies (the ``io`` extra) with an error that names the fix."""

from __future__ import annotations

import importlib
from types import ModuleType

__all__ = ["require"]

_INSTALL = 'pip install "eelswidgets[io]"'


def require(module: str, purpose: str) -> ModuleType:
    """Import ``module`` or raise an ``ImportError`` that says how to install it.

    Parameters
    ----------
    module : str
        Dotted module name, e.g. ``"rsciio.hspy"``.
    purpose : str
        What it is needed for, used in the message (e.g. ``"reading .dm4 files"``).

    Returns
    -------
    module
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = module.split(".")[0]
        dist = {"rsciio": "rosettasciio"}.get(package, package)
        raise ImportError(f"{purpose} needs the optional package {dist!r}, which is not "
                          f"installed; install it with: {_INSTALL}") from exc
