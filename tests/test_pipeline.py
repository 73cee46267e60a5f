"""The distributed engine: ew.client() and ew.run_pipeline() on a 2-process LocalCluster."""

from __future__ import annotations

import os
import pickle
import sys
import time
from types import SimpleNamespace

import cloudpickle
import numpy as np
import psutil
import pytest
from dask.callbacks import Callback
from test_decomposition import matched_correlations
from test_decomposition_lazy import Results

import eelswidgets as ew
from eelswidgets.pipeline import PipelineError, apply_steps

pytestmark = [pytest.mark.usefixtures("one_thread"),
              pytest.mark.filterwarnings("ignore::FutureWarning")]

SHAPE, NE = (20, 24), 96
CHUNKS = (8, 8)         # 3 x 3 chunks with ragged edges: chunking matters
STEPS = [("remove_zlp", {"fit_window": (0.2, 0.35)}), ("clip", {"lo": 0.0})]
DECOMPOSE = {"n_components": 3, "method": "nmf", "random_state": 0, "max_iter": 300}
# lazily read files are decomposed out of core: for NMF, max_iter counts passes (default 5)
LAZY_NMF = {"n_components": 3, "method": "nmf", "random_state": 0}
PCA = {"n_components": 3, "method": "pca"}


def scan(seed: int) -> ew.SpectrumImage:
    si = ew.datasets.nanowires(seed=seed, shape=SHAPE, n_energy=NE, keep_clean=False)
    return si.replace(name=f"scan {seed}")


@pytest.fixture(scope="module")
def scans(tmp_path_factory):
    """Three small scans in a folder: two own .h5 files and one chunked .zarr store."""
    folder = tmp_path_factory.mktemp("scans")
    for seed, name in ((0, "a.h5"), (1, "b.h5")):
        scan(seed).save(folder / name)
    scan(2).as_lazy(CHUNKS).save(folder / "c.zarr")       # stored in chunks of CHUNKS
    return folder


@pytest.fixture(scope="module")
def vae():
    ref = apply_steps(scan(5), STEPS)
    return ew.SpectralVAE(latent_dim=2, hidden=(32, 16), epochs=4, seed=0).fit(ref,
                                                                                progress=False)


@pytest.fixture(scope="module")
def cluster():
    """One 2-process LocalCluster for the module; its workers must be gone after close."""
    client = ew.client(n_workers=2, threads_per_worker=1)
    pids = list(client.run(os.getpid).values())
    assert len(pids) == 2 and os.getpid() not in pids      # really other processes
    yield client
    client.close()
    client.cluster.close()
    deadline = time.monotonic() + 10
    while any(psutil.pid_exists(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(psutil.pid_exists(p) for p in pids), "worker processes leaked"


@pytest.fixture(scope="module")
def single(scans, vae, tmp_path_factory):
    """The reference: every file read whole, this process, no cluster."""
    out = tmp_path_factory.mktemp("single")
    return ew.run_pipeline(scans, out, steps=STEPS, decompose=DECOMPOSE, model=vae, lazy=False)


def read_all(summary):
    return [ew.load_maps(p)[0] for p in summary.written]


def assert_same_maps(a, b):
    assert len(a) == len(b)
    for x, y in zip(a, b, strict=True):
        assert set(x) == set(y)
        for key in x:
            np.testing.assert_allclose(x[key], y[key], rtol=1e-5, atol=1e-6, err_msg=key)


def test_single_process_run_writes_what_the_functions_compute(scans, vae, single):
    assert [r.source.name for r in single.results] == ["a.h5", "b.h5", "c.zarr"]
    assert [p.name for p in single.written] == ["a.maps.npz", "b.maps.npz", "c.maps.npz"]
    k, d = DECOMPOSE["n_components"], vae.latent_dim
    for r, seed in zip(single.results, (0, 1, 2), strict=True):
        si = apply_steps(ew.load(r.source), STEPS)
        dec = ew.decompose(si, **DECOMPOSE)
        arrays, info = ew.load_maps(r.output)
        np.testing.assert_array_equal(arrays["maps"], dec.maps)
        np.testing.assert_array_equal(arrays["spectra"], dec.spectra)
        np.testing.assert_array_equal(arrays["latent"], vae.encode(si))
        np.testing.assert_array_equal(arrays["energy"], si.energy)
        assert arrays["maps"].shape == (k, *SHAPE) and arrays["latent"].shape == (*SHAPE, d)
        assert r.shapes["maps"] == (k, *SHAPE) and not r.lazy
        assert info["source"] == str(r.source) and info["steps"] == ["remove_zlp", "clip"]
        assert info["method"] == "nmf" and info["model"] == "SpectralVAE"
        assert info["reconstruction_error"] == pytest.approx(dec.reconstruction_error)
        # the scans differ: a pipeline that wrote one file's maps everywhere would fail here
        assert seed == 0 or not np.allclose(arrays["latent"], ew.load_maps(
            single.written[0])[0]["latent"])


def test_cluster_gives_the_single_process_maps(scans, vae, single, cluster, tmp_path):
    res = ew.run_pipeline(scans, tmp_path, steps=STEPS, decompose=DECOMPOSE, model=vae,
                          lazy=False, client=cluster)
    assert_same_maps(read_all(res), read_all(single))
    assert not list(tmp_path.glob(".*")), "temporary files left behind"


def test_all_files_are_one_graph_computed_once(scans, vae, cluster, tmp_path, monkeypatch):
    class Counter(Callback):
        n = 0

        def _start(self, dsk):
            Counter.n += 1

    with Counter():
        ew.run_pipeline(scans, tmp_path / "local", steps=STEPS, decompose=DECOMPOSE,
                        model=vae, lazy=False)
    assert Counter.n == 1
    calls = []
    compute = cluster.compute
    monkeypatch.setattr(cluster, "compute", lambda tasks: calls.append(len(tasks))
                        or compute(tasks))
    ew.run_pipeline(scans, tmp_path / "cluster", steps=STEPS, decompose=DECOMPOSE, model=vae,
                    lazy=False, client=cluster)
    assert calls == [3]                             # one submission, one future per file


@pytest.fixture(scope="module")
def chunked(scans, vae, tmp_path_factory):
    """Every file read chunk by chunk (3 x 3 chunks), this process, no cluster."""
    out = tmp_path_factory.mktemp("chunked")
    return ew.run_pipeline(scans, out, steps=STEPS, decompose=LAZY_NMF, model=vae, lazy=True,
                           chunks=CHUNKS)


def test_chunked_files_on_the_cluster_give_the_single_process_maps(scans, vae, chunked,
                                                                   cluster, tmp_path):
    res = ew.run_pipeline(scans, tmp_path, steps=STEPS, decompose=LAZY_NMF, model=vae,
                          lazy=True, chunks=CHUNKS, client=cluster)
    assert all(r.lazy for r in res.results) and all(r.lazy for r in chunked.results)
    assert_same_maps(read_all(res), read_all(chunked))


def test_chunked_files_give_the_in_memory_maps(scans, vae, single, chunked, tmp_path):
    """Out-of-core NMF finds the in-memory NMF's spectra (as the decomposition tests define);
    the chunk-wise encode is the in-memory one; out-of-core PCA is the in-memory PCA."""
    for lazy, whole in zip(read_all(chunked), read_all(single), strict=True):
        np.testing.assert_allclose(lazy["latent"], whole["latent"], rtol=1e-5, atol=1e-6)
        assert matched_correlations(lazy["spectra"], whole["spectra"]).min() >= 0.95
        assert lazy["maps"].shape == whole["maps"].shape and np.all(lazy["maps"] >= 0)
    runs = [ew.run_pipeline(scans, tmp_path / str(lazy), steps=STEPS, decompose=PCA,
                            lazy=lazy, chunks=CHUNKS) for lazy in (True, False)]
    for lazy, whole in zip(*map(read_all, runs), strict=True):
        np.testing.assert_allclose(lazy["spectra"], whole["spectra"], atol=1e-5)
        np.testing.assert_allclose(lazy["maps"], whole["maps"],
                                   atol=1e-4 * np.abs(whole["maps"]).max())
        np.testing.assert_allclose(lazy["scree"], whole["scree"], rtol=1e-4, atol=1e-8)


def test_chunked_files_are_never_gathered(scans, vae, tmp_path):
    """No task of a chunked run (read, preprocess, decomposition passes, encode) returns more
    spectra than one chunk holds: the cube is never gathered onto one worker."""
    ne = apply_steps(scan(0), STEPS).ne          # remove_zlp crops the energy axis
    with Results(ne) as seen:
        ew.run_pipeline(scans, tmp_path, steps=STEPS, decompose=LAZY_NMF, model=vae,
                        lazy=True, chunks=CHUNKS)
    assert seen.spectra == CHUNKS[0] * CHUNKS[1] and seen.computes > 3


def test_windowed_model_encodes_chunked_files_on_the_cluster(scans, cluster, tmp_path):
    """Im2Spec encodes the windows around every pixel, across chunk borders, on the workers."""
    ref = apply_steps(scan(5), STEPS)
    im = ew.Im2Spec(latent_dim=2, window=6, nb_filters=4, n_dilated=1, epochs=1, seed=0,
                    device="cpu").fit(ref, progress=False)
    whole = ew.run_pipeline(scans, tmp_path / "whole", steps=STEPS, model=im, lazy=False)
    res = ew.run_pipeline(scans, tmp_path / "chunked", steps=STEPS, model=im, lazy=True,
                          chunks=CHUNKS, client=cluster)
    assert all(r.lazy for r in res.results)
    assert_same_maps(read_all(res), read_all(whole))
    latent = read_all(res)[1]["latent"]
    assert latent.shape == (*SHAPE, 2) and np.isfinite(latent[3:-3, 3:-3]).all()


def test_auto_reads_large_files_chunk_wise(scans, vae, tmp_path):
    res = ew.run_pipeline(scans, tmp_path, steps=STEPS, model=vae, lazy="auto",
                          lazy_above=0, chunks=CHUNKS)
    assert [r.lazy for r in res.results] == [True, True, True]
    res = ew.run_pipeline(scans, tmp_path, steps=STEPS, model=vae)   # 512 MiB: all whole
    assert [r.lazy for r in res.results] == [False, False, False]
    assert set(ew.load_maps(res.written[0])[0]) == {"energy", "valid", "latent"}


def test_fitted_model_pickles_and_ships_to_the_workers(vae, cluster):
    si = apply_steps(scan(3), STEPS)
    local = vae.encode(si)
    for dumps, loads in ((pickle.dumps, pickle.loads), (cloudpickle.dumps, cloudpickle.loads)):
        np.testing.assert_array_equal(loads(dumps(vae)).encode(si), local)
    remote = cluster.submit(lambda model, s: (os.getpid(), model.encode(s)), vae, si).result()
    assert remote[0] != os.getpid()
    np.testing.assert_array_equal(remote[1], local)


def test_callable_steps_and_models_run_on_the_workers(scans, cluster, tmp_path):
    def energy_maps(si, dec):
        return {"low": si.energy_image(0.3, 1.0), "high": si.energy_image(1.0, 2.5)}

    res = ew.run_pipeline(scans, tmp_path, steps=[lambda si: si.crop(0, 10, 0, 12)],
                          model=energy_maps, client=cluster)
    arrays, _ = ew.load_maps(res.written[1])
    si = ew.load(scans / "b.h5").crop(0, 10, 0, 12)
    np.testing.assert_allclose(arrays["latent_low"], si.energy_image(0.3, 1.0), rtol=1e-6)
    assert arrays["latent_high"].shape == (10, 12)
    # a lazily read file: the function gets the lazy SI and the out-of-core decomposition
    crop = ("crop", {"y0": 0, "y1": 10, "x0": 0, "x1": 12})
    res = ew.run_pipeline(scans, tmp_path / "chunked", steps=[crop], model=energy_maps,
                          decompose=PCA, lazy=True, chunks=CHUNKS, client=cluster)
    lazy_arrays, _ = ew.load_maps(res.written[1])
    np.testing.assert_allclose(lazy_arrays["latent_low"], arrays["latent_low"], rtol=1e-6)


def test_rvae_encodes_the_decompositions_maps_chunk_by_chunk(scans, cluster, tmp_path):
    ref = apply_steps(scan(5), STEPS)
    rv = ew.MultichannelRVAE(window=5, hidden=16, encoder_hidden=16, epochs=1, seed=0,
                             device="cpu").fit(ew.decompose(ref, **PCA).maps[[0, 1]],
                                               progress=False)
    model = ew.pipeline.encode_maps(rv, [0, 1])
    runs = [ew.run_pipeline(scans, tmp_path / name, steps=STEPS, decompose=PCA, model=model,
                            lazy=lazy, chunks=CHUNKS, client=client)
            for name, lazy, client in (("local", True, None), ("cluster", True, cluster),
                                       ("whole", False, cluster))]
    local, remote, whole = map(read_all, runs)
    assert_same_maps(remote, local)
    for arrays in (*local, *whole):          # what the rVAE gives for the maps written
        expected = rv.encode(arrays["maps"][[0, 1]])
        assert {"angle", "z"} <= set(expected)
        for key, value in expected.items():
            np.testing.assert_allclose(arrays[f"latent_{key}"], value, rtol=1e-5, atol=1e-5)
    z = local[0]["latent_z"]
    assert z.shape == (*SHAPE, rv.latent_dim) and np.isfinite(z[2:-2, 2:-2]).all()
    assert np.isnan(z[0]).all()                              # windows cross the border


# ---------------------------------------------------------------------------- bad inputs
FITTED = SimpleNamespace(encode=lambda stack: {}, is_fitted=True)



def test_corrupt_file_among_good_ones_is_named_and_the_others_are_written(scans, vae, cluster,
                                                                          tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    for name in ("a.h5", "b.h5"):
        (folder / name).write_bytes((scans / name).read_bytes())
    (folder / "broken.h5").write_bytes(b"\x89HDF\r\n\x1a\n" + b"\x00" * 64)
    for lazy in (False, True):
        out = tmp_path / f"out{lazy}"
        with pytest.raises(PipelineError, match=r"broken\.h5: load: ValueError") as err:
            ew.run_pipeline(folder, out, steps=STEPS, model=vae, lazy=lazy, client=cluster)
        assert "1 of 3 input(s) failed (2 maps file(s) written)" in str(err.value)
        assert sorted(p.name for p in out.iterdir()) == ["a.maps.npz", "b.maps.npz"]
        summary = ew.run_pipeline(folder, out, steps=STEPS, model=vae, lazy=lazy,
                                  client=cluster, on_error="collect")
        assert [r.source.name for r in summary.failed] == ["broken.h5"]
        assert "broken.h5" in repr(summary) and len(summary.written) == 2


def _fails_on_b(block, block_info=None):
    raise ValueError("chunk refused")


def test_error_while_computing_a_chunked_file_names_it(scans, vae, cluster, tmp_path):
    target = "scan 1"                          # b.h5's name: the step breaks only b
    assert ew.load(scans / "b.h5").name == target and ew.load(scans / "a.h5").name != target

    def break_b(si):
        if si.name == target:
            return si.replace(data=si.data.map_blocks(_fails_on_b, dtype=np.float32))
        return si

    summary = ew.run_pipeline([scans / "a.h5", scans / "b.h5"], tmp_path,
                              steps=[*STEPS, break_b], model=vae, lazy=True,
                              chunks=CHUNKS, client=cluster, on_error="collect")
    assert [r.ok for r in summary.results] == [True, False], summary
    assert "chunk refused" in summary.failed[0].error
    for decompose in (None, PCA):     # no cluster; failing in the encode / decompose stage
        out = tmp_path / f"local-{decompose is None}"
        with pytest.raises(PipelineError, match=r"b\.h5: \w+: ValueError: chunk refused") as e:
            ew.run_pipeline([scans / "a.h5", scans / "b.h5"], out, decompose=decompose,
                            steps=[*STEPS, break_b], model=vae, lazy=True, chunks=CHUNKS)
        assert "a.h5" not in str(e.value)
        assert [p.name for p in out.iterdir()] == ["a.maps.npz"]


def test_missing_and_empty_inputs(tmp_path, vae):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        ew.run_pipeline(tmp_path / "nowhere", tmp_path / "out", model=vae)
    with pytest.raises(ValueError, match="holds no spectrum image"):
        ew.run_pipeline(tmp_path, tmp_path / "out", model=vae)
    with pytest.raises(FileNotFoundError, match=r"gone\.h5"):
        ew.run_pipeline([tmp_path / "gone.h5"], tmp_path / "out", model=vae)
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match=r"unknown extension \.txt"):
        ew.run_pipeline([tmp_path / "notes.txt"], tmp_path / "out", model=vae)
    with pytest.raises(ValueError, match=r"unknown extension \.txt"):
        ew.run_pipeline(tmp_path / "notes.txt", tmp_path / "out", model=vae)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("kwargs, error, message", [
    ({"steps": [("explode", {})]}, ValueError, "explode"),
    ({"steps": [("crop_energy", {"low": 1})]}, TypeError, r"steps\[0\] \(crop_energy\)"),
    ({"steps": [("align_zlp", {"return_shifts": True})]}, ValueError, "return_shifts"),
    ({"steps": "remove_zlp"}, TypeError, "list of"),
    ({"decompose": {"method": "nmf"}}, ValueError, "n_components"),
    ({"decompose": {"n_components": 2, "colour": 1}}, TypeError, "colour"),
    ({"decompose": None, "model": None}, ValueError, "nothing to compute"),
    ({"model": ew.SpectralVAE()}, ValueError, "not fitted"),
    ({"model": 3}, TypeError, "model"),
    ({"model": ew.pipeline.encode_maps(ew.MultichannelRVAE(), [0])}, ValueError,
     "MultichannelRVAE is not fitted"),
    ({"model": ew.pipeline.encode_maps(FITTED, [0, 3])}, ValueError, "at least 4 components"),
    ({"model": ew.pipeline.encode_maps(FITTED, [0]), "decompose": None}, ValueError,
     "pass decompose="),
    ({"on_error": "ignore"}, ValueError, "on_error"),
    ({"lazy": "yes"}, TypeError, "lazy"),
    ({"client": "tcp://x:1"}, TypeError, "client"),
])
def test_bad_options_are_refused_before_anything_runs(scans, tmp_path, kwargs, error,
                                                      message):
    options = {"decompose": DECOMPOSE, **kwargs}
    with pytest.raises(error, match=message):
        ew.run_pipeline(scans, tmp_path / "out", **options)
    assert not (tmp_path / "out").exists()


def test_outputs_are_unique_and_not_overwritten_unless_asked(scans, vae, tmp_path):
    (tmp_path / "a.zarr").mkdir()
    with pytest.raises(ValueError, match=r"a\.h5.*a\.zarr.*a\.maps\.npz"):
        ew.run_pipeline([scans / "a.h5", tmp_path / "a.zarr"], tmp_path / "out", model=vae)
    ew.run_pipeline([scans / "a.h5"], tmp_path, steps=STEPS, model=vae)
    before = (tmp_path / "a.maps.npz").stat().st_mtime_ns
    with pytest.raises(FileExistsError, match="overwrite=True"):
        ew.run_pipeline([scans / "a.h5"], tmp_path, steps=STEPS, model=vae, overwrite=False)
    assert (tmp_path / "a.maps.npz").stat().st_mtime_ns == before
    (tmp_path / "file").write_text("x")
    with pytest.raises(NotADirectoryError, match="file"):
        ew.run_pipeline([scans / "a.h5"], tmp_path / "file", model=vae)


# ---------------------------------------------------------------------------- the client
def test_client_closes_its_local_cluster():
    with ew.client(n_workers=1) as c:
        (pid,) = c.run(os.getpid).values()
        assert c.submit(lambda x: x + 1, 1).result() == 2
    deadline = time.monotonic() + 10
    while psutil.pid_exists(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not psutil.pid_exists(pid)


def test_encode_maps_refuses_bad_channels():
    with pytest.raises(TypeError, match="MultichannelRVAE"):
        ew.pipeline.encode_maps(object(), [0])
    for channels, error in (([], TypeError), ("01", TypeError), ([0.5], TypeError),
                            ([1, 1], ValueError), ([-1], ValueError)):
        with pytest.raises(error, match="channels"):
            ew.pipeline.encode_maps(FITTED, channels)


def test_client_errors_name_the_fix(monkeypatch):
    with pytest.raises(TypeError, match="apply to a local cluster"):
        ew.client("tcp://127.0.0.1:8786", n_workers=4)
    with pytest.raises(ValueError, match="tcp://host:8786"):
        ew.client("somewhere")
    with pytest.raises(TypeError, match="address"):
        ew.client(8786)
    with pytest.raises(ValueError, match="n_workers"):
        ew.client(n_workers=0)
    with pytest.raises(OSError, match="dask scheduler"):
        ew.client("tcp://127.0.0.1:9", timeout=1)
    monkeypatch.setitem(sys.modules, "distributed", None)
    with pytest.raises(ImportError, match=r"eelswidgets\[io\]"):
        ew.client()


# ---------------------------------------------------------------------------- maps files
def test_maps_files_round_trip_and_refuse_what_they_cannot_hold(tmp_path):
    arrays = {"maps": np.arange(12, dtype=np.float32).reshape(3, 2, 2),
              "valid": np.ones((2, 2), bool)}
    path = ew.io.save_maps(tmp_path / "x.maps.npz", arrays, {"k": np.float32(1.5)})
    back, info = ew.load_maps(path)
    assert info == {"k": 1.5} and back["valid"].dtype == bool
    np.testing.assert_array_equal(back["maps"], arrays["maps"])
    with pytest.raises(TypeError, match="numbers"):
        ew.io.save_maps(tmp_path / "y.maps.npz", {"names": np.array(["a"])})
    with pytest.raises(TypeError, match="JSON"):
        ew.io.save_maps(tmp_path / "y.maps.npz", arrays, {"f": object()})
    assert not (tmp_path / "y.maps.npz").exists()
    np.savez(tmp_path / "plain.npz", a=np.ones(2))
    with pytest.raises(ValueError, match="not an eelswidgets maps file"):
        ew.load_maps(tmp_path / "plain.npz")
    with pytest.raises(ValueError, match=r"max_bytes|budget|larger"):
        ew.load_maps(path, max_bytes=8)
