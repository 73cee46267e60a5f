"""``link(a, b, ...)``: make explorers share one Selection."""

from __future__ import annotations

from .selection import Selection

__all__ = ["link"]


def link(*items) -> Selection:
    """Make explorers share one :class:`Selection`.

    After ``link(a, b)`` a click in ``a`` moves the current pixel of ``b``, a brush in ``b``'s
    latent space lights up the same pixels in ``a``, and an energy span picked in one applies
    to all. The first explorer's selection (or a :class:`Selection` passed first) is kept; the
    others drop theirs. Linking again is harmless.

    Parameters
    ----------
    *items : explorers, or a Selection followed by explorers
        Objects with a ``selection`` and a ``use_selection(selection)`` method (every explorer
        of :mod:`eelswidgets.widgets`).

    Returns
    -------
    Selection
        The shared selection.

    Raises
    ------
    TypeError
        For an object that is not an explorer.
    ValueError
        For fewer than two items, or explorers of images of different shapes (checked before
        anything is changed).
    """
    if len(items) < 2:
        raise ValueError(f"link needs at least two explorers, got {len(items)}")
    first = items[0]
    shared = first if isinstance(first, Selection) else getattr(first, "selection", None)
    for i, ex in enumerate(items):
        if i == 0 and isinstance(ex, Selection):
            continue
        if not (hasattr(ex, "use_selection") and isinstance(getattr(ex, "selection", None),
                                                             Selection)):
            raise TypeError(f"item {i} ({type(ex).__name__}) is not an explorer; link() takes "
                            f"explorers such as SpectrumImageExplorer or LatentExplorer")
    shapes = [tuple(shared.shape)] + [tuple(ex.selection.shape) for ex in items[1:]]
    if len(set(shapes)) != 1:
        raise ValueError(f"cannot link explorers of images of different shapes {shapes}; "
                         f"only explorers of the same (ny, nx) pixels can share a selection")
    for ex in items[1:]:
        ex.use_selection(shared)
    return shared
