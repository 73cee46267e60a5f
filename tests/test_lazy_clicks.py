"""A click on a cube loaded lazily from a file reads from one storage chunk, checked like a chunk.

The ``.zarr`` store is read through zarr's directory store with every chunk-file read
recorded, so the tests see exactly which storage chunks a click reads.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import zarr

import eelswidgets as ew
from eelswidgets._chunk_reader import ChunkReader
from eelswidgets._lazy import chunks_over, storage_chunks
from eelswidgets.widgets import SpectrumImageExplorer
from eelswidgets.widgets._explorer_base import CubeAccess

STORE = (4, 5)    # storage chunk (pixels)
CHUNKS = (8, 10)  # dask chunks of the lazy load: 2 x 2 storage chunks each


@pytest.fixture(scope="module")
def si():
    si = ew.datasets.nanowires(seed=0, shape=(24, 30), n_energy=96)
    return si.replace(haadf=None)


@pytest.fixture()
def store(si, tmp_path):
    path = tmp_path / "cube.zarr"
    si.save(path, chunks=STORE)
    return path


@pytest.fixture()
def reads(monkeypatch):
    """Names of the cube's chunk files read from any zarr directory store from now on."""
    seen: list[str] = []
    original = zarr.storage.DirectoryStore.__getitem__

    def getitem(self, key):
        if key.startswith("data/") and not key.split("/")[-1].startswith("."):
            seen.append(key.split("/")[-1])
        return original(self, key)

    monkeypatch.setattr(zarr.storage.DirectoryStore, "__getitem__", getitem)
    return seen


def _poke(store, y: int, x: int, value: float) -> None:
    """Write ``value`` into the stored cube at pixel ``(y, x)`` (channel 5), behind its back."""
    zarr.open_array(str(store / "data"), mode="r+")[y, x, 5] = value


def test_default_storage_chunks_are_small_and_lazy_chunks_are_whole_multiples():
    assert storage_chunks((512, 512, 1024)) == (16, 16, 1024)              # 1 MiB
    assert chunks_over((16, 16), (512, 512, 1024)) == (128, 128, 1024)     # 64 MiB
    assert storage_chunks((512, 512, 2048), (88, 88)) == (11, 11, 2048)    # divides 88
    assert storage_chunks((512, 512, 1024), (127, 127)) == (16, 16, 1024)  # no divisor
    assert storage_chunks((24, 30, 96), (5, 4)) == (5, 4, 96)              # small: kept
    cy, cx, _ = chunks_over((11, 11), (1024, 1024, 2048))
    assert cy % 11 == 0 and cx % 11 == 0 and 32 * 2**20 < cy * cx * 2048 * 4 <= 64 * 2**20


def test_save_chunks_round_trip(si, store, tmp_path):
    meta = json.loads((store / "data" / ".zarray").read_text())
    assert meta["chunks"] == [*STORE, si.ne]
    back = ew.load(store, lazy=True)
    assert back.data.chunks[0][0] % STORE[0] == 0 and back.data.chunks[1][0] % STORE[1] == 0
    assert back.compute() == si and ew.load(store) == si
    lz = si.as_lazy((7, 8))                        # not multiples of the storage chunks
    ew.save(lz, tmp_path / "b.zarr", chunks=(3, 4))
    assert json.loads((tmp_path / "b.zarr" / "data" / ".zarray").read_text())["chunks"] == \
        [3, 4, si.ne]
    assert ew.load(tmp_path / "b.zarr", lazy=True).compute() == si
    big = si.as_lazy((12, 15))
    big.save(tmp_path / "f.zarr", chunks="auto")                 # the default: divides (12, 15)
    assert json.loads((tmp_path / "f.zarr" / "data" / ".zarray").read_text())["chunks"] == \
        list(storage_chunks(si.shape, (12, 15)))
    with pytest.raises(TypeError, match=r"chunks= sets the storage chunks of a \.zarr"):
        si.save(tmp_path / "c.npz", chunks=(4, 4))
    with pytest.raises(ValueError, match="energy axis whole"):
        si.save(tmp_path / "d.zarr", chunks=(4, 4, 3))
    with pytest.raises(TypeError, match="chunks must be"):
        si.save(tmp_path / "e.zarr", chunks=4)


def test_a_cold_click_reads_only_the_storage_chunk_of_its_pixel(si, store, reads):
    lz = ew.load(store, lazy=True, chunks=CHUNKS)
    assert lz.storage is not None and lz.data.chunks[0][0] == CHUNKS[0]
    ex = SpectrumImageExplorer(lz, progress=False)      # the overview reads every chunk
    del reads[:]
    ex.selection.pixel = (5, 7)
    assert reads == ["1.1.0"]                           # y 4:8, x 5:10: one file
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, si.spectrum(5, 7))
    ex.selection.pixel = (6, 9)                         # same storage chunk: read again
    assert reads == ["1.1.0", "1.1.0"]
    ex.selection.pixel = (13, 22)
    assert reads == ["1.1.0", "1.1.0", "3.4.0"]
    reader = ex.cube.reader
    assert reader.reads == 0 and reader.tile_reads == 4  # + the initial pixel's
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, si.spectrum(13, 22))
    del reads[:]
    np.testing.assert_array_equal(lz.spectrum(-1, 29), si.spectrum(23, 29))
    assert reads == ["5.5.0"]
    ex.close()


def test_large_storage_chunks_are_read_once_and_cached(si, store, reads):
    lz = ew.load(store, lazy=True, chunks=CHUNKS)
    tile = STORE[0] * STORE[1] * si.ne * 4
    reader = ChunkReader(lz.data, tiles=lz.storage, tile_bytes=tile - 1)
    for y, x in [(5, 7), (6, 9), (1, 1)]:                 # all in the chunk y 0:8, x 0:10
        np.testing.assert_array_equal(reader.spectrum(y, x), si.spectrum(y, x))
    assert reader.tiles is None and reader.reads == 1 and len(reads) == 4  # its 4 files
    assert ChunkReader(lz.data, tiles=lz.storage, tile_bytes=tile).tiles is lz.storage


def test_derived_lazy_cubes_read_by_chunks(si, store, reads):
    lz = ew.load(store, lazy=True, chunks=CHUNKS)
    part = lz.crop(0, 16, 0, 20)
    assert part.storage is None and lz.rechunk((4, 4)).storage is None
    access = CubeAccess(part, progress=False)
    np.testing.assert_array_equal(access.spectrum(3, 3), si.spectrum(3, 3))
    assert access.reader.reads == 1 and len(reads) == 4   # its whole 8 x 10 chunk
    assert lz.replace(name="x").storage is None


def test_h5_lazy_cube_reads_one_spectrum_per_click(si, tmp_path):
    si.save(tmp_path / "cube.h5")
    lz = ew.load(tmp_path / "cube.h5", lazy=True, chunks=CHUNKS)
    assert lz.storage is not None and lz.storage.block == (1, 1)
    access = CubeAccess(lz, progress=False)
    np.testing.assert_array_equal(access.spectrum(9, 11), si.spectrum(9, 11))
    assert access.reader.reads == 0 and access.reader.tile_reads == 1


def test_a_non_finite_value_in_a_clicked_tile_is_refused_naming_the_pixel(si, store):
    _poke(store, 17, 3, np.nan)
    lz = ew.load(store, lazy=True, chunks=CHUNKS)
    message = r"data contains 1 NaN/Inf value\(s\) in the chunk y 17:18, x 3:4 .*pixel \(17, 3\)"
    access = CubeAccess(lz, progress=False)
    with pytest.raises(ValueError, match=message):
        access.spectrum(17, 3)
    with pytest.raises(ValueError, match=message):
        lz.spectrum(17, 3)
    np.testing.assert_array_equal(access.spectrum(18, 1), si.spectrum(18, 1))  # its neighbour
    with pytest.raises(ValueError, match=r"pixel \(17, 3\)"):
        lz.compute()                                     # the chunk check agrees
    with pytest.raises(ValueError, match=r"pixel \(17, 3\)"):
        SpectrumImageExplorer(lz, progress=False)        # its overview reads every chunk
    _poke(store, 17, 3, np.inf)
    with pytest.raises(ValueError, match=r"NaN/Inf.*pixel \(17, 3\)"):
        ew.load(store, lazy=True).spectrum(17, 3)


def test_invalid_pixels_may_hold_nan_and_show_as_nan(si, tmp_path):
    valid = np.ones(si.shape[:2], bool)
    valid[17, 3] = False
    path = tmp_path / "masked.zarr"
    si.replace(valid=valid).save(path, chunks=STORE)
    _poke(path, 17, 3, np.nan)
    lz = ew.load(path, lazy=True)
    access = CubeAccess(lz, progress=False)
    assert np.isnan(access.spectrum(17, 3)).all()          # shown as NaN, as in memory
    np.testing.assert_array_equal(access.spectrum(17, 4), si.spectrum(17, 4))
