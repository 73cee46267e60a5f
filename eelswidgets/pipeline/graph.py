"""``run_pipeline``: every file's chain in one dask graph, computed once."""

from __future__ import annotations

import functools
import uuid
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._checks import check_choice, check_int
from ..io import load
from .options import (
    LAZY_ABOVE,
    check_decompose,
    check_model,
    check_steps,
    input_paths,
    output_paths,
    takes_chunked_path,
)
from .results import Failed, FileResult, PipelineError, PipelineSummary
from .stages import (
    apply_steps,
    decompose_si,
    decompose_whole,
    decomposition_arrays,
    encode_si,
    encode_whole,
    load_whole,
    save_chunked,
    save_whole,
    steps_whole,
)

__all__ = ["run_pipeline"]

BUILD_THREADS = 4   # chunked files decomposed at once on a cluster


@dataclass(frozen=True)
class Plan:
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


def _whole_chain(i: int, src: Path, out: Path, plan: Plan, model_key):
    import dask

    tag = f"{i}-{uuid.uuid4().hex[:8]}"
    si = dask.delayed(load_whole, pure=False)(src, dask_key_name=f"load-{tag}")
    si = dask.delayed(steps_whole, pure=False)(si, plan.steps,
                                                dask_key_name=f"preprocess-{tag}")
    dec = dask.delayed(decompose_whole, pure=False)(si, plan.decompose,
                                                     dask_key_name=f"decompose-{tag}")
    lat = dask.delayed(encode_whole, pure=False)(model_key, si, dec,
                                                  dask_key_name=f"encode-{tag}")
    return dask.delayed(save_whole, pure=False)(out, si, dec, lat, plan.info(src, False),
                                                 plan.overwrite, dask_key_name=f"save-{tag}")


def _chunked_chain(i: int, src: Path, out: Path, plan: Plan, model_key):
    """A lazily read file: its decomposition now, its encode and save as tasks of the graph.

    The out-of-core decomposition makes its own passes over the chunks (dask computations on
    the scheduler in use: the cluster's workers with a client); the model's ``encode`` of the
    lazy SI is a dask array whose chunk tasks join the pipeline's graph.
    """
    import dask

    stage = "load"
    try:
        si = load(src, lazy=True, chunks=plan.chunks)
        stage = "preprocess"
        si = apply_steps(si, plan.steps)
        stage = "decompose"
        dec = decompose_si(si, plan.decompose)
        stage = "encode"
        latents = encode_si(plan.model, si, dec)
    except Exception as exc:
        return Failed.of(stage, exc)
    dec_arrays, dec_info = decomposition_arrays(dec)
    info = {"shape": list(si.shape), **dec_info, **plan.info(src, True)}
    return dask.delayed(save_chunked, pure=False)(
        out, {"energy": si.energy, "valid": si.valid, **dec_arrays, **latents}, info,
        plan.overwrite, dask_key_name=f"save-{i}-{uuid.uuid4().hex[:8]}")


def run_pipeline(inputs, out_dir, *, steps=(), decompose: Mapping | None = None, model=None,
                 lazy="auto", chunks=None, client=None, on_error: str = "raise",
                 overwrite: bool = True, lazy_above: int = LAZY_ABOVE) -> PipelineSummary:
    """Load, preprocess, decompose and encode many spectrum images; save their maps.

    Everything is computed as one dask graph, once: on the cluster of ``client``, or with the
    local threaded scheduler when ``client`` is None (then the files read whole in one
    computation and each chunked file in its own). The out-of-core decomposition of a
    chunked file makes its passes over the chunks before (see :mod:`eelswidgets.pipeline`
    for the two paths a file can take). One maps file is written per input, atomically:
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
        "method": "nmf", "random_state": 0}``; None skips the decomposition. Chunked files
        are decomposed out of core, where an NMF's ``max_iter`` counts passes over the
        chunks (leave it out: 5 passes; in memory scikit-learn's 200 iterations).
    model : fitted model or callable, optional
        A fitted model whose ``encode(si)`` gives the latent maps (a
        :class:`~eelswidgets.SpectralVAE`, :class:`~eelswidgets.Spec2Im` fitted on the energy
        axis the steps produce, or an :class:`~eelswidgets.Im2Spec` on files with a HAADF
        image); :func:`encode_maps` ``(rvae, channels)`` for a multichannel rVAE on the
        decomposition's maps; or a function ``(si, decomposition) -> array or dict of
        arrays``. Chunked files are encoded chunk by chunk on the workers (a function gets
        the lazy SI and runs in this process). The model is shipped to the workers that
        need it.
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

    paths = input_paths(inputs)
    check_choice(on_error, "on_error", ("raise", "collect"))
    if lazy != "auto" and lazy is not True and lazy is not False:
        raise TypeError(f"lazy must be 'auto', True or False, got {lazy!r}")
    if not isinstance(overwrite, bool):
        raise TypeError(f"overwrite must be True or False, got {overwrite!r}")
    lazy_above = check_int(lazy_above, "lazy_above", low=0)
    plan = Plan(check_steps(steps), check_decompose(decompose), model, chunks, overwrite)
    check_model(model, plan.decompose)
    if plan.decompose is None and model is None:
        raise ValueError("nothing to compute: give decompose= (e.g. {'n_components': 4}) "
                         "and/or a fitted model=")
    if client is not None and not hasattr(client, "compute"):
        raise TypeError(f"client must be a distributed.Client (see ew.client()), got "
                        f"{type(client).__name__}")
    outputs = output_paths(paths, out_dir, overwrite)
    chunked = [takes_chunked_path(p, lazy, lazy_above) for p in paths]

    scheduler = client.get if client is not None else "threads"
    with dask.config.set(scheduler=scheduler):
        model_key = (None if model is None
                     else dask.delayed(model, name=f"model-{uuid.uuid4().hex}", traverse=False))
        jobs = [functools.partial(_chunked_chain if c else _whole_chain, i, src, out, plan,
                                  model_key)
                for i, (src, out, c) in enumerate(zip(paths, outputs, chunked, strict=True))]
        tasks = _build(jobs, client, sum(chunked))
        values = _compute(tasks, client, chunked)
    results = tuple(
        FileResult(src, None, c, error=str(v)) if isinstance(v, Failed)
        else FileResult(src, out, c, shapes=v)
        for src, out, c, v in zip(paths, outputs, chunked, values, strict=True))
    summary = PipelineSummary(results)
    if summary.failed and on_error == "raise":
        raise PipelineError(summary)
    return summary


def _build(jobs: list, client, n_chunked: int) -> list:
    """Every file's task; with a client, the chunked files' decompositions side by side.

    A chunked file's out-of-core decomposition runs while its task is built, as computations
    on the cluster that mostly wait on it; a few threads overlap the files' (each
    decomposition's own passes stay in order). The local scheduler already uses every core
    for one file's passes, so without a client the files are built one after another.
    """
    if client is None or n_chunked < 2:
        return [job() for job in jobs]
    with ThreadPoolExecutor(min(BUILD_THREADS, n_chunked)) as pool:
        return list(pool.map(lambda job: job(), jobs))


def _compute(tasks: list, client, chunked: list[bool]) -> list:
    """Compute the files' tasks; an error escaping a chain becomes that file's failure.

    With a client: one graph, one future per file. Without: the files read whole in one
    computation (their chains never raise), then each lazily read file in its own (the local
    scheduler stops a computation at its first error, which would not say whose chunk it was).
    """
    import dask

    live = [i for i, t in enumerate(tasks) if not isinstance(t, Failed)]
    values = list(tasks)
    if client is not None:
        futures = client.compute([tasks[i] for i in live])   # one graph, one future per file
        for i, fut in zip(live, futures, strict=True):
            try:
                values[i] = fut.result()
            except Exception as exc:
                values[i] = Failed.of("compute", exc)
        return values
    groups = [[i for i in live if not chunked[i]]] + [[i] for i in live if chunked[i]]
    for group in filter(None, groups):
        try:
            computed = dask.compute(*[tasks[i] for i in group])
        except Exception as exc:
            computed = [Failed.of("compute", exc)] * len(group)
        for i, v in zip(group, computed, strict=True):
            values[i] = v
    return values
