"""A pipeline model that encodes the decomposition's maps (a multichannel rVAE)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["EncodeMaps", "encode_maps"]


class EncodeMaps:
    """``model.encode(dec.maps[channels])`` as a pipeline model ``(si, dec) -> dict``.

    Built by :func:`encode_maps`. For a file read chunk by chunk the stack of maps (small, in
    memory) is chunked like the file's scan, so the model encodes it chunk by chunk, windows
    across chunk borders included, as tasks of the pipeline's graph.
    """

    def __init__(self, model, channels: tuple[int, ...]):
        self.model, self.channels = model, channels

    @property
    def is_fitted(self) -> bool:
        """Whether the wrapped model is fitted."""
        return bool(getattr(self.model, "is_fitted", True))

    def check(self, decompose: dict | None) -> None:
        """Refuse, before anything runs, a pipeline whose decomposition lacks the channels."""
        if decompose is None:
            raise ValueError("encode_maps encodes the decomposition's maps: pass decompose= "
                             "(e.g. {'n_components': 4})")
        k = int(decompose["n_components"])
        if max(self.channels) >= k:
            raise ValueError(f"encode_maps channels {list(self.channels)} need at least "
                             f"{max(self.channels) + 1} components; decompose gives {k}")

    def __call__(self, si, dec) -> dict:
        """The model's latents of ``dec.maps[channels]`` (dask arrays for a lazy ``si``)."""
        stack = np.ascontiguousarray(dec.maps[list(self.channels)])
        if si.is_lazy:
            import dask.array as da

            stack = da.from_array(stack, chunks=(len(self.channels), *si.data.chunks[:2]))
        return self.model.encode(stack)


def encode_maps(model, channels: Sequence[int]) -> EncodeMaps:
    """A pipeline ``model=`` that encodes a stack of the decomposition's maps.

    Parameters
    ----------
    model : MultichannelRVAE
        Fitted on stacks of the same channels (e.g. ``dec.maps[[0, 1]]`` of a reference scan
        decomposed with the pipeline's ``decompose`` options).
    channels : sequence of int
        Which maps, in the order the model was fitted on.

    Returns
    -------
    EncodeMaps
        Pass it as ``ew.run_pipeline(..., decompose={...}, model=encode_maps(rvae, [0, 1]))``;
        the maps files then hold ``latent_angle``, ``latent_z`` (and the shifts of a
        translation model).

    Raises
    ------
    TypeError
        ``model`` has no ``encode`` or ``channels`` are not integers.
    ValueError
        ``channels`` is empty, repeats a channel or has a negative one.
    """
    if not hasattr(model, "encode"):
        raise TypeError(f"model must be a fitted MultichannelRVAE, got {type(model).__name__}")
    if isinstance(channels, (str, bytes)) or not hasattr(channels, "__iter__"):
        raise TypeError(f"channels must be a list of map indices, got {channels!r}")
    chosen = tuple(channels)
    if not chosen or not all(isinstance(c, (int, np.integer)) and not isinstance(c, bool)
                             for c in chosen):
        raise TypeError(f"channels must be a non-empty list of integers, got {channels!r}")
    if min(chosen) < 0 or len(set(chosen)) != len(chosen):
        raise ValueError(f"channels must be different non-negative indices, got {channels!r}")
    return EncodeMaps(model, tuple(int(c) for c in chosen))
