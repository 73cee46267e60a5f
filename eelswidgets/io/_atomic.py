"""Atomic file writing: write a temporary file beside the target, then ``os.replace`` it.

A reader never sees a half-written file, and an exception (or an interrupt) during writing
leaves any previous file at the target untouched; the temporary file is removed.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_path", "atomic_write", "check_target"]

_MODES = {"w", "wt", "wb", "w+", "w+t", "w+b"}


def check_target(path, *, overwrite: bool = True) -> Path:
    """Validate a path that is about to be written and return it as a :class:`~pathlib.Path`.

    Parameters
    ----------
    path : str or os.PathLike
        Destination file.
    overwrite : bool
        If False, an existing file is an error.

    Returns
    -------
    pathlib.Path
        The destination; a symbolic link is resolved so that the file it points to is replaced
        and the link is kept.

    Raises
    ------
    TypeError
        ``path`` is not a string or path.
    IsADirectoryError
        ``path`` is an existing directory.
    FileNotFoundError
        The parent directory does not exist.
    FileExistsError
        The file exists and ``overwrite`` is False.
    """
    if isinstance(path, bytes) or not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a str or os.PathLike, got {type(path).__name__}")
    target = Path(os.fspath(path)).expanduser()
    if target.name in ("", ".", ".."):
        raise IsADirectoryError(f"{str(target)!r} names a directory; give a file name, "
                                "e.g. 'result.npz'")
    if target.is_symlink():
        target = Path(os.path.realpath(target))
    if target.is_dir():
        raise IsADirectoryError(f"{str(target)!r} is a directory and would not be overwritten; "
                                f"give a file name inside it, e.g. {str(target / 'result.npz')!r}")
    parent = target.parent
    if not parent.is_dir():
        raise FileNotFoundError(f"cannot write {str(target)!r}: the directory {str(parent)!r} "
                                "does not exist; create it first (Path(...).mkdir(parents=True))")
    if target.exists() and not overwrite:
        raise FileExistsError(f"{str(target)!r} exists; pass overwrite=True to replace it")
    if target.exists() and not target.is_file():
        raise ValueError(f"{str(target)!r} exists and is not a regular file; "
                         "choose another file name")
    return target


def _temp_beside(target: Path) -> Path:
    """Create an empty, exclusive temporary file next to ``target`` and return its path."""
    for _ in range(100):
        tmp = target.with_name(f".{target.stem}-{secrets.token_hex(6)}.tmp{target.suffix}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        except FileExistsError:
            continue
        os.close(fd)
        if target.exists():
            with contextlib.suppress(OSError):  # keep the permissions of the file replaced
                os.chmod(tmp, stat.S_IMODE(os.stat(target).st_mode))
        return tmp
    raise FileExistsError(f"could not create a temporary file next to {str(target)!r}")


def _fsync(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path, *, overwrite: bool = True) -> Iterator[Path]:
    """Context manager that yields a temporary path to write; it replaces ``path`` on success.

    Use it for writers that want a file name rather than a file object (h5py, safetensors).
    The temporary file lies in the same directory (so that ``os.replace`` is atomic) and keeps
    the suffix of ``path`` (so that writers that choose a format by extension still work).

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    overwrite : bool
        If False, refuse to replace an existing file (``FileExistsError``).

    Yields
    ------
    pathlib.Path
        Where to write. It exists (empty) when the block starts.

    Examples
    --------
    >>> import numpy as np
    >>> from eelswidgets.io import atomic_path
    >>> with atomic_path(tmp_dir / "a.npy") as tmp:  # doctest: +SKIP
    ...     np.save(tmp, np.arange(3))
    """
    target = check_target(path, overwrite=overwrite)
    tmp = _temp_beside(target)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    if hasattr(os, "O_DIRECTORY"):
        _fsync(target.parent)


@contextlib.contextmanager
def atomic_write(path, mode: str = "wb", *, encoding: str | None = None,
                 overwrite: bool = True) -> Iterator[IO]:
    """Context manager that yields an open file whose content replaces ``path`` atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Final destination.
    mode : {"wb", "w", "wt", "w+b", "w+", "w+t"}
        Mode of the temporary file (binary by default).
    encoding : str, optional
        Text encoding for text modes (default ``"utf-8"``).
    overwrite : bool
        If False, refuse to replace an existing file (``FileExistsError``).

    Yields
    ------
    file object
        Write to it inside the ``with`` block. If the block raises, ``path`` keeps its previous
        content (or stays absent) and the temporary file is deleted.

    Examples
    --------
    >>> from eelswidgets.io import atomic_write
    >>> with atomic_write("model.json", "w") as fh:  # doctest: +SKIP
    ...     fh.write("{}")
    """
    if mode not in _MODES:
        raise ValueError(f"unknown mode {mode!r}; choose one of {sorted(_MODES)}")
    if "b" in mode:
        if encoding is not None:
            raise ValueError("encoding applies to text modes only; drop it or use mode='w'")
    else:
        encoding = encoding or "utf-8"
    with atomic_path(path, overwrite=overwrite) as tmp, open(tmp, mode, encoding=encoding) as fh:
        yield fh
        fh.flush()
        os.fsync(fh.fileno())
