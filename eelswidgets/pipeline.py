"""A batch pipeline over many spectrum images as one dask graph, on one machine or a cluster.

:func:`run_pipeline` takes every input file through load -> preprocess -> decompose -> encode
with a fitted model -> save maps (one ``.maps.npz`` per input, written atomically, see
:func:`eelswidgets.io.save_maps`) and computes everything as one dask graph: on the workers of
a ``dask.distributed`` cluster when ``client=`` is given (see :func:`client`), else with the
local threaded scheduler in this process.

Each file takes one of two paths:

- **whole** (a file that fits in a worker): its steps are one chain of ``dask.delayed`` tasks
  over the ordinary in-memory functions (``ew.load``, the SpectrumImage methods,
  ``ew.decompose``, ``model.encode``, ``save_maps``); the file is read on the worker that runs
  the chain.
- **chunked** (``lazy=True``, or ``"auto"`` for files above ``lazy_above`` bytes on disk): the
  file is opened lazily here (``ew.load(path, lazy=True)``), the preprocessing steps stay
  lazy, ``ew.decompose`` runs on the lazy spectrum image (its passes over the data run on the
  cluster; a factorisation iterates, so its fit cannot be part of a single graph), and the
  latent maps are encoded chunk by chunk inside the graph (spectrum-by-spectrum models: the
  :class:`~eelswidgets.models.SpectralVAE`).

The fitted model enters the graph once and is shipped (pickled) to the workers that need it.
An error in one file never stops the others: it is recorded with the file's path and the stage
that failed; ``on_error="raise"`` (default) raises a :class:`PipelineError` naming every failed
file after the run (the other outputs are written), ``"collect"`` returns them in the summary.
Inputs, steps and options are checked before anything runs.

dask and ``distributed`` are imported inside the functions (the ``io`` extra).
"""

from __future__ import annotations

import functools
import inspect
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.decomposition import NMF, PCA

from ._checks import check_choice, check_int
from .decomposition import decompose as _decompose
from .io import load, save_maps
from .io._optional import require
from .io.files import READ_FORMATS, STORE_FORMATS
from .io.maps import MAPS_SUFFIX
from .spectrum_image import SpectrumImage

__all__ = ["LAZY_ABOVE", "STEP_METHODS", "FileResult", "PipelineError", "PipelineSummary",
           "client", "run_pipeline"]

#: SpectrumImage methods a pipeline step may name (each returns a SpectrumImage)
STEP_METHODS = ("crop", "crop_energy", "bin", "clip", "normalize", "remove_zlp", "align_zlp",
                "remove_spikes", "remove_background")
LAZY_ABOVE = 512 * 2**20  #: bytes on disk above which ``lazy="auto"`` reads a file chunk-wise
_NOT_LAZY = (".npz", ".msa")  # formats without chunks: always read whole
_RETURN_FLAGS = ("return_shifts", "return_report")


# ---------------------------------------------------------------------------- the cluster
def client(address=None, *, n_workers: int | None = None,
           threads_per_worker: int | None = None, processes: bool = True,
           timeout: float = 10.0, **cluster_kwargs):
    """A ``dask.distributed`` client: of a new local cluster, or of a running scheduler.

    Parameters
    ----------
    address : None, "local", str or a cluster object
        None or ``"local"``: start a ``LocalCluster`` on this machine (closed with the
        client). A scheduler address such as ``"tcp://host:8786"``: connect to a cluster
        started with ``dask scheduler`` and ``dask worker`` (see the README, "Distributed").
        A cluster object (e.g. ``LocalCluster``, a dask-jobqueue cluster): connect to it.
    n_workers, threads_per_worker : int, optional
        For a local cluster: worker processes (default 2) and threads each (default 1).
    processes : bool
        For a local cluster: workers in their own processes (default) or as threads of this
        one (no pickling, but every worker shares this process's memory and GIL).
    timeout : float
        Seconds to wait for a remote scheduler.
    **cluster_kwargs
        Passed to ``LocalCluster`` (e.g. ``memory_limit="4GiB"``,
        ``dashboard_address=":8787"``; by default the dashboard listens on a free port of
        this machine only: ``client.dashboard_link``).

    Returns
    -------
    distributed.Client
        Close it with ``client.close()`` (a local cluster it started closes with it), or
        use it in a ``with`` block.

    Raises
    ------
    ImportError
        ``distributed`` is not installed (the message says how to install it).
    TypeError
        Local-cluster options with a remote address, or an address of another type.
    OSError
        No scheduler answered at ``address`` within ``timeout``.
    """
    distributed = require("distributed", "the distributed engine (ew.client)")
    if address is None or (isinstance(address, str) and address == "local"):
        n = check_int(2 if n_workers is None else n_workers, "n_workers", low=1)
        t = check_int(1 if threads_per_worker is None else threads_per_worker,
                      "threads_per_worker", low=1)
        if not isinstance(processes, bool):
            raise TypeError(f"processes must be True or False, got {processes!r}")
        cluster_kwargs.setdefault("dashboard_address", "127.0.0.1:0")   # a free local port
        return distributed.Client(n_workers=n, threads_per_worker=t, processes=processes,
                                  **cluster_kwargs)
    local_only = {"n_workers": n_workers, "threads_per_worker": threads_per_worker,
                  **cluster_kwargs}
    given = sorted(k for k, v in local_only.items() if v is not None)
    if given or processes is not True:
        raise TypeError(f"{', '.join(given) or 'processes'} apply to a local cluster (address "
                        f"None or 'local'); the workers of the scheduler at {address!r} are "
                        "the ones started there with `dask worker`")
    if isinstance(address, str):
        if ":" not in address:
            raise ValueError(f"a scheduler address looks like 'tcp://host:8786', got "
                             f"{address!r}")
        try:
            return distributed.Client(address, timeout=timeout)
        except OSError as exc:
            raise OSError(f"no dask scheduler answered at {address!r} within {timeout} s; "
                          "start one there with `dask scheduler` (and workers with `dask "
                          "worker <address>`), or check the address and the firewall") from exc
    if hasattr(address, "scheduler_address"):
        return distributed.Client(address, timeout=timeout)
    raise TypeError(f"address must be None, 'local', a scheduler address such as "
                    f"'tcp://host:8786' or a dask cluster object, got {type(address).__name__}")


# ---------------------------------------------------------------------------- results
@dataclass(frozen=True)
class FileResult:
    """What happened to one input of :func:`run_pipeline`.

    Attributes
    ----------
    source : pathlib.Path
        The input file.
    output : pathlib.Path or None
        The maps file written (None when this input failed).
    lazy : bool
        Whether it took the chunked path.
    shapes : dict of str to tuple
        Shape of every array written (``maps``, ``spectra``, ``latent``, ...).
    error : str or None
        ``"<stage>: <ExceptionType>: <message>"`` when it failed.
    """

    source: Path
    output: Path | None
    lazy: bool
    shapes: dict = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """Whether the maps of this input were written."""
        return self.error is None


@dataclass(frozen=True)
class PipelineSummary:
    """The result of :func:`run_pipeline`: one :class:`FileResult` per input, in order."""

    results: tuple[FileResult, ...]

    @property
    def written(self) -> list[Path]:
        """The maps files written."""
        return [r.output for r in self.results if r.ok]

    @property
    def failed(self) -> list[FileResult]:
        """The inputs that failed (each with its error)."""
        return [r for r in self.results if not r.ok]

    def __repr__(self) -> str:
        lines = [f"<PipelineSummary: {len(self.written)} of {len(self.results)} written>"]
        for r in self.results:
            what = (", ".join(f"{k} {v}" for k, v in r.shapes.items()) if r.ok
                    else f"FAILED {r.error}")
            lines.append(f"  {r.source.name}{' (chunked)' if r.lazy else ''}: {what}")
        return "\n".join(lines)


class PipelineError(RuntimeError):
    """Some inputs failed; ``.summary`` holds every result (the others were written)."""

    def __init__(self, summary: PipelineSummary):
        self.summary = summary
        failed = summary.failed
        lines = [f"{len(failed)} of {len(summary.results)} input(s) failed "
                 f"({len(summary.written)} maps file(s) written):"]
        lines += [f"  {r.source}: {r.error}" for r in failed]
        super().__init__("\n".join(lines))


@dataclass(frozen=True)
class _Failed:
    """An error travelling down a file's chain in place of its value."""

    stage: str
    message: str

    @classmethod
    def of(cls, stage: str, exc: BaseException) -> _Failed:
        return cls(stage, f"{type(exc).__name__}: {exc}")

    def __str__(self) -> str:
        return f"{self.stage}: {self.message}"


def _stage(name: str):
    """Run a stage only when no argument is a failure; turn its exception into a failure."""
    def wrap(func):
        @functools.wraps(func)
        def run(*args, **kwargs):
            for a in (*args, *kwargs.values()):
                if isinstance(a, _Failed):
                    return a
            try:
                return func(*args, **kwargs)
            except Exception as exc:
                return _Failed.of(name, exc)
        return run
    return wrap


# ---------------------------------------------------------------------------- checks
def _input_paths(inputs) -> list[Path]:
    if isinstance(inputs, (str, os.PathLike)):
        root = Path(os.fspath(inputs)).expanduser()
        if not root.exists():
            raise FileNotFoundError(f"no such file or folder: {str(root)!r}")
        if root.is_dir() and root.suffix.lower() not in STORE_FORMATS:
            paths = sorted(p for p in root.iterdir()
                           if p.suffix.lower() in READ_FORMATS and not p.name.startswith(".")
                           and not p.name.endswith(MAPS_SUFFIX))
            if not paths:
                raise ValueError(f"the folder {str(root)!r} holds no spectrum image (files "
                                 f"ending in {', '.join(READ_FORMATS)})")
            return paths
        inputs = [root]
    if isinstance(inputs, bytes) or not hasattr(inputs, "__iter__"):
        raise TypeError(f"inputs must be a folder, a file or a list of files, got "
                        f"{type(inputs).__name__}")
    paths = []
    for p in inputs:
        if isinstance(p, bytes) or not isinstance(p, (str, os.PathLike)):
            raise TypeError(f"every input must be a path, got {type(p).__name__}")
        path = Path(os.fspath(p)).expanduser()
        if not path.exists():
            raise FileNotFoundError(f"no such input file: {str(path)!r}")
        if path.suffix.lower() not in READ_FORMATS:
            raise ValueError(f"cannot read {str(path)!r}: unknown extension "
                             f"{path.suffix or '(none)'}; supported: {', '.join(READ_FORMATS)}")
        paths.append(path)
    if not paths:
        raise ValueError("inputs is empty: give a folder or at least one file")
    return paths


def _output_paths(paths: list[Path], out_dir, overwrite: bool) -> list[Path]:
    if isinstance(out_dir, bytes) or not isinstance(out_dir, (str, os.PathLike)):
        raise TypeError(f"out_dir must be a path, got {type(out_dir).__name__}")
    out = Path(os.fspath(out_dir)).expanduser()
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {str(out)!r} is a file, not a folder")
    outputs = [out / (p.name[: -len(p.suffix)] + MAPS_SUFFIX) for p in paths]
    seen: dict[Path, Path] = {}
    for src, dst in zip(paths, outputs, strict=True):
        if dst in seen:
            raise ValueError(f"{str(seen[dst])!r} and {str(src)!r} would both be saved as "
                             f"{dst.name}; rename one or run them apart")
        seen[dst] = src
    if not overwrite:
        taken = [str(d) for d in outputs if d.exists()]
        if taken:
            raise FileExistsError(f"maps files exist already (pass overwrite=True to replace "
                                  f"them): {', '.join(taken)}")
    out.mkdir(parents=True, exist_ok=True)
    return outputs


def _check_steps(steps) -> tuple:
    if callable(steps) or (isinstance(steps, tuple) and len(steps) == 2
                           and isinstance(steps[0], str)):
        steps = [steps]
    if isinstance(steps, (str, bytes, Mapping)) or not hasattr(steps, "__iter__"):
        raise TypeError("steps must be a list of (method, kwargs) pairs or callables, e.g. "
                        "[('crop_energy', {'lo': 0.2, 'hi': 3.0}), ('remove_zlp', {})]")
    checked = []
    for i, step in enumerate(steps):
        if callable(step):
            checked.append(step)
            continue
        if isinstance(step, str):
            step = (step, {})
        if not (isinstance(step, (tuple, list)) and len(step) == 2
                and isinstance(step[0], str) and isinstance(step[1], Mapping)):
            raise TypeError(f"steps[{i}] must be a (method name, kwargs dict) pair or a "
                            f"callable si -> si, got {step!r}")
        name, kwargs = step[0], dict(step[1])
        check_choice(name, f"steps[{i}] method", STEP_METHODS)
        flags = [k for k in _RETURN_FLAGS if kwargs.get(k)]
        if flags:
            raise ValueError(f"steps[{i}] ({name}): {flags[0]} makes it return a tuple; a step "
                             "must return a SpectrumImage")
        try:
            inspect.signature(getattr(SpectrumImage, name)).bind(None, **kwargs)
        except TypeError as exc:
            raise TypeError(f"steps[{i}] ({name}): {exc}") from None
        checked.append((name, kwargs))
    return tuple(checked)


def _check_decompose(options) -> dict | None:
    if options is None:
        return None
    if not isinstance(options, Mapping):
        raise TypeError(f"decompose must be a dict of ew.decompose arguments such as "
                        f"{{'n_components': 4, 'method': 'nmf'}}, got {type(options).__name__}")
    options = dict(options)
    if "n_components" not in options:
        raise ValueError("decompose needs n_components, e.g. {'n_components': 4}")
    try:
        inspect.signature(_decompose).bind(None, **options)
    except TypeError as exc:
        raise TypeError(f"decompose: {exc}") from None
    own = set(inspect.signature(_decompose).parameters)
    method = str(options.get("method", "nmf")).lower()
    estimator = {"nmf": NMF, "pca": PCA}.get(method)
    extra = sorted(set(options) - own - set(estimator().get_params() if estimator else ()))
    if estimator is not None and extra:
        raise TypeError(f"decompose: {', '.join(map(repr, extra))} is neither an argument of "
                        f"ew.decompose nor of scikit-learn's {estimator.__name__}")
    return options


def _check_model(model) -> None:
    if model is None:
        return
    if hasattr(model, "encode"):
        is_fitted = getattr(model, "is_fitted", None)
        if is_fitted is False:
            raise ValueError(f"the {type(model).__name__} is not fitted; call .fit(...) first")
        return
    if not callable(model):
        raise TypeError(f"model must be a fitted model with .encode(si) or a callable "
                        f"(si, decomposition) -> arrays, got {type(model).__name__}")


def _on_disk(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _takes_chunked_path(path: Path, lazy, lazy_above: int) -> bool:
    if lazy == "auto":
        return path.suffix.lower() not in _NOT_LAZY and _on_disk(path) > lazy_above
    return bool(lazy)


# ---------------------------------------------------------------------------- the stages
def apply_steps(si: SpectrumImage, steps) -> SpectrumImage:
    """Run checked preprocessing ``steps`` on ``si`` (in memory or lazily, as ``si`` is)."""
    for i, step in enumerate(steps):
        if callable(step):
            out = step(si)
            label = getattr(step, "__name__", type(step).__name__)
        else:
            out = getattr(si, step[0])(**step[1])
            label = step[0]
        if not isinstance(out, SpectrumImage):
            raise TypeError(f"steps[{i}] ({label}) returned {type(out).__name__}, not a "
                            "SpectrumImage")
        si = out
    return si


def _latents(result) -> dict[str, np.ndarray]:
    """A model's output as named arrays (``latent`` or ``latent_<key>`` for a dict)."""
    if isinstance(result, Mapping):
        return {f"latent_{k}": v for k, v in result.items()}
    if isinstance(result, tuple):
        return {f"latent_{i}": v for i, v in enumerate(result)}
    return {"latent": result}


def _encode(model, si: SpectrumImage, dec) -> dict:
    if model is None:
        return {}
    if hasattr(model, "encode"):
        return _latents(model.encode(si))
    return _latents(model(si, dec))


def _encode_block(block: np.ndarray, valid: np.ndarray, model, energy: np.ndarray
                  ) -> np.ndarray:
    return model.encode(SpectrumImage(block, energy, valid=valid))


def _encode_chunks(model, model_key, si: SpectrumImage) -> dict:
    """Latent maps of a lazy SI, encoded chunk by chunk in the graph (spectral models)."""
    import dask.array as da

    from .models import SpectralVAE

    if not isinstance(model, SpectralVAE):
        raise TypeError(f"the chunked path encodes spectrum by spectrum, which needs a "
                        f"SpectralVAE; a {type(model).__name__} needs the whole scan: pass "
                        "lazy=False (each file read whole on a worker)")
    fitted_on = int(model.state_["n_energy"])
    if si.ne != fitted_on:   # checked here: inside the graph it would fail chunk by chunk
        raise ValueError(f"this SpectralVAE was fitted on spectra of {fitted_on} energy "
                         f"channels but the preprocessed data has {si.ne}; preprocess the "
                         "files the way the model's training data was")
    valid = da.from_array(si.valid, chunks=si.data.chunks[:2])
    z = da.blockwise(_encode_block, "yxl", si.data, "yxe", valid, "yx", model_key, None,
                     si.energy, None, new_axes={"l": int(model.latent_dim)}, concatenate=True,
                     dtype=np.float32, meta=np.empty((0, 0, 0), np.float32))
    return {"latent": z}


def _decomposition_arrays(dec) -> tuple[dict, dict]:
    if dec is None:
        return {}, {}
    return ({"maps": dec.maps, "spectra": dec.spectra, "scree": dec.scree},
            {"method": dec.method, "reconstruction_error": dec.reconstruction_error})


def _save(out: Path, arrays: dict, info: dict, overwrite: bool) -> dict:
    arrays = {k: np.asarray(v) for k, v in arrays.items()}
    save_maps(out, arrays, info, overwrite=overwrite)
    return {k: tuple(v.shape) for k, v in arrays.items()}


@_stage("load")
def _load_whole(path: Path) -> SpectrumImage:
    return load(path)


@_stage("preprocess")
def _steps_whole(si: SpectrumImage, steps) -> SpectrumImage:
    return apply_steps(si, steps)


@_stage("decompose")
def _decompose_whole(si: SpectrumImage, options: dict | None):
    return None if options is None else _decompose(si, **options)


@_stage("encode")
def _encode_whole(model, si: SpectrumImage, dec) -> dict:
    return _encode(model, si, dec)


@_stage("decompose")
def _decompose_cube(cube: np.ndarray, energy: np.ndarray, valid: np.ndarray, options: dict):
    return _decompose(SpectrumImage(cube, energy, valid=valid), **options)


@_stage("save")
def _save_whole(out: Path, si: SpectrumImage, dec, latents: dict, info: dict,
                overwrite: bool) -> dict:
    arrays, dec_info = _decomposition_arrays(dec)
    return _save(out, {"energy": si.energy, "valid": si.valid, **arrays, **latents},
                 {"shape": list(si.shape), **dec_info, **info}, overwrite)


@_stage("save")
def _save_chunked(out: Path, arrays: dict, dec, info: dict, overwrite: bool) -> dict:
    dec_arrays, dec_info = _decomposition_arrays(dec)
    return _save(out, {**arrays, **dec_arrays}, {**info, **dec_info}, overwrite)


# ---------------------------------------------------------------------------- the graph
@dataclass(frozen=True)
class _Plan:
    steps: tuple
    decompose: dict | None
    model: Any
    chunks: Any
    overwrite: bool

    def info(self, source: Path, lazy: bool) -> dict:
        return {"source": str(source), "chunked": lazy,
                "steps": [s[0] if isinstance(s, tuple) else getattr(s, "__name__", "callable")
                          for s in self.steps],
                "step_kwargs": [repr(s[1]) if isinstance(s, tuple) else "" for s in self.steps],
                "decompose": {k: repr(v) for k, v in (self.decompose or {}).items()},
                "model": None if self.model is None else type(self.model).__name__}


def _whole_chain(i: int, src: Path, out: Path, plan: _Plan, model_key):
    import dask

    tag = f"{i}-{uuid.uuid4().hex[:8]}"
    si = dask.delayed(_load_whole, pure=False)(src, dask_key_name=f"load-{tag}")
    si = dask.delayed(_steps_whole, pure=False)(si, plan.steps,
                                                dask_key_name=f"preprocess-{tag}")
    dec = dask.delayed(_decompose_whole, pure=False)(si, plan.decompose,
                                                     dask_key_name=f"decompose-{tag}")
    lat = dask.delayed(_encode_whole, pure=False)(model_key, si, dec,
                                                  dask_key_name=f"encode-{tag}")
    return dask.delayed(_save_whole, pure=False)(out, si, dec, lat, plan.info(src, False),
                                                 plan.overwrite, dask_key_name=f"save-{tag}")


def _chunked_chain(i: int, src: Path, out: Path, plan: _Plan, model_key):
    import dask

    stage, dec, dec_task = "load", None, None
    try:
        si = load(src, lazy=True, chunks=plan.chunks)
        stage = "preprocess"
        si = apply_steps(si, plan.steps)
        stage = "decompose"
        if plan.decompose is not None:
            try:   # out-of-core, its passes on the cluster, where decompose takes lazy data
                dec = _decompose(si, **plan.decompose)
            except (IndexError, NotImplementedError, TypeError):
                # else one task of the graph decomposes the preprocessed cube, which its
                # chunks (read and preprocessed on the workers) are gathered into
                dec_task = dask.delayed(_decompose_cube, pure=False)(
                    si.data, si.energy, si.valid, plan.decompose,
                    dask_key_name=f"decompose-{i}-{uuid.uuid4().hex[:8]}")
        stage = "encode"
        if plan.model is None:
            latents = {}
        elif hasattr(plan.model, "encode"):
            latents = _encode_chunks(plan.model, model_key, si)
        else:
            raise TypeError("a callable model needs the whole scan: pass lazy=False")
    except Exception as exc:
        return _Failed.of(stage, exc)
    dec_arrays, dec_info = _decomposition_arrays(dec)
    info = {"shape": list(si.shape), **dec_info, **plan.info(src, True)}
    return dask.delayed(_save_chunked, pure=False)(
        out, {"energy": si.energy, "valid": si.valid, **dec_arrays, **latents}, dec_task, info,
        plan.overwrite, dask_key_name=f"save-{i}-{uuid.uuid4().hex[:8]}")


def run_pipeline(inputs, out_dir, *, steps=(), decompose: Mapping | None = None, model=None,
                 lazy="auto", chunks=None, client=None, on_error: str = "raise",
                 overwrite: bool = True, lazy_above: int = LAZY_ABOVE) -> PipelineSummary:
    """Load, preprocess, decompose and encode many spectrum images; save their maps.

    Everything is computed as one dask graph, once: on the cluster of ``client``, or with the
    local threaded scheduler when ``client`` is None (see the module docstring for the two
    paths a file can take). One maps file is written per input, atomically:
    ``out_dir/<name>.maps.npz`` (read it with :func:`eelswidgets.io.load_maps`), holding
    ``energy`` and ``valid``, with ``decompose`` the arrays ``maps`` (k, ny, nx), ``spectra``
    (k, ne) and ``scree``, and with ``model`` the array ``latent`` (ny, nx, d) (or
    ``latent_<key>`` for each entry of a dict result), plus the source and the settings.

    Parameters
    ----------
    inputs : str, os.PathLike or list of them
        A folder (every file in it that ``ew.load`` reads, sorted by name; earlier
        ``.maps.npz`` outputs are skipped), one file or ``.zarr`` store, or a list of them.
        With a cluster, every worker must be able to read these paths.
    out_dir : str or os.PathLike
        Folder for the maps (created if missing).
    steps : list of (method, kwargs) pairs or callables
        Preprocessing, in order: a :class:`~eelswidgets.SpectrumImage` method name from
        :data:`STEP_METHODS` with its keyword arguments, e.g.
        ``[("crop_energy", {"lo": 0.2, "hi": 3.0}), ("remove_zlp", {})]``, or a function
        ``si -> SpectrumImage`` (shipped to the workers; it must be picklable there).
    decompose : dict, optional
        Arguments of :func:`eelswidgets.decompose`, e.g. ``{"n_components": 4,
        "method": "nmf", "random_state": 0}``; None skips the decomposition.
    model : fitted model or callable, optional
        A fitted model whose ``encode(si)`` gives the latent maps (e.g. a
        :class:`~eelswidgets.SpectralVAE` fitted on a reference scan; it must have been
        fitted on the energy axis the steps produce), or a function ``(si, decomposition) ->
        array or dict of arrays`` (e.g. ``lambda si, dec: rvae.encode(dec.maps[[0, 1, 2]])``).
        It is shipped once to each worker that needs it.
    lazy : "auto", bool
        Read files chunk-wise (``True``), whole (``False``), or chunk-wise only when larger
        than ``lazy_above`` bytes on disk (``"auto"``; ``.npz``/``.msa`` are always read
        whole).
    chunks : "auto", (cy, cx), optional
        Pixels per chunk of chunk-wise files (default: the file's chunks).
    client : distributed.Client, optional
        Run on this cluster (see :func:`client`); None: this process, threaded.
    on_error : {"raise", "collect"}
        What to do when an input fails (its path and stage are recorded either way, and
        every other input is still processed and written): raise a :class:`PipelineError`
        after the run, or return the failures in the summary.
    overwrite : bool
        Replace existing maps files (default); False refuses before anything runs.
    lazy_above : int
        Threshold of ``lazy="auto"`` in bytes (default 512 MiB).

    Returns
    -------
    PipelineSummary
        One :class:`FileResult` per input: output path, array shapes, or the error.

    Raises
    ------
    FileNotFoundError
        A missing folder or input file (named).
    ValueError, TypeError
        A folder without spectrum images, an unknown extension, two inputs that would write
        the same maps file, a bad step, decompose argument or model (checked before
        anything runs).
    PipelineError
        With ``on_error="raise"``: inputs failed (each named with its stage and error).
    """
    import dask

    paths = _input_paths(inputs)
    check_choice(on_error, "on_error", ("raise", "collect"))
    if lazy != "auto" and lazy is not True and lazy is not False:
        raise TypeError(f"lazy must be 'auto', True or False, got {lazy!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    lazy_above = check_int(lazy_above, "lazy_above", low=0)
    plan = _Plan(_check_steps(steps), _check_decompose(decompose), model, chunks, overwrite)
    _check_model(model)
    if plan.decompose is None and model is None:
        raise ValueError("nothing to compute: give decompose= (e.g. {'n_components': 4}) "
                         "and/or a fitted model=")
    if client is not None and not hasattr(client, "compute"):
        raise TypeError(f"client must be a distributed.Client (see ew.client()), got "
                        f"{type(client).__name__}")
    outputs = _output_paths(paths, out_dir, overwrite)
    chunked = [_takes_chunked_path(p, lazy, lazy_above) for p in paths]

    scheduler = client.get if client is not None else "threads"
    with dask.config.set(scheduler=scheduler):
        model_key = (None if model is None
                     else dask.delayed(model, name=f"model-{uuid.uuid4().hex}", traverse=False))
        tasks = [(_chunked_chain if c else _whole_chain)(i, src, out, plan, model_key)
                 for i, (src, out, c) in enumerate(zip(paths, outputs, chunked, strict=True))]
        values = _compute(tasks, client, paths, chunked)
    results = tuple(
        FileResult(src, None, c, error=str(v)) if isinstance(v, _Failed)
        else FileResult(src, out, c, shapes=v)
        for src, out, c, v in zip(paths, outputs, chunked, values, strict=True))
    summary = PipelineSummary(results)
    if summary.failed and on_error == "raise":
        raise PipelineError(summary)
    return summary


def _compute(tasks: list, client, paths: list[Path], chunked: list[bool]) -> list:
    """Compute every file's task as one graph; an error escaping a chain names its file."""
    import dask

    live = [i for i, t in enumerate(tasks) if not isinstance(t, _Failed)]
    values = list(tasks)
    if client is not None:
        futures = client.compute([tasks[i] for i in live])   # one graph, one future per file
        for i, fut in zip(live, futures, strict=True):
            try:
                values[i] = fut.result()
            except Exception as exc:
                values[i] = _Failed.of("compute", exc)
        return values
    try:
        computed = dask.compute(*[tasks[i] for i in live])
    except Exception as exc:   # only chunked chains can raise here (whole ones are guarded)
        suspects = [str(paths[i]) for i in live if chunked[i]]
        raise PipelineError(PipelineSummary(tuple(
            FileResult(paths[i], None, chunked[i], error=f"compute: {type(exc).__name__}: "
                       f"{exc} (while computing the chunked input(s) {', '.join(suspects)})")
            for i in live if chunked[i]))) from exc
    for i, v in zip(live, computed, strict=True):
        values[i] = v
    return values

