"""Deterministic, physics-based synthetic spectrum images with ground truth.

- :func:`nanowires`: low-loss plasmon modes of two nanowires (NMF / VAE / rVAE workflow).
- :func:`nanocube_array`: plasmons of a self-assembled nanocube film (im2spec / spec2im).
- :func:`nanocube_film`: a richer film: per-particle size, shape and doping, a collective
  mode, defects in both halves (NMF endmembers that mix peaks; latent-size studies).
- :func:`perovskite_interface`: core-loss edges across a SrTiO3/LaGaO3 interface.
- :func:`rotated_motifs`: maps with rotated copies of one motif (rotation-invariant models).

Public files that other people acquired and published (not shipped with the package, fetched
on demand from their source): :mod:`~eelswidgets.datasets.realdata`, with the loaders
:func:`oxide_interface_si`, :func:`drifting_lowloss_si`, :func:`cuzn_si`, :func:`lsmo_linescan`.

Every generator is seeded (same seed, same output), size-configurable and returns ground truth
(``SpectrumImage.truth`` or the fields of :class:`MotifStack`).
"""

from . import realdata
from .film import nanocube_film
from .motifs import MotifStack, render_motif, rotated_motifs
from .nanocubes import nanocube_array
from .perovskite import perovskite_interface
from .realdata import cuzn_si, drifting_lowloss_si, lsmo_linescan, oxide_interface_si
from .wires import nanowires

__all__ = [
    "MotifStack",
    "cuzn_si",
    "drifting_lowloss_si",
    "lsmo_linescan",
    "nanocube_array",
    "nanocube_film",
    "nanowires",
    "oxide_interface_si",
    "perovskite_interface",
    "realdata",
    "render_motif",
    "rotated_motifs",
]
