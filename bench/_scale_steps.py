"""The steps of ``bench_scale.py``: for each library, how to get a step's input and run it.

A step is a pair of functions: ``setup(files)`` builds the step's input (outside the
measurement: a loaded cube, a lazy signal, a fitted model) and ``act(input)`` is what is
measured. Both run on the small ``tiny`` files first (imports and first-call costs stay out of
the measurement), then on the full-size files. Libraries:

- ``ew``: eelswidgets in memory (the cube read from a ``.npy`` file: one float32 cube, no copy);
- ``ew_lazy``: eelswidgets on a lazy cube (``ew.load(".zarr", lazy=True)``);
- ``hs``: HyperSpy 2.5 eager (``EELSSpectrum`` over the same ``.npy`` cube);
- ``hs_lazy``: HyperSpy lazy (``hs.load(".zspy", lazy=True)``; in the chain, the eelswidgets
  store's zarr array wrapped by ``LazyEELSSpectrum``, so no second copy is written).

Eager steps keep their result (a processed cube is held, as a user holds it); lazy steps reduce
theirs (the mean spectrum of a processed cube; maps of a decomposition), so nothing of cube size
is held. In the chain every step after ``load`` starts from the lazily ZLP-removed cube (the
removal is part of every later step's graph: its own time is in the ``zlp`` row).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

CROP = (-1.0, 40.0)          # eV kept by the crop before the ZLP removal
FIT_WINDOW = (1.5, 4.0)      # eV of the ZLP-tail power-law fit (below the plasmon)
PCA_K, NMF_K, NMF_ITER = 8, 6, 50
LAZY_NMF_PASSES = 1          # passes of eelswidgets' lazy NMF over the chunks
LIBS = ("ew", "ew_lazy", "hs", "hs_lazy")
STEPS = ("load_npz", "load_h5", "load_zarr", "load_hspy", "load_zspy", "construct",
         "preprocess", "pca", "nmf", "vae_fit", "encode", "explorer")
CHAIN_STEPS = ("load", "zlp", "pca", "nmf", "vae_fit", "encode", "explorer")
CHAIN_LIBS = ("ew_lazy", "hs_lazy")
LOAD_FILES = {"load_npz": "si.npz", "load_h5": "si.h5", "load_zarr": "si.zarr",
              "load_hspy": "si.hspy", "load_zspy": "si.zspy"}


def energy_axis(ne: int) -> np.ndarray:
    """The energy axis (eV) of every synthetic cube: -2 .. 50 eV over ``ne`` channels."""
    return np.linspace(-2.0, 50.0, ne)


def lowloss_block(block: np.ndarray, energy: np.ndarray, block_id=None) -> np.ndarray:
    """One chunk of a synthetic low-loss cube: ZLP, plasmon, tail and noise (seeded by position)."""
    seed = (block_id[0] * 100_003 + block_id[1]) if block_id else 0
    rng = np.random.default_rng(seed)
    cy, cx, _ = block.shape
    shift = rng.normal(0.0, 0.05, (cy, cx, 1))
    width = 1.0 + 0.3 * rng.random((cy, cx, 1))
    out = np.empty((cy, cx, energy.size), np.float32)
    out[...] = 1e4 * np.exp(-0.5 * ((energy - shift) / 0.4) ** 2)
    out += (300.0 * width) * np.exp(-0.5 * ((energy - 15.0) / (4.0 * width)) ** 2)
    out += 200.0 / np.maximum(energy, 0.5)
    out += rng.random((cy, cx, energy.size), dtype=np.float32) * 10.0
    return out


def available(lib: str, step: str, chain: bool = False) -> bool:
    """Whether ``lib`` has the step (HyperSpy has no VAE or explorer; npz has no lazy reader)."""
    if lib.startswith("hs") and step in ("vae_fit", "encode", "explorer"):
        return False
    if chain:
        return lib in CHAIN_LIBS and step in CHAIN_STEPS
    if lib.endswith("_lazy") and step in ("load_npz", "construct"):
        return False
    return not (lib.startswith("hs") and step in ("load_npz", "load_h5", "load_zarr"))


def needed_files(lib: str, step: str) -> set[str]:
    """The files of a size's folder a (library, step) case reads."""
    if step in LOAD_FILES:
        return {LOAD_FILES[step]}
    return {"si.zarr"} if lib == "ew_lazy" else {"si.zspy"} if lib == "hs_lazy" else {"cube.npy"}


# ----------------------------------------------------------------------------- eelswidgets
def _compute(x):
    return x.compute() if hasattr(x, "compute") else x


def _ew_input(files: dict, lazy: bool, chain: bool):
    import eelswidgets as ew

    if lazy:
        si = ew.load(files["si.zarr"], lazy=True)
        return si.remove_zlp(FIT_WINDOW) if chain else si
    cube = np.load(files["cube.npy"])
    return ew.SpectrumImage(cube, energy_axis(cube.shape[-1]))


def ew_step(step: str, lazy: bool, chain: bool = False):
    """``(setup, act)`` of an eelswidgets step (in memory, or lazy with ``lazy``)."""
    import eelswidgets as ew

    def load_input(files):
        return _ew_input(files, lazy, chain)

    if step in LOAD_FILES or step == "load":
        name = "si.zarr" if step == "load" else LOAD_FILES[step]
        return (lambda files: files[name]), (lambda path: ew.load(path, lazy=lazy))
    if step == "construct":
        def setup(files):
            return np.load(files["cube.npy"])
        return setup, lambda cube: ew.SpectrumImage(cube, energy_axis(cube.shape[-1]))
    if step in ("preprocess", "zlp"):
        def act(si):
            out = si if chain else si.crop_energy(*CROP)
            out = out if chain else out.remove_zlp(FIT_WINDOW)
            return out.mean_spectrum() if lazy else out
        return load_input, act
    if step == "pca":
        return load_input, lambda si: ew.decompose(si, PCA_K, method="pca")
    if step == "nmf":
        extra = {"allow_negative": "clip"} if chain else {}
        # in memory exactly NMF_ITER iterations; lazy one pass over the chunks (HyperSpy's
        # lazy NMF makes one MiniBatchNMF.partial_fit pass)
        extra.update({"max_iter": LAZY_NMF_PASSES} if lazy else {"max_iter": NMF_ITER,
                                                                 "tol": 0.0})
        return load_input, lambda si: ew.decompose(si, NMF_K, method="nmf", **extra)
    if step == "vae_fit":
        return load_input, lambda si: ew.SpectralVAE(latent_dim=2, epochs=1, seed=0).fit(
            si, progress=False)
    if step == "encode":
        def setup(files):
            si = load_input(files)
            vae = ew.SpectralVAE(latent_dim=2, epochs=1, seed=0).fit(si.crop(0, 4, 0, 4),
                                                                     progress=False)
            return vae, si
        return setup, lambda pair: _compute(pair[0].encode(pair[1]))
    if step == "explorer":
        return load_input, lambda si: ew.widgets.SpectrumImageExplorer(si)
    raise ValueError(f"unknown step {step!r}")


# ----------------------------------------------------------------------------- HyperSpy
def _eels(data):
    """An ``EELSSpectrum`` (lazy over a dask array) with the synthetic cubes' energy axis."""
    import exspy

    cls = exspy.signals.LazyEELSSpectrum if hasattr(data, "dask") else exspy.signals.EELSSpectrum
    s = cls(data)
    e = energy_axis(data.shape[-1])
    ax = s.axes_manager.signal_axes[0]
    ax.offset, ax.scale, ax.units, ax.name = float(e[0]), float(e[1] - e[0]), "eV", "Energy loss"
    return s


def _hs_input(files: dict, lazy: bool, chain: bool):
    import hyperspy.api as hs

    if chain:
        return _hs_zlp_removed(hs_chain_signal(files["si.zarr"]), crop=False)
    if lazy:
        return hs.load(files["si.zspy"], lazy=True)
    return _eels(np.load(files["cube.npy"]))


def _hs_zlp_removed(s, crop: bool = True):
    if crop:
        s.crop_signal(*CROP)
    out = s.remove_background(signal_range=FIT_WINDOW, background_type="PowerLaw", fast=True,
                              show_progressbar=False)
    return out.isig[FIT_WINDOW[0]:]


def hs_step(step: str, lazy: bool, chain: bool = False):
    """``(setup, act)`` of a HyperSpy step (eager, or lazy with ``lazy``)."""
    import hyperspy.api as hs

    def load_input(files):
        return _hs_input(files, lazy, chain)

    def decomposition(s, **kw):
        s.decomposition(print_info=False, **kw)
        return s.learning_results

    if step in LOAD_FILES or step == "load":
        name = "si.zarr" if step == "load" else LOAD_FILES[step]
        if step == "load":
            return (lambda files: files[name]), hs_chain_signal
        return (lambda files: files[name]), (lambda path: hs.load(path, lazy=lazy))
    if step == "construct":
        def setup(files):
            return np.load(files["cube.npy"])
        return setup, _eels
    if step in ("preprocess", "zlp"):
        def act(s):
            out = s if chain else _hs_zlp_removed(s)
            return out.data.mean((0, 1)).compute() if lazy else out
        return load_input, act
    if step == "pca":
        return load_input, lambda s: decomposition(s, algorithm="SVD", output_dimension=PCA_K)
    if step == "nmf":
        def act(s):
            if chain:       # after the ZLP removal: negative noise, clipped as eelswidgets does
                s.data = s.data.clip(0, None)
            extra = {} if lazy else {"tol": 0.0}
            return decomposition(s, algorithm="NMF", output_dimension=NMF_K, max_iter=NMF_ITER,
                                 **extra)
        return load_input, act
    raise ValueError(f"HyperSpy has no step {step!r}")


def hs_chain_signal(path):
    """The HyperSpy lazy signal over an eelswidgets ``.zarr`` store's cube (no second copy)."""
    import dask.array as da

    return _eels(da.from_zarr(str(Path(path) / "data")))


def step_functions(lib: str, step: str, chain: bool = False):
    """``(setup, act)`` of one case."""
    lazy = lib.endswith("_lazy")
    return (ew_step if lib.startswith("ew") else hs_step)(step, lazy, chain)
