"""File input/output for spectrum images.

- :func:`load` / :func:`save`: the project's own ``.npz``/``.h5`` format (exact round trip of
  cube, axes, HAADF, valid mask, metadata and truth) and, through rosettasciio (extra ``io``),
  ``.hspy``, ``.dm3``, ``.dm4``, ``.emd`` and ``.msa`` files.
- :func:`save_maps` / :func:`load_maps`: result maps of a batch run (one ``.maps.npz`` each).
- :func:`read_image`: the 2D image of a file (a HAADF image saved apart from its spectra).
- :func:`from_hyperspy` / :func:`to_hyperspy`: HyperSpy / exspy signals.
- :func:`atomic_write` / :func:`atomic_path`: write files atomically (used by every writer).
"""

from __future__ import annotations

from ._atomic import atomic_path, atomic_write
from .files import NATIVE_FORMATS, READ_FORMATS, load, save
from .hyperspy_interop import from_hyperspy, to_hyperspy
from .images import read_image
from .maps import load_maps, save_maps
from .native import FORMAT_NAME, FORMAT_VERSION

__all__ = [
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "NATIVE_FORMATS",
    "READ_FORMATS",
    "atomic_path",
    "atomic_write",
    "from_hyperspy",
    "load",
    "load_maps",
    "read_image",
    "save",
    "save_maps",
    "to_hyperspy",
]
