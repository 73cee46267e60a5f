"""Small helpers the explorers share to build and feed views."""

from __future__ import annotations

from ._html import SafeHTML, bold, concat, muted
from .image_view import ImageView

__all__ = ["data_label", "header", "image_view"]


def image_view(image, *, title: str = "", colormap: str = "viridis", pixel_size: float = 1.0,
               unit: str = "px", display_size: int = 256, **kwargs) -> ImageView:
    """An :class:`ImageView` of ``image`` (float32, NaN transparent) with calibration."""
    return ImageView(image, title=title, colormap=colormap, pixel_size=float(pixel_size),
                     unit=str(unit), display_size=int(display_size), **kwargs)


def header(title: str, hint: str) -> SafeHTML:
    """A one-line title in bold with a usage hint in grey (both shown as text, escaped)."""
    return SafeHTML(concat(bold(title), " ", muted(hint)))


def data_label(cube) -> str:
    """``"name: ny x nx px"`` of a :class:`~._explorer_base.CubeAccess` (the size if unnamed)."""
    size = f"{cube.ny} x {cube.nx} px"
    return f"{cube.name}: {size}" if cube.name else size
