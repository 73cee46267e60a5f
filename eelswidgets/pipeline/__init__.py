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
  lazy, and the latent maps are encoded chunk by chunk inside the graph (spectrum-by-spectrum
  models: the :class:`~eelswidgets.models.SpectralVAE`). ``ew.decompose`` is called on the
  lazy spectrum image, so where it takes lazy data its passes run on the cluster (a
  factorisation iterates: its fit cannot be part of a single graph); where it does not, one
  task of the graph decomposes the preprocessed cube gathered from its chunks.

Modules: :mod:`.cluster` (:func:`client`), :mod:`.options` (the checks made before anything
runs), :mod:`.stages` (the tasks of a file's chain), :mod:`.graph` (:func:`run_pipeline`),
:mod:`.results` (the summary and the failure value).

The fitted model enters the graph once and is shipped (pickled) to the workers that need it.
An error in one file never stops the others: it is recorded with the file's path and the stage
that failed; ``on_error="raise"`` (default) raises a :class:`PipelineError` naming every failed
file after the run (the other outputs are written), ``"collect"`` returns them in the summary.
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
