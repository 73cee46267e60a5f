"""Hostile and damaged data files, and inputs that used to give silently wrong results.

Files: memory budget before any allocation (deflate bombs, claimed huge shapes, unwritten
HDF5 chunks), HDF5 external storage / virtual datasets / links pointing at a local "secret"
file, pickled or mistyped members, deep JSON in every JSON-bearing field. Inputs: masked
arrays, ``clip(lo > hi)``, a power-law background at ``E <= 0``, overflow messages, and the
copies ``SpectrumImage`` and ``ew.load`` make.
"""

from __future__ import annotations

import io
import json
import tracemalloc
import zipfile

import h5py
import numpy as np
import pytest
from numpy.lib import format as npy_format

import eelswidgets as ew
from eelswidgets import _limits, _safe_json
from eelswidgets.io import native

pytestmark = pytest.mark.filterwarnings("ignore:Importing `Lazy")

SECRET = b"TOP-SECRET-CONTENT-0123456789"
BUDGET_MATCH = r"memory budget.*max_bytes=.*EELSWIDGETS_MAX_BYTES"


def small_si(shape=(4, 5, 8), metadata=None) -> ew.SpectrumImage:
    rng = np.random.default_rng(0)
    cube = rng.random(shape, dtype=np.float32)
    return ew.SpectrumImage(cube, np.linspace(1.0, 2.0, shape[-1]), haadf=rng.random(shape[:2]),
                            metadata=metadata or {"a": [1, 2]},
                            truth={"maps": rng.random((2, *shape[:2]))})


@pytest.fixture
def secret(tmp_path):
    path = tmp_path / "secret.bin"
    path.write_bytes(SECRET)
    return path


# ------------------------------------------------------------------------------ .npz crafting
def npy_bytes(arr=None, *, descr=None, shape=None, data: bytes | None = None) -> bytes:
    """A .npy member: a real array, or a hand-made header claiming ``descr``/``shape``."""
    buf = io.BytesIO()
    if arr is not None:
        np.save(buf, arr, allow_pickle=True)
        return buf.getvalue()
    npy_format.write_array_header_1_0(buf, {"descr": descr, "fortran_order": False,
                                            "shape": tuple(shape)})
    return buf.getvalue() + (data or b"")


def good_members(tmp_path) -> dict[str, bytes]:
    path = tmp_path / "good.npz"
    small_si().save(path)
    with zipfile.ZipFile(path) as zf:
        return {name.removesuffix(".npy"): zf.read(name) for name in zf.namelist()}


def write_npz(path, members: dict[str, bytes], *, deflate: bool = False):
    method = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, "w", method) as zf:
        for key, raw in members.items():
            zf.writestr(key + ".npy", raw)
    return path


def crafted_npz(tmp_path, name="crafted.npz", *, deflate=False, drop=(), **replace) -> object:
    members = {k: v for k, v in good_members(tmp_path).items() if k not in drop}
    members.update(replace)
    return write_npz(tmp_path / name, members, deflate=deflate)


def header_text(tmp_path) -> dict:
    return json.loads(str(np.load(io.BytesIO(good_members(tmp_path)["__header__"]))[()]))


# ------------------------------------------------------------------------------ budget
def test_budget_precedence_argument_environment_default(monkeypatch):
    monkeypatch.delenv(_limits.ENV_VAR, raising=False)
    assert _limits.resolve_max_bytes() == _limits.default_max_bytes() > 2**20
    monkeypatch.setenv(_limits.ENV_VAR, "5e6")
    assert _limits.resolve_max_bytes() == 5_000_000
    assert _limits.resolve_max_bytes(1234) == 1234
    monkeypatch.setenv(_limits.ENV_VAR, "lots")
    with pytest.raises(ValueError, match="EELSWIDGETS_MAX_BYTES='lots' is not a number"):
        _limits.resolve_max_bytes()
    with pytest.raises(ValueError, match="max_bytes must be a positive"):
        _limits.resolve_max_bytes(0)
    with pytest.raises(TypeError, match="max_bytes must be a number"):
        _limits.resolve_max_bytes("1e9")


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_budget_names_array_shape_dtype_size_and_fix(tmp_path, ext, monkeypatch):
    path = tmp_path / f"si{ext}"
    small_si(shape=(16, 16, 64)).save(path)          # data: 64 KiB
    with pytest.raises(ValueError, match=r"'data' claims shape \(16, 16, 64\) of dtype float32 "
                                         r"\(6.1e-05 GiB\).*" + BUDGET_MATCH):
        ew.load(path, max_bytes=10_000)
    monkeypatch.setenv(_limits.ENV_VAR, "10000")
    with pytest.raises(ValueError, match="'data' claims shape"):
        ew.load(path)
    assert ew.load(path, max_bytes=100_000).shape == (16, 16, 64)   # argument beats env


def test_budget_applies_to_microscope_files_before_reading(tmp_path, monkeypatch):
    exspy = pytest.importorskip("exspy")
    s = exspy.signals.EELSSpectrum(np.ones((8, 8, 100), np.float32))
    s.axes_manager[-1].units = "eV"
    s.save(tmp_path / "si.hspy")
    monkeypatch.setenv(_limits.ENV_VAR, "20000")
    with pytest.raises(ValueError, match=r"si.hspy: the array 'Experiments/__unnamed__/data' "
                                         r"claims shape \(8, 8, 100\) of dtype float32.*"
                                         + BUDGET_MATCH):
        ew.load(tmp_path / "si.hspy")
    si = ew.load(tmp_path / "si.hspy", max_bytes=10**6)
    assert si.shape == (8, 8, 100)
    with h5py.File(tmp_path / "si.hspy", "r+"):                 # the file was closed again
        pass


# ------------------------------------------------------------------------------ hostile .npz
def test_npz_deflate_bomb_is_refused_before_inflating(tmp_path, monkeypatch):
    zeros = np.zeros((64, 64, 512), np.float32)                 # 8 MiB, deflates to ~8 KiB
    path = crafted_npz(tmp_path, deflate=True, data=npy_bytes(zeros))
    assert path.stat().st_size < 100_000
    monkeypatch.setenv(_limits.ENV_VAR, str(2**20))
    tracemalloc.start()
    try:
        with pytest.raises(ValueError, match=r"'data' claims shape \(64, 64, 512\).*"
                                             + BUDGET_MATCH):
            ew.load(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20                                         # nothing near 8 MiB allocated


def test_npz_claimed_huge_shape_is_a_value_error_not_memory_error(tmp_path):
    path = crafted_npz(tmp_path, data=npy_bytes(descr="<f4", shape=(10**6, 10**6, 1000)))
    with pytest.raises(ValueError, match=r"claims shape \(1000000, 1000000, 1000\).*3.73e\+06 "
                                         r"GiB.*" + BUDGET_MATCH):
        ew.load(path)


def test_npz_claimed_shape_larger_than_the_data_present(tmp_path):
    path = crafted_npz(tmp_path, data=npy_bytes(descr="<f4", shape=(4, 5, 8), data=b"\0" * 40))
    with pytest.raises(ValueError, match=r"'data' claims shape \(4, 5, 8\).*640 bytes.*holds 40 "
                                         r"bytes; the file is truncated or corrupt"):
        ew.load(path)


def test_npz_object_member_is_refused_without_unpickling(tmp_path):
    marker = tmp_path / "RAN"
    payload = np.array([_Payload(marker)], dtype=object)
    path = crafted_npz(tmp_path, tree_0=npy_bytes(payload))
    with pytest.raises(ValueError, match=r"its array 'tree_0' holds pickled Python objects"):
        ew.load(path)
    assert not marker.exists()


def test_npz_member_that_is_a_raw_pickle(tmp_path):
    import pickle

    marker = tmp_path / "RAN"
    path = crafted_npz(tmp_path, energy=pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match=r"not a valid .npz file or it is truncated or corrupt"):
        ew.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("member, arr, match", [
    ("data", np.full((4, 5, 8), "x"), r"'data' has dtype <U1, but it must hold numbers"),
    ("valid", np.ones((4, 5)), r"'valid' has dtype float64, but it must hold booleans"),
    ("energy", np.zeros(8, [("a", "<f4")]), r"'energy' has dtype .*must hold numbers"),
    ("__header__", np.array(1.5), r"header is malformed"),
    ("tree_0", np.array(["2020-01-01"], "datetime64[D]"), r"'tree_0' has dtype datetime64"),
])
def test_npz_wrong_member_types(tmp_path, member, arr, match):
    path = crafted_npz(tmp_path, **{member: npy_bytes(arr)})
    with pytest.raises(ValueError, match=match):
        ew.load(path)


@pytest.mark.parametrize("member", ["energy", "valid", "tree_0"])
def test_npz_missing_members(tmp_path, member):
    path = crafted_npz(tmp_path, drop=(member,))
    with pytest.raises(ValueError, match=rf"the array '{member}' is missing; the file is corrupt"):
        ew.load(path)


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


# ------------------------------------------------------------------------------ hostile .h5
def good_h5(tmp_path, name="crafted.h5"):
    path = tmp_path / name
    small_si().save(path)
    return path


def replace_dataset(f, key, **create):
    attrs = dict(f[key].attrs)
    del f[key]
    ds = f.create_dataset(key, **create)
    for k, v in attrs.items():
        ds.attrs[k] = v
    return ds


def test_h5_unwritten_chunks_with_huge_shape_hit_the_budget(tmp_path):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        ds = replace_dataset(f, "data", shape=(10**5, 10**5, 1000), dtype="<f4",
                             chunks=(16, 16, 16))
        ds.attrs["shape"] = np.array(ds.shape, np.int64)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(ValueError, match=r"'data' claims shape \(100000, 100000, 1000\).*"
                                         + BUDGET_MATCH):
        ew.load(path)


def test_h5_unwritten_chunks_within_budget_are_a_truncated_file(tmp_path):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        ds = replace_dataset(f, "data", shape=(4, 5, 8), dtype="<f4", chunks=(2, 5, 8))
        ds[:2] = 1.0                                             # one of two chunks written
    with pytest.raises(ValueError, match=r"'data' claims shape \(4, 5, 8\) but only 1 of its 2 "
                                         r"chunks were ever written; the file is truncated"):
        ew.load(path)


def test_h5_never_written_contiguous_dataset(tmp_path):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        replace_dataset(f, "energy", shape=(8,), dtype="<f8")
    with pytest.raises(ValueError, match=r"'energy' claims 64 bytes but the file stores 0"):
        ew.load(path)


@pytest.mark.parametrize("key", ["energy", "tree/tree_0"])
def test_h5_external_storage_is_refused(tmp_path, secret, key):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        ds = replace_dataset(f, key, shape=(len(SECRET),), dtype="u1",
                             external=[(str(secret), 0, len(SECRET))])
        assert bytes(ds[()]) == SECRET                            # h5py would follow it
        ds.attrs["dtype"] = "|u1"
        ds.attrs["shape"] = np.array([len(SECRET)], np.int64)
    with pytest.raises(ValueError, match=rf"the dataset '{key.split('/')[-1]}' stores its bytes "
                                         r"in external file\(s\) \['.*secret.bin'\]") as err:
        ew.load(path)
    assert SECRET.decode() not in str(err.value)


def test_h5_virtual_dataset_is_refused(tmp_path, secret):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["x"] = np.frombuffer(SECRET, np.uint8)
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        layout = h5py.VirtualLayout(shape=(len(SECRET),), dtype="u1")
        layout[:] = h5py.VirtualSource(str(other), "x", shape=(len(SECRET),))
        del f["tree/tree_0"]
        ds = f["tree"].create_virtual_dataset("tree_0", layout)
        ds.attrs["dtype"] = "|u1"
        ds.attrs["shape"] = np.array([len(SECRET)], np.int64)
    with pytest.raises(ValueError, match=r"the dataset 'tree_0' is a virtual dataset"):
        ew.load(path)


@pytest.mark.parametrize("kind", ["external", "soft", "dangling soft"])
def test_h5_links_are_refused_without_following(tmp_path, kind):
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        ds = f.create_dataset("x", data=np.frombuffer(SECRET, np.uint8))
        ds.attrs["dtype"] = "|u1"
        ds.attrs["shape"] = np.array([len(SECRET)], np.int64)
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["tree/tree_0"]
        f["tree/tree_0"] = {"external": h5py.ExternalLink(str(other), "/x"),
                            "soft": h5py.SoftLink("/energy"),
                            "dangling soft": h5py.SoftLink("/nowhere")}[kind]
    word = "external link" if kind == "external" else "soft link"
    with pytest.raises(ValueError, match=rf"'/tree/tree_0' is an? {word} to .*eelswidgets files "
                                         r"hold no links"):
        ew.load(path)


@pytest.mark.parametrize("create, match", [
    (dict(data=np.array(["a", "bc"], dtype=object), dtype=h5py.string_dtype()),
     r"the dataset 'energy' has the HDF5 type dtype\('O'\)"),
    (dict(shape=(2,), dtype=h5py.ref_dtype), r"the dataset 'energy' has the HDF5 type"),
    (dict(data=np.zeros(8, [("a", "<f4"), ("b", "<i2")])), r"'energy' has the HDF5 type"),
])
def test_h5_wrong_dataset_types(tmp_path, create, match):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        replace_dataset(f, "energy", **create)
    with pytest.raises(ValueError, match=match):
        ew.load(path)


@pytest.mark.parametrize("attr, value, match", [
    ("dtype", "O", r"'energy' declares the dtype object, which eelswidgets never stores"),
    ("shape", np.array([3], np.int64), r"'energy' holds 8 values but declares shape \(3,\)"),
    ("shape", np.array([[8]], np.int64), r"malformed shape attribute"),
])
def test_h5_inconsistent_attributes(tmp_path, attr, value, match):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        f["energy"].attrs[attr] = value
    with pytest.raises(ValueError, match=match):
        ew.load(path)


def test_h5_group_where_a_dataset_belongs(tmp_path):
    path = good_h5(tmp_path)
    with h5py.File(path, "r+") as f:
        del f["valid"]
        f.create_group("valid")
    with pytest.raises(ValueError, match=r"'valid' is a Group, not a dataset"):
        ew.load(path)


# ------------------------------------------------------------------------------ deep JSON
def deep(n: int) -> str:
    return "[" * n + "]" * n


def test_safe_json_depth_is_measured_without_recursion():
    assert _safe_json.nesting_depth('{"a": "[[[[\\"[[", "b": [1, {"c": []}]}') == 4
    assert _safe_json.loads(deep(64)) is not None
    with pytest.raises(ValueError, match="nests 65 levels deep, more than the limit of 64"):
        _safe_json.loads(deep(65))
    with pytest.raises(ValueError, match="nests 1000000 levels deep"):
        _safe_json.loads(deep(10**6))                    # json.loads: RecursionError
    with pytest.raises(ValueError, match="has 9 bytes, more than the limit of 8"):
        _safe_json.loads(b'"\xc3\xa5bcdef"', max_bytes=8)
    with pytest.raises(ValueError, match="not valid UTF-8"):
        _safe_json.loads(b'"\xff"')
    with pytest.raises(json.JSONDecodeError):
        _safe_json.loads("{")
    assert np.isnan(_safe_json.loads('[NaN]')[0])       # the own files write NaN metadata


@pytest.mark.parametrize("field", ["whole", "metadata", "truth"])
@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_deep_json_in_own_file_headers(tmp_path, ext, field):
    path = tmp_path / f"deep{ext}"
    small_si().save(path)
    if field == "whole":
        text = deep(5000)
    else:
        with h5py.File(path, "r") if ext == ".h5" else np.load(path) as src:
            raw = src.attrs["header"] if ext == ".h5" else str(src["__header__"][()])
        header = json.loads(raw)
        header[field] = {"x": json.loads(deep(200))}
        text = json.dumps(header)
    if ext == ".npz":
        crafted_npz(tmp_path, name=path.name, __header__=npy_bytes(np.array(text)))
    else:
        with h5py.File(path, "r+") as f:
            f.attrs["header"] = text
    depth = 5000 if field == "whole" else 202
    with pytest.raises(ValueError, match=rf"header is not valid JSON or too large or deep "
                                         rf"\(the JSON text nests {depth} levels deep"):
        ew.load(path)


def test_saving_refuses_metadata_too_deep_to_read_back(tmp_path):
    nested: dict = {}
    node = nested
    for _ in range(70):
        node["k"] = {}
        node = node["k"]
    si = small_si(metadata=nested)
    with pytest.raises(ValueError, match=r"nest too deeply to be saved.*72 levels deep.*64"):
        si.save(tmp_path / "deep.npz")
    assert not (tmp_path / "deep.npz").exists()


def test_hspy_deep_metadata_is_bounded_and_deep_metadata_json_refused(tmp_path):
    exspy = pytest.importorskip("exspy")
    s = exspy.signals.EELSSpectrum(np.ones((2, 3, 10), np.float32))
    s.axes_manager[-1].units = "eV"
    nested: dict = {"leaf": 1}
    for _ in range(150):
        nested = {"k": nested}
    s.metadata.add_dictionary({"Deep": nested})
    s.save(tmp_path / "deep.hspy")
    si = ew.load(tmp_path / "deep.hspy")
    depth = _safe_json.nesting_depth(json.dumps(si.metadata))
    assert depth <= 34 and "nested too deeply, left out" in json.dumps(si.metadata)
    si.save(tmp_path / "back.npz")                        # and it can be saved and read back
    assert ew.load(tmp_path / "back.npz").metadata == si.metadata

    s.original_metadata.add_dictionary({"eelswidgets": {"metadata_json": deep(3000)}})
    s.save(tmp_path / "deep_json.hspy")
    with pytest.raises(ValueError, match=r"metadata_json is refused: the JSON text nests 3000 "
                                         r"levels deep"):
        ew.load(tmp_path / "deep_json.hspy")

    with h5py.File(tmp_path / "deep.hspy", "r+") as f:           # deeper than rosettasciio
        f["Experiments/__unnamed__/metadata"].create_group("/".join(["k"] * 3000))  # recurses
    with pytest.raises(ValueError, match=r"cannot read deep.hspy.*RecursionError"):
        ew.load(tmp_path / "deep.hspy")


# ------------------------------------------------------------------------------ copies
def test_float32_c_contiguous_cube_is_a_read_only_view_and_never_written():
    cube = np.random.default_rng(1).random((6, 7, 20), dtype=np.float32) + 1
    before = cube.copy()
    si = ew.SpectrumImage(cube, np.linspace(1, 3, 20))
    assert np.shares_memory(si.data, cube) and not si.data.flags.writeable
    assert cube.flags.writeable                                   # the caller's flags kept
    with pytest.raises(ValueError, match="read-only"):
        si.data[0, 0, 0] = 0
    si.normalize().clip(0.5, 1.5).bin(2, 2).crop(0, 4, 0, 4)
    si.remove_background((1.0, 1.5)).remove_zlp((1.0, 1.5), cut=1.2)
    si.replace(name="x").copy().mean_spectrum()
    assert np.array_equal(cube, before)
    assert not np.shares_memory(si.copy().data, cube)             # copy() is independent


@pytest.mark.parametrize("cube", [
    np.ones((4, 5, 6)),                                           # float64: converted once
    np.asfortranarray(np.ones((4, 5, 6), np.float32)),            # not C-contiguous
    np.ones((4, 5, 12), np.float32)[..., ::2],                    # strided view
])
def test_other_cubes_are_copied_once(cube):
    si = ew.SpectrumImage(cube, np.arange(6.0))
    assert not np.shares_memory(si.data, cube) and si.data.flags.c_contiguous
    assert si.data.dtype == np.float32 and not si.data.flags.writeable


def _peak_while(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_loading_takes_one_cube_of_memory(tmp_path, ext):
    path = tmp_path / f"big{ext}"
    small_si(shape=(64, 64, 512)).save(path)                      # 8 MiB cube
    cube_bytes = 64 * 64 * 512 * 4
    peak = _peak_while(lambda: ew.load(path))
    assert peak < 1.3 * cube_bytes, peak / cube_bytes


def test_construction_takes_at_most_one_copy():
    ew.SpectrumImage(np.ones((2, 2, 3), np.float32), np.arange(3.0))  # first-call imports
    cube = np.ones((64, 64, 512), np.float32)
    assert _peak_while(lambda: ew.SpectrumImage(cube, np.arange(512.0))) < 0.1 * cube.nbytes
    cube64 = np.ones((64, 64, 512))
    peak = _peak_while(lambda: ew.SpectrumImage(cube64, np.arange(512.0)))
    assert peak < 1.1 * cube.nbytes                               # the float32 copy only


# ------------------------------------------------------------------------------ low items
@pytest.mark.parametrize("field", ["data", "energy", "haadf", "valid"])
def test_masked_arrays_are_refused_not_unmasked(field):
    args = {"data": np.ones((3, 4, 5)), "energy": np.arange(5.0), "haadf": np.ones((3, 4)),
            "valid": np.ones((3, 4), bool)}
    args[field] = np.ma.masked_array(args[field], mask=np.zeros_like(args[field], bool))
    with pytest.raises(TypeError, match=rf"{field} is a numpy masked array, whose mask would "
                                        r"be lost.*np.ma.filled"):
        ew.SpectrumImage(**args)


def test_masked_cube_recipe_in_the_message_works():
    x = np.ma.masked_array(np.ones((3, 4, 5)), mask=np.zeros((3, 4, 5), bool))
    x.mask[1, 2, 3] = True
    si = ew.SpectrumImage(np.ma.filled(x.astype(float), np.nan), np.arange(5.0),
                          valid=~np.ma.getmaskarray(x).any(axis=-1))
    assert not si.valid[1, 2] and si.valid.sum() == 11


@pytest.mark.parametrize("lo, hi, exc, match", [
    (2.0, 1.0, ValueError, r"lo \(2.0\) is greater than hi \(1.0\)"),
    (None, None, ValueError, "at least one bound"),
    (float("nan"), None, TypeError, "lo must be a number or None"),
    (0, "1", TypeError, "hi must be a number or None"),
])
def test_clip_bad_bounds(lo, hi, exc, match):
    with pytest.raises(exc, match=match):
        small_si().clip(lo, hi)


def test_clip_one_sided_bounds():
    si = small_si()
    assert si.clip(None, 0.5).data.max() == np.float32(0.5)
    assert si.clip(0.5).data.min() == np.float32(0.5)


def test_power_law_background_refuses_channels_at_or_below_zero():
    e = np.linspace(-1.0, 5.0, 61)
    si = ew.SpectrumImage(np.full((2, 3, 61), 10.0) * (np.clip(e, 0.05, None) ** -2), e)
    with pytest.raises(ValueError, match=r"undefined at E <= 0, and the energy axis has 11 "
                                         r"channel\(s\) there \(from -1 eV\).*crop_energy"):
        si.remove_background((1.0, 2.0))
    cropped = si.crop_energy(0.5, 5.0).remove_background((1.0, 2.0))
    assert np.all(np.abs(cropped.data) < 1.0)                    # no -1e21 anywhere
    low = si.remove_zlp((1.0, 2.0))                               # drops E < 1 before fitting
    assert low.energy[0] >= 1.0 and np.all(np.abs(low.data) < 1.0)
    with pytest.raises(ValueError, match="undefined at E <= 0"):
        si.remove_zlp((1.0, 2.0), cut=-0.5)


def test_overflow_is_reported_as_overflow_not_nan():
    cube = np.ones((2, 2, 4), np.float32)
    cube[0, 0] = [-3e38, 1e-30, 1e-30, 1e-30]                     # max is tiny, min huge
    si = ew.SpectrumImage(cube, np.arange(4.0))
    with pytest.raises(ValueError, match=r"the result overflows float32: normalize\('max'\) "
                                         r"gives 1 value") as err:
        si.normalize("max")
    assert "NaN/Inf" not in str(err.value)
    big = ew.SpectrumImage(np.full((2, 2, 4), 3e38, np.float32), np.arange(4.0))
    with pytest.raises(ValueError, match=r"overflows float32: bin\(spatial=2, energy=1\)"):
        big.bin(spatial=2)
    huge = np.ones((2, 2, 4))
    huge[1, 1, 1] = 1e39
    with pytest.raises(ValueError, match=r"data holds 1 finite value\(s\) beyond the float32 "
                                         r"range \(\+-3.4e\+38\); rescale it"):
        ew.SpectrumImage(huge, np.arange(4.0))


def test_native_readers_accept_the_budget_directly(tmp_path):
    small_si().save(tmp_path / "a.npz")
    small_si().save(tmp_path / "a.h5")
    with pytest.raises(ValueError, match=r"'__header__' claims shape \(\) of dtype <U.*"
                                         + BUDGET_MATCH):
        native.read_npz(tmp_path / "a.npz", max_bytes=100)
    with pytest.raises(ValueError, match=r"a.h5: the JSON header has \d+ bytes; JSON may take "
                                         r"1/32 of the memory budget.*max_bytes="):
        native.read_h5(tmp_path / "a.h5", max_bytes=100)
