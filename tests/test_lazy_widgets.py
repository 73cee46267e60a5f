"""Explorers on lazy (dask) spectrum images: same views as in memory, one chunk per click.

The cube is read through a wrapper that records every read, so the tests see exactly which
chunks a click, an energy span or a selection reads.
"""

from __future__ import annotations

import itertools

import dask.array as da
import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets._chunk_reader import ChunkReader
from eelswidgets._progress import steps
from eelswidgets.widgets import DecompositionExplorer, SpectrumImageExplorer
from eelswidgets.widgets._explorer_base import CubeAccess

CHUNKS = (7, 8)  # 24 x 30 pixels: 4 x 4 chunks with ragged edges
_ids = itertools.count()  # a name per recorded cube: same-named dask arrays share chunks


class Recorder:
    """A read-only array that records the region of every (non-empty) read."""

    def __init__(self, values: np.ndarray):
        self.values = values
        self.shape, self.dtype, self.ndim = values.shape, values.dtype, values.ndim
        self.reads: list[tuple[int, int, int, int]] = []

    def __getitem__(self, key):
        out = self.values[key]
        if out.size:
            ys, xs = key[0], key[1]
            self.reads.append((ys.start, ys.stop, xs.start, xs.stop))
        return out


@pytest.fixture(scope="module")
def si():
    si = ew.datasets.nanowires(seed=0, shape=(24, 30), n_energy=96)
    valid = np.ones(si.shape[:2], bool)
    valid[0, :3] = False
    return si.replace(valid=valid, haadf=None)


def recorded(si, **kwargs):
    """A lazy copy of ``si`` read through a :class:`Recorder` (returned too)."""
    rec = Recorder(np.asarray(si.data))
    cube = da.from_array(rec, chunks=(*CHUNKS, si.ne), asarray=True, name=f"rec-{next(_ids)}")
    return si.replace(data=cube, **kwargs), rec


def test_si_explorer_on_lazy_data_shows_what_it_shows_in_memory(si):
    lazy, rec = recorded(si)
    calls = []
    ex = SpectrumImageExplorer(lazy, progress=lambda *a: calls.append(a))
    ref = SpectrumImageExplorer(si)
    # the overview (total intensity) was one pass over the 16 chunks, counted chunk by chunk
    assert len(rec.reads) == 16 + 1                   # + the chunk of the initial pixel
    assert calls[0] == (0, 16, "overview") and calls[-1] == (16, 16, "overview")
    assert [c[0] for c in calls] == sorted(c[0] for c in calls)
    np.testing.assert_array_equal(ex.image_view.image, ref.image_view.image)
    np.testing.assert_array_equal(ex.energy_view.image, ref.energy_view.image)
    assert ex.image_view.clim == ref.image_view.clim
    for pixel in [(0, 0), (6, 7), (7, 8), (23, 29), (13, 20)]:   # chunk corners, ragged edge
        ex.selection.pixel = ref.selection.pixel = pixel
        np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y,
                                      ref.spectrum_view.lines["data"].y)
    assert np.isnan(SpectrumImageExplorer(lazy).cube.spectrum(0, 1)).all()   # invalid pixel
    for rng in [(0.5, 1.0), (1.2, 2.9), (0.0, 0.001)]:
        ex.selection.energy_range = ref.selection.energy_range = rng
        np.testing.assert_array_equal(ex.energy_view.image, ref.energy_view.image)
    ex.selection.indices = ref.selection.indices = [0, 1, 5, 40, 200, 719]
    np.testing.assert_allclose(ex.spectrum_view.overlay("selection mean"),
                               ref.spectrum_view.overlay("selection mean"), rtol=1e-6)
    ex.selection.energy_range = ref.selection.energy_range = None
    np.testing.assert_array_equal(ex.energy_view.image, ref.energy_view.image)


def test_a_click_reads_only_the_chunk_of_its_pixel(si):
    lazy, rec = recorded(si, haadf=np.ones(si.shape[:2]))
    ex = SpectrumImageExplorer(lazy, progress=False)
    # built: the centre pixel's chunk (12, 15), then one pass for the energy view (all
    # energies) that takes that chunk from the cache
    assert rec.reads[0] == (7, 14, 8, 16) and len(rec.reads) == len(set(rec.reads)) == 16
    assert ex.cube.reader.reads == 1
    del rec.reads[:]
    ex.selection.pixel = (13, 9)                         # same chunk: from the cache
    assert rec.reads == []
    ex.selection.pixel = (22, 29)
    assert rec.reads == [(21, 24, 24, 30)]               # one ragged corner chunk, once
    np.testing.assert_array_equal(ex.spectrum_view.lines["data"].y, si.data[22, 29])
    ex.selection.pixel = (12, 15)                        # still cached
    ex.selection.energy_range = None                     # the total is kept: nothing read
    assert len(rec.reads) == 1 and ex.cube.reader.reads == 2
    ex.close()                                           # the cached chunks are let go
    assert ex.cube.reader._cache == {}


def test_linked_explorers_on_one_lazy_cube_read_a_chunk_once(si):
    clean = si.replace(valid=np.ones(si.shape[:2], bool)).clip(0)
    dec = ew.decompose(clean, n_components=2, method="nmf", random_state=0)
    lazy, rec = recorded(clean, haadf=np.ones(si.shape[:2]))
    ex = SpectrumImageExplorer(lazy, progress=False)
    dx = DecompositionExplorer(lazy, dec, selection=ex.selection, progress=False)
    del rec.reads[:]
    ex.selection.pixel = (2, 27)
    assert rec.reads == [(0, 7, 24, 30)]                 # one read serves both explorers
    np.testing.assert_array_equal(dx.spectrum_view.lines["data"].y,
                                  ex.spectrum_view.lines["data"].y)


def test_energy_span_and_selection_read_chunk_by_chunk_with_progress(si):
    lazy, rec = recorded(si, haadf=np.ones(si.shape[:2]))
    ex = SpectrumImageExplorer(lazy, progress=False)
    seen = []
    ex.progress_bar.observe(lambda c: seen.append(c["new"]), names="value")
    del rec.reads[:]
    ex.selection.energy_range = (0.8, 1.1)
    # every chunk read once (the cached one not at all), never the whole cube at once
    assert sorted(rec.reads) == sorted(set(rec.reads)) and len(rec.reads) == 15
    assert all((r[1] - r[0], r[3] - r[2]) <= CHUNKS for r in rec.reads)
    assert ex.progress_bar.max == 16 and ex.progress_bar.value == 16 and seen[-1] == 16
    assert ex.progress_bar.layout.visibility == "hidden"          # done: hidden again
    assert "energy-filtered image" in ex.progress_bar.description
    del rec.reads[:]
    ex.selection.indices = [0, 1, 31]                    # all in the first chunk
    assert rec.reads == [(0, 7, 0, 8)]
    assert ex.progress_bar.max == 1


def test_decomposition_explorer_on_lazy_data(si):
    clean = si.replace(valid=np.ones(si.shape[:2], bool)).clip(0)
    dec = ew.decompose(clean, n_components=3, method="nmf", random_state=0)
    lazy, rec = recorded(clean)
    dx = DecompositionExplorer(lazy, dec, progress=False)
    ref = DecompositionExplorer(clean, dec)
    assert len(rec.reads) == 1                           # no overview needed: just the pixel
    dx.selection.pixel = ref.selection.pixel = (20, 3)
    np.testing.assert_array_equal(dx.spectrum_view.lines["data"].y, clean.data[20, 3])
    np.testing.assert_array_equal(dx.spectrum_view.overlay("reconstruction"),
                                  ref.spectrum_view.overlay("reconstruction"))
    assert dx.abundances.value == ref.abundances.value
    dx.selection.indices = ref.selection.indices = np.arange(0, 720, 7)
    np.testing.assert_allclose(dx.spectrum_view.overlay("selection mean"),
                               ref.spectrum_view.overlay("selection mean"), rtol=1e-6)
    assert dx.progress_bar.value == dx.progress_bar.max == 16


def test_chunk_reader_cache_cancellation_and_bad_chunks():
    values = np.arange(6 * 6 * 4, dtype=np.float32).reshape(6, 6, 4)
    rec = Recorder(values)
    cube = da.from_array(rec, chunks=(2, 3, 4), asarray=True, name="rec-reader")
    one_chunk = 2 * 3 * 4 * 4
    reader = ChunkReader(cube, cache_bytes=2 * one_chunk, batch=2)
    for y, x in [(0, 0), (2, 0), (0, 1), (4, 5)]:        # LRU of two chunks
        np.testing.assert_array_equal(reader.spectrum(y, x), values[y, x])
    assert reader.reads == 3                              # (0, 1) was still cached
    reader.spectrum(3, 2)                                # (2, 0)'s chunk was evicted: read again
    assert reader.reads == 4
    with pytest.raises(ValueError, match="y"):
        reader.spectrum(6, 0)
    asked = []
    del rec.reads[:]
    out = reader.energy_image(slice(1, 3), cancelled=lambda: asked.append(1) or len(asked) > 1)
    assert out is None and len(rec.reads) == 2           # one batch of two, then stopped
    full = reader.energy_image(slice(1, 3))
    np.testing.assert_array_equal(full, values[..., 1:3].sum(-1))
    ov = reader.overview()
    np.testing.assert_array_equal(ov.total, values.sum(-1))
    np.testing.assert_allclose(ov.mean, values.reshape(-1, 4).mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="whole spectra"):
        ChunkReader(da.from_array(values, chunks=(2, 3, 2)))


def test_cube_access_takes_any_dask_cube_and_progress_is_checked():
    values = np.random.default_rng(0).random((5, 6, 8)).astype(np.float32)

    class Plain:  # not a SpectrumImage: a dask cube split along the energy axis
        data = da.from_array(values, chunks=(2, 2, 3))
        energy = np.arange(8.0)

    cube = CubeAccess(Plain(), progress=False)
    assert cube.is_lazy and cube.reader.data.chunks[2] == (8,)
    np.testing.assert_array_equal(cube.spectrum(4, 5), values[4, 5])
    np.testing.assert_array_equal(cube.default_image()[0], values.sum(-1, dtype=np.float64)
                                  .astype(np.float32))
    Plain.data = da.from_array(values.astype(complex), chunks=2)
    with pytest.raises(TypeError, match="real"):
        CubeAccess(Plain())
    with pytest.raises(TypeError, match="progress must be"):
        steps(3, "x", progress="yes")
    with steps(2, "bar", progress=True) as bar:           # a tqdm bar
        bar.advance(2)
    assert bar.done == 2


def test_im2spec_explorer_reads_a_lazy_prediction_one_chunk_per_click():
    from eelswidgets.widgets import Im2SpecExplorer

    si = ew.datasets.nanocube_array(seed=0, shape=(24, 24), n_energy=32)
    predicted, rec = recorded(si.replace(data=si.data * np.float32(0.9)))

    class Model:  # a fitted model as the explorer sees it: predict() gives a lazy cube
        window = 8

        def predict(self, data):
            return predicted

    ex = Im2SpecExplorer(si, Model())
    np.testing.assert_allclose(ex.errors[0], ew.error_map(si, predicted.compute()), rtol=1e-6)
    del rec.reads[:]
    ex.selection.pixel = (16, 20)
    ex.selection.pixel = (17, 21)                        # same chunk (14:21, 16:24)
    assert rec.reads == [(14, 21, 16, 24)]
    np.testing.assert_allclose(ex.spectrum_view.overlay("prediction"), 0.9 * si.data[17, 21],
                               rtol=1e-6)
