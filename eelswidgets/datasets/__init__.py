"""Deterministic, physics-based synthetic spectrum images with ground truth.

- :func:`nanowires`: low-loss plasmon modes of two nanowires (NMF / VAE / rVAE workflow).
- :func:`nanocube_array`: plasmons of a self-assembled nanocube film (im2spec / spec2im).
- :func:`nanocube_film`: a richer film: per-particle size, shape and doping, a collective
  mode, defects in both halves (NMF endmembers that mix peaks; latent-size studies).
- :func:`perovskite_interface`: core-loss edges across a SrTiO3/LaGaO3 interface.
- :func:`rotated_motifs`: maps with rotated copies of one motif (rotation-invariant models).

Every generator is seeded (same seed, same output), size-configurable and returns ground truth
(``SpectrumImage.truth`` or the fields of :class:`MotifStack`).
"""

from .film import nanocube_film
from .motifs import MotifStack, render_motif, rotated_motifs
from .nanocubes import nanocube_array
from .perovskite import perovskite_interface
from .wires import nanowires

__all__ = [
    "MotifStack",
    "nanocube_array",
    "nanocube_film",
    "nanowires",
    "perovskite_interface",
    "render_motif",
    "rotated_motifs",
]
