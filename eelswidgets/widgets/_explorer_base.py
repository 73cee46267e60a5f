"""Shared machinery of the explorers: the Selection wiring and a read-only cube accessor.

Wiring (see :class:`Explorer`):

- ``pixel`` of every image view and ``selection`` (the selected pixel indices) of every image
  view and latent scatter are tied to the explorer's :class:`~.selection.Selection`
  (:meth:`~.selection.Selection.tie`), whose front-end part relays them: a click or a brush
  updates every view in the browser without a trip through the kernel, and only the
  selection's update travels to the kernel (which sets the views' Python traits from it);
- Python observers on the Selection compute what needs the data (the spectrum at the pixel,
  the mean spectrum of the selection, an energy-filtered image) and send only that.

:class:`CubeAccess` reads a cube without copying it, so a cube far too large to send (or to
copy: a memory map) is explored through the few values each view needs. A lazy (dask) cube is
read through :class:`eelswidgets._chunk_reader.ChunkReader`: one cached chunk per click, and
chunk-wise images with a progress display; the widgets only show the results.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator

import ipywidgets as widgets
import numpy as np
from ipywidgets.widgets.widget import _instances as _open_widgets  # model id -> open widget

from .. import _lazy
from .._chunk_reader import ChunkReader, Overview
from ..spectrum_image import SpectrumImage
from ._front_end import FrontEndGate
from .selection import Selection

__all__ = ["CubeAccess", "Explorer"]


class CubeAccess:
    """Read-only, copy-free access to a spectrum image's cube.

    Accepts a :class:`~eelswidgets.SpectrumImage` or any object with ``data`` (a 3-D array
    such as a ``numpy.memmap`` or a broadcast view, never copied, or a dask array, never
    computed whole) and ``energy`` attributes and optionally ``haadf``, ``valid``,
    ``pixel_size``, ``pixel_unit`` and ``name``.

    Parameters
    ----------
    si : SpectrumImage or object
        The spectrum image.
    name : str
        Name used in error messages.
    progress : see :func:`eelswidgets._progress.steps`
        How chunk-wise passes over a lazy cube show their progress (default a ``tqdm.auto``
        bar; may be changed later through the attribute of the same name).

    Attributes
    ----------
    reader : ChunkReader or None
        The chunk reader of a lazy cube (None in memory).
    """

    def __init__(self, si, name: str = "si", *, progress="auto"):
        tiles = None
        if isinstance(si, SpectrumImage):
            data, energy, haadf, valid = si.data, si.energy, si.haadf, si.valid
            tiles = si.storage  # a lazy cube loaded from a file: a click reads one tile
            self.pixel_size, self.pixel_unit, self.name = si.pixel_size, si.pixel_unit, si.name
        elif hasattr(si, "data") and hasattr(si, "energy"):
            data, energy = si.data, si.energy
            haadf, valid = getattr(si, "haadf", None), getattr(si, "valid", None)
            self.pixel_size = float(getattr(si, "pixel_size", 1.0))
            self.pixel_unit = str(getattr(si, "pixel_unit", "px"))
            self.name = str(getattr(si, "name", ""))
        else:
            raise TypeError(f"{name} must be a SpectrumImage (or an object with .data of shape "
                            f"(ny, nx, ne) and .energy), got {type(si).__name__}")
        # plain str, never a subclass that an object's __str__ may return (see _html.text)
        self.name, self.pixel_unit = str(self.name), str(self.pixel_unit)
        lazy = _lazy.is_lazy_array(data)
        if lazy:  # type and shape checked, energy axis whole in every chunk; nothing computed
            data = _lazy.lazy_cube(data, f"{name}.data")
        elif not isinstance(data, np.ndarray) or data.ndim != 3:
            raise ValueError(f"{name}.data must be a 3-D array (ny, nx, ne), got "
                             f"{getattr(data, 'shape', type(data).__name__)}")
        if not np.issubdtype(data.dtype, np.number):
            raise TypeError(f"{name}.data must hold numbers, got dtype {data.dtype}")
        energy = np.asarray(energy, dtype=np.float64)
        if energy.shape != (data.shape[2],):
            raise ValueError(f"{name}.energy has shape {energy.shape} but the cube has "
                             f"{data.shape[2]} energy channels")
        self.data = data
        self.energy = energy
        self.ny, self.nx, self.ne = data.shape
        if haadf is not None:
            haadf = np.asarray(haadf)
            if haadf.shape != (self.ny, self.nx):
                raise ValueError(f"{name}.haadf has shape {haadf.shape} but the cube has "
                                 f"{self.ny}x{self.nx} pixels")
        self.haadf = haadf
        if valid is None:
            valid = np.ones((self.ny, self.nx), bool)
        self.valid = np.asarray(valid, dtype=bool)
        if self.valid.shape != (self.ny, self.nx):
            raise ValueError(f"{name}.valid has shape {self.valid.shape} but the cube has "
                             f"{self.ny}x{self.nx} pixels")
        self.progress = progress
        self.reader = ChunkReader(data, self.valid, tiles=tiles) if lazy else None
        self._overview: Overview | None = None

    @property
    def is_lazy(self) -> bool:
        """Whether the cube is a dask array (read chunk by chunk)."""
        return self.reader is not None

    def overview(self) -> Overview:
        """Total intensity image and mean spectrum of a lazy cube, computed once (one pass)."""
        if self.reader is None:
            raise ValueError("overview() is for a lazy cube; an in-memory cube is read directly")
        if self._overview is None:
            self._overview = self.reader.overview(progress=self.progress)
        return self._overview

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(ny, nx)``."""
        return self.ny, self.nx

    def spectrum(self, y: int, x: int) -> np.ndarray:
        """The spectrum at ``(y, x)`` as a new float32 array (NaN at an invalid pixel)."""
        if self.reader is not None:
            out = self.reader.spectrum(int(y), int(x))
        else:
            out = np.array(self.data[int(y), int(x)], dtype=np.float32)
        if not self.valid[int(y), int(x)]:
            out[:] = np.nan
        return out

    def mean_spectrum(self, indices: np.ndarray, *, chunk: int = 8192) -> np.ndarray | None:
        """Mean spectrum of the valid pixels among the flat ``indices`` (None if none)."""
        idx = np.asarray(indices, dtype=np.int64)
        if idx.size:
            idx = idx[self.valid.reshape(-1)[idx]]
        if idx.size == 0:
            return None
        ys, xs = np.divmod(idx, self.nx)
        if self.reader is not None:  # only the chunks holding a selected pixel are read
            return self.reader.mean_spectrum(ys, xs, progress=self.progress)
        acc = np.zeros(self.ne, np.float64)
        for s in range(0, idx.size, chunk):  # gathers only the selected spectra, by chunks
            acc += self.data[ys[s:s + chunk], xs[s:s + chunk]].sum(axis=0, dtype=np.float64)
        return (acc / idx.size).astype(np.float32)

    def energy_slice(self, lo: float, hi: float) -> slice:
        """Channels with ``lo <= E <= hi`` (at least the channel nearest to the span)."""
        lo, hi = sorted((float(lo), float(hi)))
        i0 = int(np.searchsorted(self.energy, lo, side="left"))
        i1 = int(np.searchsorted(self.energy, hi, side="right"))
        if i1 <= i0:  # a span narrower than one channel: take the nearest channel
            i0 = int(np.clip(np.argmin(np.abs(self.energy - 0.5 * (lo + hi))), 0, self.ne - 1))
            i1 = i0 + 1
        return slice(i0, i1)

    def energy_image(self, lo: float, hi: float, *, rows: int = 64,
                     cancelled=None) -> np.ndarray | None:
        """Sum over ``lo <= E <= hi`` at every pixel, ``(ny, nx)`` float32, NaN if invalid.

        A lazy cube is summed chunk by chunk (the whole axis comes from :meth:`overview`);
        ``cancelled()`` is asked between batches of chunks and None is returned when it says
        True.
        """
        sl = self.energy_slice(lo, hi)
        if self.reader is not None:
            if (sl.start, sl.stop) == (0, self.ne):
                return self.overview().total
            return self.reader.energy_image(sl, progress=self.progress, cancelled=cancelled)
        out = np.empty((self.ny, self.nx), np.float32)
        for y0 in range(0, self.ny, rows):  # row blocks keep temporaries small (memory maps)
            out[y0:y0 + rows] = self.data[y0:y0 + rows, :, sl].sum(axis=-1, dtype=np.float64)
        out[~self.valid] = np.nan
        return out

    def default_image(self) -> tuple[np.ndarray, str]:
        """The HAADF image if there is one, else the total intensity; with a title."""
        if self.haadf is not None:
            return np.asarray(self.haadf, dtype=np.float32), "HAADF"
        if self.reader is not None:
            return self.overview().total, "total intensity"
        return self.energy_image(self.energy[0], self.energy[-1]), "total intensity"


class Explorer(FrontEndGate, widgets.VBox):
    """Base class of the explorers: a layout of views sharing one :class:`Selection`.

    Subclasses build their views, call :meth:`_tie_pixel` / :meth:`_tie_indices` for the
    views that show the current pixel / the selected pixels, register Python reactions with
    :meth:`_react`, then call :meth:`_attach` once. When a subclass's constructor raises, every
    widget it had made so far is closed again (none stays registered with the kernel).

    Parameters
    ----------
    shape : (int, int)
        Image shape ``(ny, nx)`` every view of the explorer refers to.
    children : sequence of widgets
        The layout.
    selection : Selection, optional
        Share an existing selection (same shape) instead of making a new one.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _closing_on_error(cls.__dict__["__init__"])

    def __init__(self, shape, children=(), *, selection: Selection | None = None, **kwargs):
        super().__init__(list(children), **kwargs)
        self.add_class("ew-explorer")
        self._shape = (int(shape[0]), int(shape[1]))
        self._pixel_views: list[tuple[widgets.Widget, str]] = []
        self._index_views: list[tuple[widgets.Widget, str]] = []
        self._reactions: list[tuple[tuple[str, ...], Callable]] = []
        self._tied: list[widgets.Widget] = []
        self._observers: list[tuple[list[str], _Reaction]] = []
        self._selection: Selection | None = None
        self._initial_selection = selection

    # ------------------------------------------------------------------ lazy data
    @staticmethod
    def _progress_bar(cube: CubeAccess) -> widgets.IntProgress | None:
        """A bar for chunk-wise passes over a lazy cube, hidden until one runs (None in memory).

        Passes report to it once :meth:`_drive_bar` has been called; before that (the overview
        while the explorer is built) they report as the cube's ``progress`` says.
        """
        if not cube.is_lazy:
            return None
        bar = widgets.IntProgress(value=0, min=0, max=1, style={"description_width": "initial"},
                                  layout=widgets.Layout(width="420px", visibility="hidden"))
        bar.add_class("ew-chunk-progress")
        return bar

    @staticmethod
    def _drive_bar(cube: CubeAccess, bar: widgets.IntProgress | None, progress) -> None:
        """Let later passes over ``cube`` drive ``bar`` (and ``progress`` if it is a function)."""
        if bar is None:
            return
        also = progress if callable(progress) else None

        def report(done: int, total: int, desc: str) -> None:
            bar.max = max(1, total)
            bar.value = done
            bar.description = f"{desc}: {done}/{total} chunks"
            bar.layout.visibility = "visible" if done < total else "hidden"
            if also is not None:
                also(done, total, desc)

        cube.progress = report

    # ------------------------------------------------------------------ public
    @property
    def selection(self) -> Selection:
        """The :class:`Selection` shared by every view (and by linked explorers)."""
        return self._selection

    @property
    def shape(self) -> tuple[int, int]:
        """Image shape ``(ny, nx)``."""
        return self._shape

    def use_selection(self, selection: Selection) -> None:
        """Tie every view of this explorer to ``selection`` (see :func:`link`).

        Raises
        ------
        ValueError
            If the selection refers to an image of another shape.
        """
        if not isinstance(selection, Selection):
            raise TypeError(f"selection must be a Selection, got {type(selection).__name__}")
        if tuple(selection.shape) != self._shape:
            raise ValueError(f"cannot share a selection of an image of shape "
                             f"{tuple(selection.shape)} with an explorer of shape "
                             f"{self._shape}; crop or bin the data so the images match")
        if selection is self._selection:
            return
        self._detach()
        self._wire(selection)

    def close(self) -> None:
        """Close the explorer, every widget model it is made of, and the links it created.

        Closes the views and everything they hold (layouts, styles, figure marks, axes,
        scales, selectors) and the explorer's :class:`Selection` unless another explorer still
        uses it (a selection passed in by the caller stays open), and drops the chunks a lazy
        cube's reader keeps. Closing twice is harmless.
        """
        reader = getattr(getattr(self, "cube", None), "reader", None)
        if reader is not None:
            reader.clear()
        sel = getattr(self, "_selection", None)
        self._detach()
        for s in {id(x): x for x in (sel, getattr(self, "_own_selection", None))}.values():
            if s is not None and getattr(s, "_made_by_explorer", False) and not s.tied():
                _close_tree(s)
        for w in list(_held_widgets(self)):
            w.close()
        super().close()

    # ------------------------------------------------------------------ for subclasses
    def _tie_pixel(self, view: widgets.Widget, trait: str = "pixel") -> None:
        self._pixel_views.append((view, trait))

    def _tie_indices(self, view: widgets.Widget, trait: str = "selection") -> None:
        self._index_views.append((view, trait))

    def _react(self, names: str | Iterable[str], fn: Callable[[], None]) -> None:
        names = (names,) if isinstance(names, str) else tuple(names)
        self._reactions.append((names, fn))

    def _attach(self, **initial) -> None:
        sel = self._initial_selection
        self._initial_selection = None
        if sel is None:
            sel = Selection(self._shape)
            sel._made_by_explorer = True
            self._own_selection = sel
        for name, value in initial.items():  # before the reactions first run
            if value is not None:
                setattr(sel, name, value)
        self.use_selection(sel)

    # ------------------------------------------------------------------ wiring
    def _wire(self, sel: Selection) -> None:
        self._selection = sel
        ties: dict[int, dict] = {}  # one entry per view: its pixel and indices traits
        for kind, views in (("pixel", self._pixel_views), ("indices", self._index_views)):
            for view, trait in views:
                ties.setdefault(id(view), {"view": view, "pixel": None, "indices": None})
                ties[id(view)][kind] = trait
        for t in ties.values():
            sel.tie(t["view"], pixel=t["pixel"], indices=t["indices"])
            self._tied.append(t["view"])
        for names, fn in self._reactions:
            handler = _Reaction(fn)
            sel.observe(handler, names=list(names))
            self._observers.append((list(names), handler))
        for _names, fn in self._reactions:
            fn()

    def _detach(self) -> None:
        sel = getattr(self, "_selection", None)
        if sel is not None:
            for view in self._tied:
                sel.untie(view)
            for names, handler in self._observers:
                sel.unobserve(handler, names=names)
        if hasattr(self, "_tied"):
            self._tied.clear()
            self._observers.clear()
            self._selection = None


def _held_widgets(root: widgets.Widget) -> Iterator[widgets.Widget]:
    """Every widget ``root`` holds through its traits, at any depth (not ``root`` itself).

    Follows every trait value (``children``, ``layout``, ``style``, a figure's ``marks``,
    ``axes``, ``interaction``, a mark's ``scales``, ...), so nothing a view is built from is
    missed; a :class:`Selection` is never held this way (views refer to it by model id).
    """
    seen = {id(root)}
    stack = list(_widgets_in(getattr(root, "_trait_values", {})))
    while stack:
        w = stack.pop()
        if id(w) in seen:
            continue
        seen.add(id(w))
        yield w
        stack.extend(_widgets_in(w._trait_values))


def _close_tree(root: widgets.Widget) -> None:
    """Close ``root`` and every widget it holds."""
    for w in list(_held_widgets(root)):
        w.close()
    root.close()


def _widgets_in(value) -> Iterator[widgets.Widget]:
    """The widgets in a trait value: a widget, or one inside (nested) lists, tuples, dicts."""
    if isinstance(value, widgets.Widget):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _widgets_in(v)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _widgets_in(v)


def _closing_on_error(init: Callable) -> Callable:
    """Wrap an explorer's ``__init__``: if it raises, close the widgets it made, then re-raise.

    Only the outermost constructor of a subclass chain records and cleans up.
    """

    @functools.wraps(init)
    def wrapper(self, *args, **kwargs):
        if getattr(self, "_building", False):
            return init(self, *args, **kwargs)
        before = set(_open_widgets)
        self._building = True
        try:
            init(self, *args, **kwargs)
        except BaseException:
            made = [w for mid, w in list(_open_widgets.items()) if mid not in before]
            for w in sorted(made, key=lambda w: w is self):  # the explorer itself last
                w.close()
            raise
        finally:
            self._building = False

    return wrapper


class _Reaction:
    """An observer calling ``fn()`` (no argument), recognisable for unobserve."""

    def __init__(self, fn: Callable[[], None]):
        self.fn = fn

    def __call__(self, change) -> None:
        self.fn()
