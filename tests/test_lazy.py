"""Lazy spectrum images on dask: construction, preprocessing, compute/persist, lazy files."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dask
import dask.array as da
import numpy as np
import pytest
from dask.callbacks import Callback

import eelswidgets as ew
from eelswidgets import SpectrumImage
from eelswidgets._lazy import TARGET_CHUNK_BYTES, default_chunks

pytestmark = pytest.mark.filterwarnings("ignore:Importing `Lazy", "ignore::FutureWarning")

NY, NX, NE = 12, 10, 64
CHUNKS = (5, 4)  # 3 x 3 chunks with ragged edges: chunking matters


def lowloss_cube() -> tuple[np.ndarray, np.ndarray]:
    """A drifting ZLP, a plasmon and Poisson noise: every method has something to do."""
    rng = np.random.default_rng(0)
    e = np.linspace(-2.0, 30.0, NE)
    shift = rng.normal(0.0, 0.1, (NY, NX, 1))
    zlp = 1000.0 * np.exp(-0.5 * ((e - shift) / 0.4) ** 2)
    plasmon = 50.0 * np.exp(-0.5 * ((e - 15.0) / 3.0) ** 2)
    cube = zlp + plasmon + 20.0 / np.maximum(e, 0.5) + rng.poisson(5.0, (NY, NX, NE))
    return cube.astype(np.float32), e


@pytest.fixture(scope="module")
def pair() -> tuple[SpectrumImage, SpectrumImage]:
    cube, e = lowloss_cube()
    haadf = np.random.default_rng(1).random((NY, NX))
    si = SpectrumImage(cube, e, haadf, metadata={"tag": np.arange(3)},
                       truth={"map": np.ones((NY, NX))}, name="low loss")
    return si, si.as_lazy(CHUNKS)


class Counter(Callback):
    """Counts dask computations (one ``_start`` per compute/persist call)."""

    def __init__(self):
        super().__init__()
        self.n = 0

    def _start(self, dsk):
        self.n += 1


def _boom(block):
    raise AssertionError("the graph was computed")


def bomb(shape=(NY, NX, NE), chunks=(*CHUNKS, NE)):
    """A dask cube that raises if any chunk is ever computed."""
    return da.ones(shape, chunks=chunks, dtype=np.float32).map_blocks(_boom, dtype=np.float32)


METHODS = {
    "crop": lambda s: s.crop(1, 11, 2, 9),
    "crop_energy": lambda s: s.crop_energy(0.0, 20.0),
    "bin": lambda s: s.bin(2, 3),
    "bin_odd": lambda s: s.bin(3, 1),
    "clip": lambda s: s.clip(10.0, 500.0),
    "normalize_area": lambda s: s.normalize("area"),
    "normalize_max": lambda s: s.normalize("max"),
    "normalize_global": lambda s: s.normalize("global"),
    "remove_zlp": lambda s: s.remove_zlp((1.5, 4.0)),
    "remove_zlp_exp2": lambda s: s.remove_zlp((1.5, 6.0), model="exp2"),
    "remove_background": lambda s: s.crop_energy(1.0, 30.0).remove_background((5.0, 10.0)),
    "align_zlp": lambda s: s.align_zlp(search=(-2.0, 4.0)),
    "remove_spikes": lambda s: s.remove_spikes(),
    "chain": lambda s: s.crop(0, 11, 1, 10).remove_zlp((1.5, 4.0)).normalize("area"),
}


# ------------------------------------------------------------------------------ results
@pytest.mark.parametrize("method", sorted(METHODS))
def test_lazy_method_equals_in_memory(pair, method):
    si, lz = pair
    want = METHODS[method](si)
    got = METHODS[method](lz)
    assert got.is_lazy and not want.is_lazy
    assert got.data.chunks[2] == (got.ne,)                 # whole spectra in every chunk
    assert got.shape == want.shape
    np.testing.assert_array_equal(got.energy, want.energy)
    np.testing.assert_array_equal(got.valid, want.valid)
    done = got.compute()
    assert not done.is_lazy and done.data.dtype == np.float32
    np.testing.assert_allclose(done.data, want.data, rtol=2e-5, atol=2e-4)
    assert done.metadata["processing"] == want.metadata["processing"]


def test_lazy_normalize_keeps_invalid_pixels_nan():
    cube, e = lowloss_cube()
    valid = np.ones((NY, NX), bool)
    valid[3, 4] = False
    cube[3, 4] = np.nan
    si = SpectrumImage(cube, e, valid=valid)
    got = si.as_lazy(CHUNKS).normalize("max").compute()
    want = si.normalize("max")
    assert np.isnan(got.data[3, 4]).all()
    np.testing.assert_allclose(got.data, want.data, rtol=1e-6, equal_nan=True)
    np.testing.assert_allclose(si.as_lazy(CHUNKS).mean_spectrum(), si.mean_spectrum(), rtol=1e-6)


@pytest.mark.parametrize("reduction", ["mean_spectrum", "masked_mean", "energy_image",
                                       "spectrum"])
def test_lazy_reductions_return_numpy(pair, reduction):
    si, lz = pair
    mask = np.zeros((NY, NX), bool)
    mask[2:9, 3:7] = True
    call = {"mean_spectrum": lambda s: s.mean_spectrum(),
            "masked_mean": lambda s: s.mean_spectrum(mask),
            "energy_image": lambda s: s.energy_image(10.0, 20.0),
            "spectrum": lambda s: s.spectrum(7, -3)}[reduction]
    got, want = call(lz), call(si)
    assert type(got) is np.ndarray and got.dtype == want.dtype == np.float32
    np.testing.assert_allclose(got, want, rtol=1e-6)


def test_align_zlp_lazy_returns_the_same_shift_map(pair):
    si, lz = pair
    _, want = si.align_zlp(search=(-2.0, 4.0), return_shifts=True)
    out, got = lz.align_zlp(search=(-2.0, 4.0), return_shifts=True)
    assert out.is_lazy
    np.testing.assert_allclose(got, want, atol=1e-9)


def test_remove_spikes_lazy_equals_in_memory_across_chunk_borders():
    cube, e = lowloss_cube()
    for y, x, c in [(0, 0, 40), (4, 3, 50), (5, 4, 30), (11, 9, 60), (4, 4, 45), (9, 7, 35)]:
        cube[y, x, c] += 800.0                   # (4, 4) | (5, 4) and (4, 3) | (4, 4): borders
    valid = np.ones((NY, NX), bool)
    valid[7, 7] = False
    cube[7, 7] = np.nan
    si = SpectrumImage(cube, e, valid=valid)
    want, expected = si.remove_spikes(return_report=True)
    with Counter() as counter:
        got, report = si.as_lazy(CHUNKS).remove_spikes(return_report=True)
        assert got.is_lazy and counter.n <= 9   # two exact medians, the count, the report
    assert expected.count == 6 and report.count == 6
    np.testing.assert_array_equal(report.mask, expected.mask)
    np.testing.assert_array_equal(report.original, expected.original)
    np.testing.assert_allclose(report.replacement, expected.replacement, rtol=1e-6)
    np.testing.assert_allclose(got.compute().data, want.data, rtol=1e-6, equal_nan=True)
    assert got.metadata["processing"] == want.metadata["processing"]


def test_exact_median_of_pieces():
    from eelswidgets._lazy import exact_median

    rng = np.random.default_rng(3)
    for n in (1, 2, 9, 1000):
        values = np.abs(rng.standard_cauchy(n))
        pieces = [dask.delayed(np.asarray)(p) for p in np.array_split(values, 4)]
        assert exact_median(pieces) == np.median(values)
    assert np.isnan(exact_median([dask.delayed(np.asarray)(np.empty(0))]))


# ------------------------------------------------------------------------------ nothing computes
def test_construction_and_preprocessing_do_not_compute():
    e = np.linspace(1.0, 30.0, NE)
    si = SpectrumImage(bomb(), e)           # any compute would raise AssertionError
    with Counter() as counter:
        out = (si.crop(0, 11, 0, 9).crop_energy(2.0, 28.0).clip(0.0, None).bin(1, 2)
               .remove_background((3.0, 6.0)).normalize("global").remove_zlp((4.0, 12.0),
                                                                                model="exp2"))
        out = out.rechunk((3, 3))
        repr(out)
    assert counter.n == 0 and out.is_lazy
    with pytest.raises(AssertionError, match="was computed"):
        out.mean_spectrum()


def test_float64_dask_input_is_converted_lazily():
    cube, e = lowloss_cube()
    src = da.from_array(cube.astype(np.float64), chunks=(4, 4, 16))   # energy split too
    si = SpectrumImage(src, e)
    assert si.is_lazy and si.data.dtype == np.float32
    assert si.data.chunks[2] == (NE,)
    np.testing.assert_array_equal(si.compute().data, cube)


def test_energy_axis_split_by_user_chunks_is_refused(pair):
    with pytest.raises(ValueError, match="energy axis whole"):
        pair[1].rechunk((4, 4, 16))
    with pytest.raises(ValueError, match="rechunk applies to a lazy"):
        pair[0].rechunk((4, 4))
    with pytest.raises(TypeError, match="chunks must be"):
        pair[0].as_lazy("big")


def test_default_chunks_hold_whole_spectra_near_the_target():
    cy, cx, ne = default_chunks((512, 512, 1024))
    assert ne == 1024 and TARGET_CHUNK_BYTES / 2 < cy * cx * ne * 4 <= TARGET_CHUNK_BYTES
    assert default_chunks((3, 2, 10)) == (3, 2, 10)
    big = SpectrumImage(da.zeros((64, 64, 5000), chunks=(64, 64, 1000)), np.arange(5000.0))
    assert big.data.chunks[2] == (5000,)


def test_wrong_lazy_inputs_are_refused():
    e = np.arange(4.0)
    with pytest.raises(TypeError, match="real"):
        SpectrumImage(da.zeros((2, 2, 4), dtype=complex), e)
    with pytest.raises(ValueError, match="3 dimensions"):
        SpectrumImage(da.zeros((2, 4)), e)


# ------------------------------------------------------------------------------ checked chunks
def test_nan_is_reported_at_compute_with_its_chunk_and_pixel():
    cube, e = lowloss_cube()
    cube[7, 6, 20] = np.nan
    si = SpectrumImage(da.from_array(cube, chunks=(*CHUNKS, NE)), e)     # no error yet
    with pytest.raises(ValueError, match=r"1 NaN/Inf.*chunk y 5:10, x 4:8.*pixel \(7, 6\)"):
        si.compute()
    with pytest.raises(ValueError, match=r"pixel \(7, 6\)"):
        si.remove_zlp((1.5, 4.0)).mean_spectrum()
    valid = np.ones((NY, NX), bool)
    valid[7, 6] = False
    ok = SpectrumImage(da.from_array(cube, chunks=(*CHUNKS, NE)), e, valid=valid)
    assert np.isnan(ok.compute().data[7, 6, 20])


def test_float32_overflow_is_reported_at_compute():
    cube = np.ones((4, 4, 8))
    cube[1, 2, 3] = 1e300
    si = SpectrumImage(da.from_array(cube, chunks=(2, 2, 8)), np.arange(8.0))
    with pytest.raises(ValueError, match=r"beyond the float32 range in the chunk y 0:2, x 2:4"):
        si.compute()


# ------------------------------------------------------------------------------ compute / persist
def test_compute_and_persist(pair):
    si, _ = pair
    calls = []

    def source(block):
        calls.append(block.shape)
        return block

    meta = np.empty((0, 0, 0), np.float32)  # dask does not call source to guess it
    src = da.from_array(si.data, chunks=(*CHUNKS, NE)).map_blocks(source, meta=meta)
    lz = SpectrumImage(src,
                       si.energy, si.haadf, metadata=si.metadata, truth=si.truth,
                       name=si.name)
    assert calls == [] and lz.is_lazy and lz.chunks == (5, 4, NE)
    kept = lz.persist()
    assert kept.is_lazy and len(calls) == 9
    kept.mean_spectrum()
    kept.energy_image(5.0, 10.0)
    assert len(calls) == 9                                   # read from the persisted chunks
    done = kept.compute()
    assert not done.is_lazy and done == si
    assert done.compute() is done and si.persist() is si


def test_lazy_repr_and_equality(pair):
    si, lz = pair
    assert "lazy, chunks 5 x 4 x 64" in repr(lz)
    assert lz == si


# ------------------------------------------------------------------------------ files
@pytest.mark.parametrize("ext", [".zarr", ".h5"])
def test_own_format_lazy_round_trip(pair, tmp_path, ext):
    si, lz = pair
    lz.save(tmp_path / f"cube{ext}")
    back = ew.load(tmp_path / f"cube{ext}", lazy=True, chunks=(6, 5))
    assert back.is_lazy and back.data.chunks[:2] == ((6, 6), (5, 5))
    assert back.compute() == si
    np.testing.assert_array_equal(back.metadata["tag"], np.arange(3))
    np.testing.assert_array_equal(back.truth["map"], si.truth["map"])
    eager = ew.load(tmp_path / f"cube{ext}")
    assert not eager.is_lazy and eager == si


def test_zarr_store_is_chunked_over_the_scan(pair, tmp_path):
    si, lz = pair
    lz.save(tmp_path / "a.zarr")
    meta = json.loads((tmp_path / "a.zarr" / "data" / ".zarray").read_text())
    assert meta["chunks"] == [5, 4, NE] and meta["filters"] is None
    chunk_files = [p for p in (tmp_path / "a.zarr" / "data").iterdir()
                   if not p.name.startswith(".")]
    assert len(chunk_files) == 9
    si.save(tmp_path / "b.zarr")                               # in memory: default chunks
    meta = json.loads((tmp_path / "b.zarr" / "data" / ".zarray").read_text())
    assert meta["chunks"] == [NY, NX, NE]


def test_zarr_write_is_atomic_and_never_replaces_a_foreign_folder(pair, tmp_path, monkeypatch):
    si, _ = pair
    target = tmp_path / "cube.zarr"
    si.save(target)
    si.crop(0, 4, 0, 4).save(target)                           # replaces its own store
    assert ew.load(target).shape == (4, 4, NE)
    with pytest.raises(FileExistsError):
        ew.save(si, target, overwrite=False)
    from eelswidgets.io import native

    def fail(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(native, "_replace_store", fail)
    with pytest.raises(OSError, match="disk full"):
        si.save(target)
    monkeypatch.undo()
    assert ew.load(target).shape == (4, 4, NE)                 # the old store is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cube.zarr"]
    foreign = tmp_path / "photos.zarr"
    foreign.mkdir()
    (foreign / "keep.txt").write_text("mine")
    with pytest.raises(ValueError, match=r"not an eelswidgets .zarr store"):
        si.save(foreign)
    assert (foreign / "keep.txt").read_text() == "mine"


def test_lazy_load_errors_name_the_format(pair, tmp_path):
    si, _ = pair
    si.save(tmp_path / "a.npz")
    with pytest.raises(ValueError, match=r"\.npz archives cannot be read lazily"):
        ew.load(tmp_path / "a.npz", lazy=True)
    with pytest.raises(TypeError, match="lazy=True"):
        ew.load(tmp_path / "a.npz", chunks=(2, 2))
    with pytest.raises(FileNotFoundError):
        ew.load(tmp_path / "missing.zarr", lazy=True)
    (tmp_path / "file.zarr").write_text("x")
    with pytest.raises(ValueError, match="is a file"):
        ew.load(tmp_path / "file.zarr", lazy=True)


def test_h5_lazy_reopens_per_chunk_and_notices_a_changed_file(pair, tmp_path):
    si, _ = pair
    path = tmp_path / "cube.h5"
    si.save(path)
    lz = ew.load(path, lazy=True, chunks=(5, 4))
    np.testing.assert_array_equal(lz.spectrum(3, 3), si.spectrum(3, 3))
    si.crop(0, 2, 0, 2).save(path)                             # replaced after the lazy load
    with pytest.raises(ValueError, match="changed after it was loaded lazily"):
        lz.spectrum(3, 3)


def test_memory_budget_applies_to_one_chunk_when_lazy(pair, tmp_path):
    si, _ = pair
    si.as_lazy((6, 5)).save(tmp_path / "a.zarr")
    si.save(tmp_path / "a.h5")
    budget = 2 * 6 * 5 * NE * 4              # two chunks; the cube takes four
    for name in ("a.zarr", "a.h5"):
        assert ew.load(tmp_path / name, lazy=True, chunks=(6, 5), max_bytes=budget).is_lazy
        with pytest.raises(ValueError, match=r"'data' claims.*memory budget"):
            ew.load(tmp_path / name, max_bytes=budget)             # the whole cube
        with pytest.raises(ValueError, match=r"one chunk.*memory budget"):
            ew.load(tmp_path / name, lazy=True, chunks=(12, 10), max_bytes=budget)


# ------------------------------------------------------------------------------ hostile stores
def _zarray(store: Path, name: str) -> tuple[Path, dict]:
    path = store / name / ".zarray"
    return path, json.loads(path.read_text())


@pytest.fixture()
def store(pair, tmp_path) -> Path:
    pair[1].save(tmp_path / "h.zarr")
    return tmp_path / "h.zarr"


@pytest.mark.parametrize("lazy", [True, False])
def test_zarr_with_pickle_filter_or_object_dtype_is_refused(store, lazy):
    path, meta = _zarray(store, "energy")
    path.write_text(json.dumps({**meta, "filters": [{"id": "pickle", "protocol": 5}]}))
    with pytest.raises(ValueError, match=r"codec 'pickle'.*never pickle"):
        ew.load(store, lazy=lazy)
    path.write_text(json.dumps({**meta, "dtype": "|O",
                                "filters": [{"id": "vlen-utf8"}]}))
    with pytest.raises(ValueError, match="dtype object"):
        ew.load(store, lazy=lazy)


def test_zarr_with_huge_declared_shape_is_refused(store):
    path, meta = _zarray(store, "data")
    path.write_text(json.dumps({**meta, "shape": [10**7, 10**7, NE]}))
    with pytest.raises(ValueError, match="chunks"):
        ew.load(store, lazy=True)
    path.write_text(json.dumps({**meta, "shape": [NY * 4, NX, NE]}))
    with pytest.raises(ValueError, match=r"only 9 were written"):
        ew.load(store, lazy=True)
    path.write_text(json.dumps({**meta, "chunks": [10**5, 10**5, NE]}))
    with pytest.raises(ValueError, match=r"one chunk.*memory budget"):
        ew.load(store, lazy=True)


def test_zarr_with_deep_or_oversized_json_is_refused(store):
    attrs = store / ".zattrs"
    root = json.loads(attrs.read_text())
    deep = "[" * 5000 + "]" * 5000
    attrs.write_text(json.dumps({**root, "header": deep}))
    with pytest.raises(ValueError, match="not valid JSON or too large or deep"):
        ew.load(store, lazy=True)
    (store / ".zattrs").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(ValueError, match=r"nests too deeply|not valid JSON"):
        ew.load(store, lazy=True)
    with pytest.raises(ValueError, match="JSON may take"):
        ew.load(store, lazy=True, max_bytes=32 * 1000)


def test_zarr_with_symlink_is_refused(store, tmp_path):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(NE, dtype="<f8").tobytes())
    chunk = store / "energy" / "0"
    chunk.unlink()
    os.symlink(secret, chunk)
    with pytest.raises(ValueError, match="symbolic link"):
        ew.load(store, lazy=True)


def test_zspy_with_pickle_codec_is_refused(pair, tmp_path):
    pytest.importorskip("rsciio.zspy")
    si, _ = pair
    si.to_hyperspy().save(tmp_path / "s.zspy")
    for zarray in (tmp_path / "s.zspy").rglob(".zarray"):
        meta = json.loads(zarray.read_text())
        if meta["shape"] == [NY, NX, NE]:
            zarray.write_text(json.dumps({**meta, "filters": [{"id": "pickle"}]}))
    for lazy in (True, False):
        with pytest.raises(ValueError, match="codec 'pickle'"):
            ew.load(tmp_path / "s.zspy", lazy=lazy)


# ------------------------------------------------------------------------------ HyperSpy
@pytest.mark.parametrize("ext", [".hspy", ".zspy"])
def test_hyperspy_files_load_lazily(pair, tmp_path, ext):
    si, _ = pair
    si.to_hyperspy().save(tmp_path / f"s{ext}")
    with Counter() as counter:
        lz = ew.load(tmp_path / f"s{ext}", lazy=True, chunks=(6, 5))
    assert counter.n <= 2          # the HAADF image (2D) is read; the cube is not
    assert lz.is_lazy and lz.data.chunks[:2] == ((6, 6), (5, 5))
    np.testing.assert_array_equal(lz.compute().data, si.data)
    np.testing.assert_array_equal(lz.haadf, si.haadf)


def test_msa_has_no_lazy_reader(tmp_path):
    exspy = pytest.importorskip("exspy")
    s = exspy.signals.EELSSpectrum(np.arange(1.0, 11.0))
    s.axes_manager[-1].units = "eV"
    s.save(tmp_path / "one.msa")
    with pytest.raises(ValueError, match=r"EMSA/MSA \.msa files have no lazy reader"):
        ew.load(tmp_path / "one.msa", lazy=True)


def test_hyperspy_lazy_round_trip(pair):
    si, lz = pair
    signal = lz.to_hyperspy()
    assert signal._lazy and signal.data is not None
    with Counter() as counter:
        back = ew.from_hyperspy(signal)
    assert counter.n == 0 and back.is_lazy
    assert back.compute() == si


def test_dask_is_not_imported_for_in_memory_use():
    code = ("import sys, numpy as np, eelswidgets as ew; "
            "si = ew.SpectrumImage(np.ones((3, 4, 8)), np.arange(1.0, 9.0)); "
            "si.remove_background((2.0, 5.0)).mean_spectrum(); si.normalize(); "
            "print('dask' in sys.modules)")
    import subprocess
    import sys

    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, env={**os.environ, "PYTHONPATH": str(Path(__file__)
                                                                         .parents[1])})
    assert out.stdout.strip() == "False"


def test_dask_config_single_threaded_matches(pair):
    si, lz = pair
    with dask.config.set(scheduler="synchronous"):
        got = lz.remove_zlp((1.5, 4.0)).mean_spectrum()
    np.testing.assert_allclose(got, si.remove_zlp((1.5, 4.0)).mean_spectrum(), rtol=1e-6)


REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


@pytest.mark.parametrize("name", ["coreloss_16x16_SI.dm3", "CuZn_coreloss_SI.hspy"])
def test_real_microscope_files_load_lazily(name):
    path = REALDATA / name
    assert path.is_file(), f"{path} is missing (see ../shared/realdata/README.md)"
    with Counter() as counter:
        lz = ew.load(path, lazy=True, chunks=(8, 8))
        lz.crop_energy(float(lz.energy[10]), float(lz.energy[-10]))
    assert lz.is_lazy and counter.n <= 1          # at most the HAADF image is read
    assert lz.compute() == ew.load(path)


def test_align_zlp_computes_once_then_stays_lazy(pair):
    _, lz = pair
    with Counter() as counter:
        out = lz.align_zlp(search=(-2.0, 4.0)).normalize("max")
    assert counter.n == 1 and out.is_lazy          # the shift map, from the search window
