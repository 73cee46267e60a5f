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
  file is opened lazily here (``ew.load(path, lazy=True)``) and the preprocessing steps stay
  lazy. ``ew.decompose`` of the lazy spectrum image is out of core: its passes over the chunks
  run while the graph is built, as dask computations on the scheduler in use (the cluster's
  workers with a client): PCA three (a first chunk, the covariance, the maps), NMF a sample, up
  to ``max_iter`` passes of ``MiniBatchNMF.partial_fit`` (``max_iter`` counts passes here;
  default 5) that read the chunks two at a time, one computation per pair (the estimator is
  updated in between), and the maps; a factorisation that iterates cannot be one graph (with a
  client, up to four files' decompositions run side by side, from threads here). The model's
  ``encode`` of the lazy spectrum image (SpectralVAE, Im2Spec, Spec2Im) returns dask arrays
  chunked like the scan, whose chunk tasks join the graph, ahead of the file's save task;
  :func:`encode_maps` does the same for an rVAE on the decomposition's maps. A function model
  runs here on the lazy spectrum image and the decomposition (return dask arrays to keep its
  work on the workers). Each pass and the encode read and preprocess the file's chunks again
  (save preprocessed files first, e.g. as ``.zarr``, where the preprocessing is costly).

Modules: :mod:`.cluster` (:func:`client`), :mod:`.options` (the checks made before anything
runs), :mod:`.stages` (the tasks of a file's chain), :mod:`.graph` (:func:`run_pipeline`),
:mod:`.results` (the summary and the failure value), :mod:`.maps_model` (:func:`encode_maps`).

The fitted model enters the graph once (and once more per chunked file, as its ``encode``
graph's key) and is shipped (pickled) to the workers that need it.
An error in one file never stops the others: it is recorded with the file's path and the stage
that failed (without a client, each chunked file is computed on its own after the files read
whole, so that an error in a chunk is that file's); ``on_error="raise"`` (default) raises a
:class:`PipelineError` naming every failed file after the run (the other outputs are
written), ``"collect"`` returns them in the summary.
Inputs, steps and options are checked before anything runs.

dask and ``distributed`` are imported inside the functions (the ``io`` extra).
"""

from .cluster import client
from .graph import run_pipeline
from .maps_model import EncodeMaps, encode_maps
from .options import LAZY_ABOVE, STEP_METHODS
from .results import FileResult, PipelineError, PipelineSummary
from .stages import apply_steps

__all__ = ["LAZY_ABOVE", "STEP_METHODS", "EncodeMaps", "FileResult", "PipelineError",
           "PipelineSummary", "apply_steps", "client", "encode_maps", "run_pipeline"]
