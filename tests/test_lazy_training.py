"""Training on lazy (dask) data: the shuffle buffer, chunk-wise statistics, streamed fits."""

from __future__ import annotations

import threading
import tracemalloc
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
import torch
from dask.callbacks import Callback
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier

import eelswidgets as ew
from eelswidgets.models import MultichannelRVAE, SpectralVAE, _samples
from eelswidgets.models._samples import ArraySamples, ChunkedSamples, pixel_samples
from eelswidgets.models.im2spec import Im2Spec, Spec2Im
from eelswidgets.models.splits import heldout_mask, left_right_split, window_valid

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore:Importing `Lazy", "ignore::FutureWarning")]

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
VAE = dict(latent_dim=2, epochs=15, batch_size=64, lr=2e-3, seed=0, device="cpu")


class ChunkLog(Callback):
    """Records every chunk read by :func:`recorded`, grouped by dask computation."""

    def __init__(self):
        super().__init__()
        self.computes: list[list[tuple[int, int]]] = []
        self._lock = threading.Lock()

    def _start(self, dsk):
        self.computes.append([])

    def read(self, where):
        with self._lock:
            self.computes[-1].append(where)

    @property
    def reads(self) -> list[tuple[int, int]]:
        return [c for group in self.computes for c in group]


LOG: list[ChunkLog] = []


def _record(block, block_info=None):
    if LOG and block_info:
        LOG[-1].read(tuple(block_info[0]["chunk-location"][:2]))
    return block


def recorded(si: ew.SpectrumImage, chunks) -> ew.SpectrumImage:
    """``si`` as a lazy SpectrumImage whose chunk reads are logged by the active ChunkLog."""
    cube = da.from_array(np.asarray(si.data), chunks=(*chunks, si.ne))
    return si.replace(data=cube.map_blocks(_record, dtype=np.float32))


class logging_reads:
    def __enter__(self) -> ChunkLog:
        LOG.append(ChunkLog())
        LOG[-1].__enter__()
        return LOG[-1]

    def __exit__(self, *exc):
        LOG[-1].__exit__(*exc)
        LOG.pop()


@pytest.fixture(scope="module")
def wires():
    """Nanowires without the zero-loss tail, and the same cube lazy in 4 x 4 chunks."""
    si = ew.datasets.nanowires(seed=0, shape=(48, 60), n_energy=192)
    low = si.remove_zlp(si.truth["zlp_fit_window"])
    return low, low.as_lazy((12, 15)), si.truth["wire_mask"]


@pytest.fixture
def three_chunk_buffer(wires, monkeypatch):
    """A shuffle buffer of 3 of the 16 chunks, so that the buffering matters."""
    low = wires[0]
    monkeypatch.setattr(_samples, "BUFFER_BYTES", 3 * 12 * 15 * low.ne * 4)
    return 3


def _auc(model, si, wire) -> float:
    z = model.encode(si)
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    p = cross_val_predict(KNeighborsClassifier(15), z.reshape(-1, 2), wire.ravel(), cv=cv,
                          method="predict_proba")[:, 1]
    return roc_auc_score(wire.ravel(), p)


def _weights(model) -> dict[str, torch.Tensor]:
    return {k: v.clone() for k, v in model.module_.state_dict().items()}


# ----------------------------------------------------------------------------- the sources
def _pixel_cube(ny=10, nx=9, ne=3, chunks=(4, 4)):
    """A cube whose spectra hold their own flat pixel index, and a mask of kept pixels."""
    flat = np.arange(ny * nx, dtype=np.float32).reshape(ny, nx, 1)
    cube = np.repeat(flat, ne, axis=2)
    keep = np.random.default_rng(0).random((ny, nx)) > 0.2
    return cube, da.from_array(cube, chunks=(*chunks, ne)), keep


def _epoch(src, part, batch, seed):
    batches = list(src.train_batches(part, batch, torch.Generator().manual_seed(seed)))
    return [b[0][:, 0].numpy().astype(int) for b in batches]


def test_shuffle_buffer_visits_every_kept_pixel_once_per_epoch():
    _, lazy, keep = _pixel_cube()
    src = ChunkedSamples(lazy, keep, buffer_chunks=2)
    assert src.n_chunks == 9 and len(src) == keep.sum()
    train, val = src.split(0.0, torch.Generator())
    assert len(val) == 0 and len(train) == len(src)
    epoch = _epoch(src, train, 7, seed=1)
    seen = np.concatenate(epoch)
    assert sorted(seen) == np.flatnonzero(keep).tolist()      # each kept pixel exactly once
    assert [len(b) for b in epoch[:-1]] == [7] * (len(epoch) - 1) and 0 < len(epoch[-1]) <= 7
    # shuffled: not in chunk order, and one batch mixes the pixels of two chunks
    assert not np.array_equal(seen, np.sort(seen))
    chunk_of = (seen // 9) // 4 * 3 + (seen % 9) // 4
    assert any(len(set(chunk_of[i:i + 7])) > 1 for i in range(0, len(seen), 7))
    # seeded: the same seed gives the same order, another seed another one
    assert all(np.array_equal(a, b) for a, b in zip(epoch, _epoch(src, train, 7, seed=1),
                                                     strict=True))
    assert not np.array_equal(seen, np.concatenate(_epoch(src, train, 7, seed=2)))
    assert src.reads == 27 and src.make_batch is _samples._raw_batch


def test_validation_holds_out_whole_chunks():
    _, lazy, keep = _pixel_cube()
    src = ChunkedSamples(lazy, keep, buffer_chunks=4)
    train, val = src.split(0.25, torch.Generator().manual_seed(0))
    assert not set(train.chunks) & set(val.chunks) and len(train) + len(val) == len(src)
    assert len(val) >= 0.25 * len(src) and len(val.chunks) >= 1
    assert sorted({int(v) for b in src.val_batches(val, 5) for v in b[0][:, 0]}) == sorted(
        {int(v) for b in src.train_batches(val, 5, torch.Generator()) for v in b[0][:, 0]})
    again = src.split(0.25, torch.Generator().manual_seed(0))
    assert np.array_equal(again[1].chunks, val.chunks)
    with pytest.raises(ValueError, match="whole energy axis in every chunk"):
        ChunkedSamples(lazy.rechunk((4, 4, 1)), keep)
    with pytest.raises(ValueError, match="keep must have the scan shape"):
        ChunkedSamples(lazy, keep[:, :3])
    with pytest.raises(ValueError, match="buffer_chunks must be >= 1"):
        ChunkedSamples(lazy, keep, buffer_chunks=0)
    one = ChunkedSamples(lazy.rechunk((10, 9, 3)), keep)
    with pytest.raises(ValueError, match=r"holds out every one of the 1 chunk.*rechunk"):
        one.split(0.1, torch.Generator())


@pytest.mark.parametrize("lazy", [False, True])
def test_statistics_are_computed_block_by_block_like_numpy(lazy, monkeypatch):
    monkeypatch.setattr(_samples, "_BLOCK_BYTES", 10 * 6 * 4)   # in memory: 10 rows a block
    rng = np.random.default_rng(3)
    cube = (rng.normal(5.0, 2.0, (11, 13, 6)) * rng.random(6)).astype(np.float32)
    keep = rng.random((11, 13)) > 0.3
    data = da.from_array(cube, chunks=(4, 5, 6)) if lazy else cube
    src = pixel_samples(data, keep)
    assert isinstance(src, ChunkedSamples if lazy else ArraySamples)
    if not lazy:
        assert np.shares_memory(src.rows, cube)                 # a view, not a copy
    stats = src.stats(moments=True)
    rows = cube[keep].astype(np.float64)
    assert stats.count == keep.sum() and stats.peak == np.abs(cube[keep]).max()
    np.testing.assert_allclose(stats.mean, rows.mean(axis=0), rtol=1e-10)
    np.testing.assert_allclose(stats.std, rows.std(axis=0), rtol=1e-9)
    assert src.stats().mean is None


# ----------------------------------------------------------------------------- SpectralVAE
def test_lazy_vae_recovers_the_wires_like_the_in_memory_fit(wires, three_chunk_buffer):
    low, _, wire = wires
    lazy = recorded(low, (12, 15))
    with logging_reads() as log:
        vae = SpectralVAE(**VAE).fit(lazy, progress=False)
    eager = SpectralVAE(**VAE).fit(low, progress=False)
    auc = _auc(vae, low, wire)
    print(f"lazy SpectralVAE wire/vacuum AUC: {auc:.3f} (in memory {_auc(eager, low, wire):.3f})")
    assert auc > 0.9
    # the same normalisation and sample count as in memory, computed chunk by chunk
    for key in ("offset", "scale", "n_train", "n_energy"):
        np.testing.assert_array_equal(vae.state_[key], eager.state_[key])
    # never the whole cube: at most 3 chunks per computation, and each chunk read once for
    # the statistics, once per epoch and once for the latent summary
    assert max(len(c) for c in log.computes) <= three_chunk_buffer
    reads = log.reads
    assert len(reads) == 16 * (VAE["epochs"] + 2)
    assert {reads.count(c) for c in set(reads)} == {VAE["epochs"] + 2}


def test_lazy_vae_same_seed_same_weights_and_channel_normalisation(wires, three_chunk_buffer):
    low, lazy, _ = wires
    kw = dict(VAE, epochs=2, normalize="channel")
    a = SpectralVAE(**kw).fit(lazy, progress=False)
    b = SpectralVAE(**kw).fit(lazy, progress=False)
    c = SpectralVAE(**dict(kw, seed=1)).fit(lazy, progress=False)
    wa, wb, wc = _weights(a), _weights(b), _weights(c)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    assert not all(torch.equal(wa[k], wc[k]) for k in wa)
    eager = SpectralVAE(**kw).fit(low, progress=False)
    np.testing.assert_allclose(a.state_["offset"], eager.state_["offset"], rtol=1e-5)
    np.testing.assert_allclose(a.state_["scale"], eager.state_["scale"], rtol=1e-5)


def test_lazy_vae_validation_split_and_mask(wires, three_chunk_buffer):
    low, lazy, _ = wires
    mask = np.zeros(low.shape[:2], bool)
    mask[:, :45] = True
    vae = SpectralVAE(**dict(VAE, epochs=2, val_fraction=0.2)).fit(lazy, mask=mask,
                                                                   progress=False)
    h = vae.history_
    assert h["n_train"] + h["n_val"] == mask.sum() == vae.state_["n_train"]
    assert h["n_val"] % 180 == 0 and h["n_val"] >= 0.2 * mask.sum()   # whole 12 x 15 chunks
    assert len(h["val_loss"]) == 2 and np.isfinite(h["val_loss"]).all()


def test_lazy_fit_is_atomic_when_a_chunk_is_bad(wires):
    low, lazy, _ = wires
    vae = SpectralVAE(**dict(VAE, epochs=1)).fit(lazy, progress=False)
    before = _weights(vae), dict(vae.state_)
    cube = np.array(low.data)
    cube[30, 50, 7] = np.nan
    bad = low.replace(data=da.from_array(cube, chunks=(12, 15, low.ne)))
    with pytest.raises(ValueError, match=r"NaN/Inf.*chunk y 24:36, x 45:60.*\(30, 50\)"):
        vae.fit(bad, progress=False)
    assert all(torch.equal(before[0][k], v) for k, v in _weights(vae).items())
    assert vae.state_.keys() == before[1].keys() and vae.history_["epochs_run"] == 1
    with pytest.raises(TypeError, match="lazy SpectrumImage"):
        vae.fit(lazy.data, progress=False)


def test_in_memory_vae_fit_does_not_copy_the_cube():
    """NumPy's allocations during a fit stay far below the cube (no normalised copy)."""
    rng = np.random.default_rng(0)
    si = ew.SpectrumImage(rng.random((128, 64, 512), dtype=np.float32),
                          np.linspace(0.0, 50.0, 512))
    vae = SpectralVAE(latent_dim=2, hidden=(16,), epochs=1, batch_size=256, device="cpu")
    tracemalloc.start()
    try:
        vae.fit(si, progress=False)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    print(f"NumPy peak during fit: {peak / si.data.nbytes:.3f} x the cube")
    assert peak < 0.25 * si.data.nbytes


# ----------------------------------------------------------------------------- Im2Spec / Spec2Im
@pytest.fixture(scope="module")
def cubes():
    si = ew.datasets.nanocube_array(seed=0)
    si = si.remove_zlp(si.truth["zlp_fit_window"]).bin(energy=4)
    train = left_right_split(si)
    return si, train, heldout_mask(train, window_valid(si, 16))


def test_lazy_im2spec_predicts_held_out_spectra(cubes, monkeypatch):
    si, train, test = cubes
    cy, cx = -(-si.ny // 4), -(-si.nx // 4)
    monkeypatch.setattr(_samples, "BUFFER_BYTES", 3 * cy * cx * si.ne * 4)
    with logging_reads() as log:
        model = Im2Spec(window=16, latent_dim=10, epochs=8, batch_size=128, seed=0,
                        device="cpu").fit(recorded(si, (cy, cx)), train=train, progress=False)
    assert max(len(c) for c in log.computes) <= 3
    truth = si.data[test]
    mse = float(np.mean((model.predict(si).data[test] - truth) ** 2))
    baseline = float(np.mean((si.mean_spectrum(train & window_valid(si, 16))[None] - truth)
                             ** 2))
    print(f"lazy Im2Spec test MSE / mean-spectrum baseline: {mse / baseline:.3f}")
    assert mse / baseline < 0.3
    pred = model.predict(si).data[test].sum(axis=1)
    assert np.corrcoef(pred, truth.sum(axis=1))[0, 1] > 0.9


def test_lazy_spec2im_streams_and_matches_the_in_memory_normalisation(cubes):
    si, train, _ = cubes
    kw = dict(window=16, latent_dim=2, epochs=1, batch_size=128, seed=0, device="cpu")
    with logging_reads() as log:
        lazy = Spec2Im(**kw).fit(recorded(si, (16, 16)), train=train, progress=False)
    eager = Spec2Im(**kw).fit(si, train=train, progress=False)
    assert lazy.state_["spec_scale"] == eager.state_["spec_scale"]
    assert lazy.state_["n_train"] == eager.state_["n_train"] == lazy.history_["n_train"]
    assert np.isfinite(lazy.latent_ranges_).all()
    n_chunks = len({c for c in log.reads})
    assert n_chunks < -(-si.ny // 16) * -(-si.nx // 16)       # chunks right of the split unread
    assert len(log.reads) == 3 * n_chunks                    # stats, one epoch, latent summary


# ----------------------------------------------------------------------------- rVAE
def test_rvae_fits_a_lazy_map_stack_like_the_computed_one():
    maps = np.random.default_rng(0).random((3, 20, 22)).astype(np.float32)
    kw = dict(window=6, epochs=2, batch_size=64, seed=0, device="cpu")
    lazy = MultichannelRVAE(**kw).fit(da.from_array(maps, chunks=(3, 8, 8)), progress=False)
    eager = MultichannelRVAE(**kw).fit(maps, progress=False)
    wl, we = _weights(lazy), _weights(eager)
    assert all(torch.equal(wl[k], we[k]) for k in wl)
    windows = da.zeros((10, 3, 6, 6), chunks=5)
    with pytest.raises(ValueError, match="lazy array of 4 dimensions"):
        MultichannelRVAE(**kw).fit(windows, progress=False)


# ----------------------------------------------------------------------------- real data
def test_vae_fits_a_real_file_loaded_lazily():
    path = REALDATA / "coreloss_16x16_SI.dm3"
    assert path.is_file(), f"{path} is missing (see ../shared/realdata/README.md)"
    lazy = ew.load(path, lazy=True, chunks=(8, 8))
    eager = ew.load(path)
    kw = dict(latent_dim=2, hidden=(32,), epochs=3, batch_size=32, seed=0, device="cpu")
    a = SpectralVAE(**kw).fit(lazy, progress=False)
    b = SpectralVAE(**kw).fit(eager, progress=False)
    assert lazy.is_lazy and a.state_["n_train"] == eager.valid.sum()
    np.testing.assert_array_equal(a.state_["scale"], b.state_["scale"])
    assert a.history_["loss"][-1] < a.history_["loss"][0]
    assert np.isfinite(a.encode(eager)).all()
