"""Public, third-party STEM-EELS files, fetched on demand from their source repositories.

The package does **not** ship these files and does not redistribute them: :func:`fetch`
downloads each one from the public repository where its authors published it (a GitHub raw URL
at a pinned commit), checks its sha256 and keeps it in a local cache folder. Each
:class:`RealFile` names its source and its licence; most of these repositories state none, so
the files are for your own analysis, not for copying into other projects.

The cache folder is, in this order: the ``data_dir`` argument, the environment variable
``EELSWIDGETS_DATA_DIR``, or the operating system's cache folder for ``eelswidgets`` (from
pooch). A folder that already holds a file with the right sha256 is only read, never written:
point ``EELSWIDGETS_DATA_DIR`` at a read-only copy of the files to work offline.

The loaders :func:`oxide_interface_si`, :func:`drifting_lowloss_si`, :func:`cuzn_si` and
:func:`lsmo_linescan` fetch a file (and the HAADF image saved beside it) and return a
:class:`~eelswidgets.SpectrumImage`; they need the ``io`` extra (rosettasciio and pooch).

Examples
--------
>>> from eelswidgets.datasets import realdata
>>> realdata.names()[:2]
('oxide_coreloss_SI.dm3', 'oxide_coreloss_HAADF.dm3')
>>> path = realdata.fetch("CuZn_coreloss_SI.hspy")  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from ..io import load
from ..io._optional import require
from ..spectrum_image import SpectrumImage

__all__ = [
    "ENV_VAR",
    "RealFile",
    "cache_dir",
    "catalogue",
    "cuzn_si",
    "drifting_lowloss_si",
    "fetch",
    "lsmo_linescan",
    "names",
    "oxide_interface_si",
    "summary",
]

#: Environment variable that sets the folder the files are fetched into (or read from).
ENV_VAR = "EELSWIDGETS_DATA_DIR"

_SCIFI = ("pycroscopy/SciFiDatasets", "0c977f2f0db47514f3b0c0c79ad698ddc8fddd71",
          "data/microscopy/em/tem/")
_VCANGADI = ("vcangadi1/EELS_Hyperspy", "01f9794f56e2194462fdbf755df3066175e23f0e", "")
_EXSPY = ("hyperspy/exspy-demos", "927d1f21b3b8aba4e2e622c2e621d3d9d5542d1c", "EELS/datasets/")
_NO_LICENCE = "none stated in the source repository"


@dataclass(frozen=True)
class RealFile:
    """One public file: where it comes from, under which licence, and what it holds.

    Attributes
    ----------
    name : str
        File name in the cache folder (and the key of :func:`fetch`).
    repository : str
        GitHub ``owner/name`` of the source repository.
    commit : str
        The pinned commit the file is fetched at.
    path : str
        Path of the file in that repository.
    licence : str
        Licence stated by the source (or that none is stated).
    description : str
        What the file holds.
    sha256 : str
        Hex digest the fetched file must have.
    """

    name: str
    repository: str
    commit: str
    path: str
    licence: str
    description: str
    sha256: str

    @property
    def url(self) -> str:
        """GitHub raw URL of the file at the pinned commit."""
        return (f"https://raw.githubusercontent.com/{self.repository}/{self.commit}/"
                f"{quote(self.path)}")


def _entry(source, name, path, licence, description, sha256) -> RealFile:
    repository, commit, folder = source
    return RealFile(name, repository, commit, folder + path, licence, description, sha256)


_CATALOGUE = (
    _entry(_SCIFI, "oxide_coreloss_SI.dm3", "DMReader_SpectrumImage_SI-EELS.dm3", "MIT",
           "core-loss SI of an oxide heterostructure, 49 x 6 px, 350-861.5 eV: Ti L2,3, O K and "
           "a La M4,5-like band; Nion, 200 kV",
           "cd38e33895da5c58f411e83979376913276387d6aa6085834576f552f8bf8bfe"),
    _entry(_SCIFI, "oxide_coreloss_HAADF.dm3", "DMReader_SI-HAADF.dm3", "MIT",
           "HAADF acquired with the oxide SI, 1568 x 192 = 32 x 32 samples per SI pixel",
           "f67ed49e930c10fcef0d0cdcdc9814c2c282ecb43629d0c45150073cf1dc1961"),
    _entry(_SCIFI, "oxide_coreloss_survey.dm3", "DMReader_Image_SI-Survey.dm3", "MIT",
           "512 x 512 survey image of the oxide SI's region",
           "d9862b002252c99fff7c2325ed50a3030c6c164c1ac0b0cfa74b881094772e0f"),
    _entry(_VCANGADI, "lowloss_drift_16x16_SI.dm3",
           "EELS Spectrum Image 16x16 0.2s 0.3eV 0offset.dm3", _NO_LICENCE,
           "low-loss SI, 16 x 16 px, -30-276.9 eV: zero-loss peak drifting by about 3 eV across "
           "the scan, bulk plasmon, spikes in row 8; JEOL, 200 kV",
           "716eff2bfba750bfb8378c4fed1a90af80ac6ad3c2a864c0b49859e5d9f8af87"),
    _entry(_VCANGADI, "coreloss_16x16_SI.dm3",
           "EELS Spectrum Image 16x16 1s 0.5eV 78offset.dm3", _NO_LICENCE,
           "core-loss SI, 16 x 16 px, 28-539.5 eV, same region as the low-loss SI",
           "8d3cd1f49f431fdd855d9d4d69e73387952ba98e6826492173f1557ff9b25772"),
    _entry(_EXSPY, "CuZn_coreloss_SI.hspy", "CuZn_EELS_mapping_tutorial.hspy", _NO_LICENCE,
           "core-loss SI, 50 x 40 px, 700-1988 eV @ 8 eV: Cu L2,3 and Zn L2,3 of Cu and ZnO on "
           "carbon nanotubes; JEOL ARM200F, 200 kV",
           "0405fc47a562ec5edad67576ab5c39331fa904b800026c03c897d23345a67c07"),
    _entry(_EXSPY, "CuZn_HAADF.hspy", "CuZn_HAADF.hspy", _NO_LICENCE,
           "the 50 x 40 HAADF acquired with the CuZn SI",
           "1b4ad7125c1be0a9c5ad1666950e2ecd95ea17b07405591a4da1623eb26ccbce"),
    _entry(_EXSPY, "LSMO_linescan.hspy", "LSMO_linescan.hspy", _NO_LICENCE,
           "core-loss line scan (1 x 40 px) across a La0.7Sr0.3MnO3 film, 428.5-721 eV: O K, "
           "Mn L2,3; 80 kV",
           "94a5e28f77d95447262a8c3f861ff085cd01e4fcbf7e8411a2f67a4f85b67eef"),
    _entry(_EXSPY, "LSMO_linescan_low_loss.hspy", "LSMO_linescan_low_loss.hspy", _NO_LICENCE,
           "low-loss line scan with the zero-loss peak acquired with the LSMO core loss "
           "(DualEELS), -50-461.5 eV",
           "cd6c2838d650a0b871ffb1a27cdde5ce0e22467b0d7911c1c16b4490451f179b"),
)
_BY_NAME = {f.name: f for f in _CATALOGUE}


def catalogue() -> tuple[RealFile, ...]:
    """Every file :func:`fetch` knows: name, source, licence, description, sha256.

    Returns
    -------
    tuple of RealFile
    """
    return _CATALOGUE


def names() -> tuple[str, ...]:
    """Names of the files :func:`fetch` knows.

    Returns
    -------
    tuple of str
    """
    return tuple(_BY_NAME)


def summary() -> str:
    """The catalogue as a plain-text table (name, licence, source, description).

    Returns
    -------
    str
    """
    lines = []
    for f in _CATALOGUE:
        lines.append(f"{f.name}  [{f.licence}]  {f.repository}@{f.commit[:7]}:{f.path}")
        lines.append(f"    {f.description}")
    return "\n".join(lines)


def cache_dir(path=None) -> Path:
    """The folder the files are fetched into: ``path``, ``$EELSWIDGETS_DATA_DIR`` or the OS cache.

    Parameters
    ----------
    path : str or os.PathLike, optional
        Explicit folder; overrides the environment variable.

    Returns
    -------
    pathlib.Path
        The folder (it may not exist yet; nothing is created here).
    """
    if path is None:
        path = os.environ.get(ENV_VAR) or None
    if path is None:
        pooch = require("pooch", "the cache folder of the public EELS files")
        return Path(pooch.os_cache("eelswidgets"))
    return Path(path).expanduser()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _lookup(name) -> RealFile:
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown file {name!r}; the catalogue holds: "
                         f"{', '.join(_BY_NAME)}") from None


def fetch(name: str, *, data_dir=None) -> Path:
    """Path of a catalogued file, downloaded from its source on first use.

    A file already in the folder is checked against its sha256 and used in place: nothing is
    written, so the folder may be read-only. A missing file is downloaded with pooch from the
    source repository at the pinned commit (see :attr:`RealFile.url`) and checked.

    Parameters
    ----------
    name : str
        One of :func:`names`, e.g. ``"oxide_coreloss_SI.dm3"``.
    data_dir : str or os.PathLike, optional
        Folder to look in and download into (default: :func:`cache_dir`).

    Returns
    -------
    pathlib.Path
        The local file. It is third-party data: see the entry's ``licence`` in
        :func:`catalogue` before sharing it.

    Raises
    ------
    ValueError
        ``name`` is not in the catalogue, or the local file's sha256 differs from the
        catalogued one (the message names both and what to do).
    FileNotFoundError
        The file is not in the folder and could not be downloaded (no network, read-only
        folder); the message gives the URL to fetch it by hand.
    ImportError
        The file must be downloaded and pooch (extra ``io``) is not installed.
    """
    entry = _lookup(name)
    folder = cache_dir(data_dir)
    path = folder / entry.name
    if path.is_file():
        found = _sha256(path)
        if found != entry.sha256:
            raise ValueError(
                f"{path} does not have the catalogued sha256: expected {entry.sha256}, found "
                f"{found}. The file is damaged or is another version; delete it so that it is "
                f"downloaded again from {entry.url}, or point {ENV_VAR} at a folder holding the "
                f"right file.")
        return path
    pooch = require("pooch", f"downloading {entry.name}")
    try:
        fetched = pooch.retrieve(entry.url, known_hash=f"sha256:{entry.sha256}",
                                 fname=entry.name, path=folder, progressbar=False)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"{entry.name} is not in {folder} and could not be downloaded from {entry.url} "
            f"({type(exc).__name__}: {exc}). Download it by hand into that folder, or set "
            f"{ENV_VAR} to a folder that holds it.") from exc
    return Path(fetched)


def _load(name: str, haadf: str | None = None, *, data_dir=None) -> SpectrumImage:
    """:func:`fetch` a spectrum image (and its HAADF file) and load it."""
    image = fetch(haadf, data_dir=data_dir) if haadf else False
    return load(fetch(name, data_dir=data_dir), haadf=image)


def oxide_interface_si(haadf: bool = True, *, data_dir=None) -> SpectrumImage:
    """Core-loss SI across an oxide heterostructure (Ti L2,3, O K, La M4,5), 49 x 6 px.

    Fetched on first use from pycroscopy/SciFiDatasets (MIT licence); not shipped with the
    package. The growth direction runs along the 49 rows: a La-rich band in rows ~18-29 where
    the Ti signal drops. 350-861.5 eV at 0.5 eV/channel, counts, no spatial calibration.

    Parameters
    ----------
    haadf : bool
        Attach the HAADF image acquired with it (a separate file, 32 x 32 samples per SI pixel,
        block-averaged onto the SI grid).
    data_dir : str or os.PathLike, optional
        Folder to fetch into / read from (default: :func:`cache_dir`).

    Returns
    -------
    SpectrumImage
    """
    return _load("oxide_coreloss_SI.dm3", "oxide_coreloss_HAADF.dm3" if haadf else None,
                 data_dir=data_dir)


def drifting_lowloss_si(*, data_dir=None) -> SpectrumImage:
    """Low-loss SI whose zero-loss peak drifts by ~3 eV across the scan, 16 x 16 px.

    Fetched on first use from vcangadi1/EELS_Hyperspy (no licence stated there: for your own
    analysis only); not shipped with the package. -30-276.9 eV at 0.3 eV/channel, with a bulk
    plasmon ~16 eV above the ZLP and spikes in row 8. No HAADF image was published with it.

    Parameters
    ----------
    data_dir : str or os.PathLike, optional
        Folder to fetch into / read from (default: :func:`cache_dir`).

    Returns
    -------
    SpectrumImage
    """
    return _load("lowloss_drift_16x16_SI.dm3", data_dir=data_dir)


def cuzn_si(haadf: bool = True, *, data_dir=None) -> SpectrumImage:
    """Core-loss SI of Cu and ZnO on carbon nanotubes (Cu L2,3, Zn L2,3), 50 x 40 px.

    Fetched on first use from hyperspy/exspy-demos (no licence stated there: for your own
    analysis only); not shipped with the package. 700-1988 eV at 8 eV/channel (binned).

    Parameters
    ----------
    haadf : bool
        Attach the 50 x 40 HAADF image acquired with it (a separate file).
    data_dir : str or os.PathLike, optional
        Folder to fetch into / read from (default: :func:`cache_dir`).

    Returns
    -------
    SpectrumImage
    """
    return _load("CuZn_coreloss_SI.hspy", "CuZn_HAADF.hspy" if haadf else None,
                 data_dir=data_dir)


def lsmo_linescan(low_loss: bool = False, *, data_dir=None) -> SpectrumImage:
    """Line scan (1 x 40 px) across a La0.7Sr0.3MnO3 film: core loss (O K, Mn L2,3) or low loss.

    Fetched on first use from hyperspy/exspy-demos (no licence stated there: for your own
    analysis only); not shipped with the package.

    Parameters
    ----------
    low_loss : bool
        The low-loss line scan with the zero-loss peak (-50-461.5 eV) instead of the core loss
        (428.5-721 eV); both at 0.5 eV/channel, acquired together (DualEELS).
    data_dir : str or os.PathLike, optional
        Folder to fetch into / read from (default: :func:`cache_dir`).

    Returns
    -------
    SpectrumImage
    """
    return _load("LSMO_linescan_low_loss.hspy" if low_loss else "LSMO_linescan.hspy",
                 data_dir=data_dir)
