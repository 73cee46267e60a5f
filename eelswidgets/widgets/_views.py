"""Small helpers the explorers share to build and feed views."""

from __future__ import annotations

import ipywidgets as widgets
import numpy as np

from .image_view import ImageView

__all__ = ["header", "image_view", "set_image"]


def image_view(image, *, title: str = "", colormap: str = "viridis", pixel_size: float = 1.0,
               unit: str = "px", display_size: int = 256, **kwargs) -> ImageView:
    """An :class:`ImageView` of ``image`` (float32, NaN transparent) with calibration."""
    view = ImageView(title=title, colormap=colormap, pixel_size=float(pixel_size),
                     unit=str(unit), display_size=int(display_size), **kwargs)
    set_image(view, image)
    return view


def set_image(view: ImageView, image) -> None:
    """Send ``image`` to ``view`` (the view sends it at display resolution)."""
    arr = np.asarray(image, dtype=np.float32)
    setter = getattr(view, "set_image", None)
    if callable(setter):
        setter(arr)
    else:
        view.image = arr


def header(title: str, hint: str) -> widgets.HTML:
    """A one-line title with a usage hint."""
    return widgets.HTML(f"<b>{title}</b> <span style='color:#666'>{hint}</span>")
