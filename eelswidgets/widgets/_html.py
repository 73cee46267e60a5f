"""Markup for ``ipywidgets.HTML`` values that text from data can never turn into markup.

The front end puts an ``ipywidgets.HTML`` value into the page as markup, so a spectrum
image's name such as ``<img src=x onerror=...>`` (from a file header or a HyperSpy title) would
run in the browser. This module is the only place where the package writes HTML:

- :class:`Markup` is a ``str`` made by the builders below; only those pass through unchanged
  (a ``Markup(...)`` made anywhere else, e.g. returned by an object's ``__str__``, is escaped).
- :func:`text` escapes anything else (``html.escape(str(value), quote=True)``); every builder
  escapes the parts it is given, so callers never put data into an f-string of markup.
- :class:`SafeHTML` is the ``ipywidgets.HTML`` of the package: a value that is not
  :class:`Markup` is escaped when it is set, so even ``widget.value = data`` shows as text.

A plain ``str`` (an f-string, or ``Markup + str``, which Python makes a plain ``str``) is
escaped, so a mistake shows tags as text instead of running them.
"""

from __future__ import annotations

import html
import re

import ipywidgets as widgets
import traitlets

from ._front_end import FrontEndGate

__all__ = ["Markup", "SafeHTML", "bold", "colored", "concat", "italic", "join", "muted",
           "text"]

_CSS_COLOR = re.compile(r"#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?\Z")
_MADE_HERE = object()


class Markup(str):
    """Markup made by this module's builders; everything else is escaped.

    Only instances made here are trusted: ``Markup(data)`` written anywhere else is escaped
    like plain text, so build markup with the functions of this module.
    """


def _markup(source: str) -> Markup:
    out = Markup(source)
    out._made = _MADE_HERE
    return out


def _trusted(value) -> bool:
    return type(value) is Markup and getattr(value, "_made", None) is _MADE_HERE


def text(value) -> Markup:
    """``value`` as text in HTML: escaped unless it already is :class:`Markup`.

    Any object is turned into a string with ``str()`` first; the result is escaped even when
    that ``__str__`` returns a :class:`Markup` (only the builders' own output is trusted).

    Examples
    --------
    >>> text("<img src=x onerror=alert(1)>")
    '&lt;img src=x onerror=alert(1)&gt;'
    >>> text(bold("a")) == bold("a")
    True
    """
    if _trusted(value):
        return value
    return _markup(html.escape(str(value), quote=True))


def concat(*parts) -> Markup:
    """The parts one after the other, each escaped unless it is :class:`Markup`."""
    return _markup("".join(text(p) for p in parts))


def join(separator, parts) -> Markup:
    """The parts with ``separator`` between them (all escaped unless :class:`Markup`)."""
    return _markup(text(separator).join(text(p) for p in parts))


def _element(tag: str, parts, style: str = "") -> Markup:
    attr = f" style='{html.escape(style, quote=True)}'" if style else ""
    return _markup(f"<{tag}{attr}>{concat(*parts)}</{tag}>")


def bold(*parts) -> Markup:
    """``<b>parts</b>``."""
    return _element("b", parts)


def italic(*parts) -> Markup:
    """``<i>parts</i>``."""
    return _element("i", parts)


def muted(*parts) -> Markup:
    """The parts in grey (a usage hint)."""
    return _element("span", parts, "color:#666")


def colored(color: str, *parts, gap_px: int = 0) -> Markup:
    """The parts in ``color`` (``#rgb`` or ``#rrggbb`` only), ``gap_px`` CSS pixels after them.

    Raises
    ------
    ValueError
        If ``color`` is not a hex colour (nothing else may reach the style attribute).
    """
    if not isinstance(color, str) or not _CSS_COLOR.match(color):
        raise ValueError(f"color must be a hex colour such as '#1f77b4', got {color!r}")
    gap = f";margin-right:{int(gap_px)}px" if gap_px else ""
    return _element("span", parts, f"color:{color}{gap}")


class SafeHTML(FrontEndGate, widgets.HTML):
    """An ``ipywidgets.HTML`` whose value is escaped unless it is :class:`Markup`.

    The front end never sets any of its traits (:class:`FrontEndGate` refuses such updates).

    Examples
    --------
    >>> w = SafeHTML("<script>x</script>")
    >>> w.value
    '&lt;script&gt;x&lt;/script&gt;'
    >>> w.value = concat(bold("epoch"), " 1 < 2")
    >>> w.value
    '<b>epoch</b> 1 &lt; 2'
    """

    def __init__(self, value: str = "", **kwargs):
        super().__init__(value=value, **kwargs)

    @traitlets.validate("value")
    def _escape_value(self, proposal):
        return text(proposal["value"])
