"""File I/O: own format round trips, microscope files through rosettasciio, HyperSpy interop,
atomic writes and bad input."""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import pickle
import struct
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets import SpectrumImage
from eelswidgets.io import FORMAT_NAME, FORMAT_VERSION, atomic_path, atomic_write, native
from eelswidgets.io._codec import to_jsonable

# HyperSpy's own import-time deprecation notices are not about this package
pytestmark = pytest.mark.filterwarnings("ignore:Importing `Lazy")

# ------------------------------------------------------------------------------ helpers


def make_si(*, nonuniform: bool = True, haadf: bool = True) -> SpectrumImage:
    """A small SI with every field set, including awkward metadata and truth values."""
    rng = np.random.default_rng(0)
    ny, nx, ne = 4, 5, 7
    data = rng.random((ny, nx, ne)).astype(np.float32)
    valid = np.ones((ny, nx), bool)
    valid[0, 0] = False
    data[0, 0] = np.nan
    if nonuniform:
        energy = 100.0 + np.cumsum(rng.uniform(0.5, 1.5, ne))
    else:
        energy = 100.0 + 0.25 * np.arange(ne)
    metadata = {
        "instrument": {"beam_energy_kV": 200, "name": "UltraSTEM", "cs": [0.1, -2.5e-7]},
        "processing": ["crop_energy(0.1, 5)"],
        "flags": {"dark": True, "gain": None},
        "text": "Å µm ± 日本",
    }
    truth = {
        "maps": rng.random((3, ny, nx)),
        "spectra": rng.random((3, ne)).astype(np.float32),
        "labels": np.array(["wire", "gap", "edge"]),
        "raw_labels": np.array([b"ab", b"c"]),
        "mask": rng.random((ny, nx)) > 0.5,
        "counts": np.arange(6, dtype=np.uint16).reshape(2, 3),
        "big_endian": np.arange(3, dtype=">f8"),
        "complex": np.array([1 + 2j], np.complex64),
        "half": np.array([0.5, 1.5], np.float16),
        "zero_d": np.array(3.5),
        "empty": np.zeros((0, 3)),
        "np_float": np.float32(0.125),
        "np_int": np.int64(-7),
        "np_bool": np.bool_(True),
        "py": {"int": 3, "float": 0.1, "str": "x", "none": None, "bool": False, "big": 2**70},
        "list": [1, 2.5, "a", np.arange(2), [np.float64(1.5)]],
        "tuple": (1, "b", np.arange(3, dtype=np.int8)),
        "int_keys": {0: "zero", 1: np.arange(2)},
        "__ew_array__": "a user key that looks like a tag",
    }
    return SpectrumImage(data, energy, rng.random((ny, nx)) if haadf else None,
                         pixel_size=0.37, pixel_unit="Å", metadata=metadata, truth=truth,
                         valid=valid, name="wires ±")


def assert_same_tree(a, b, where="root"):
    """Exact equality including types and dtypes."""
    assert type(a) is type(b), f"{where}: {type(a)} != {type(b)}"
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same_tree(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_tree(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"), where
    elif isinstance(a, np.generic):
        assert a.dtype == b.dtype and a == b, where
    else:
        assert a == b, where


def assert_same_si(a: SpectrumImage, b: SpectrumImage):
    assert a == b  # data (NaN-aware), energy, haadf, valid, pixel size/unit, name
    assert b.data.dtype == np.float32 and b.energy.dtype == np.float64
    assert b.valid.dtype == bool
    assert (a.haadf is None) == (b.haadf is None)
    if a.haadf is not None:
        assert b.haadf.dtype == np.float32
    assert_same_tree(a.metadata, b.metadata, "metadata")
    assert_same_tree(a.truth, b.truth, "truth")


def snapshot(directory: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir()) if p.is_file()}


# A minimal Gatan Digital Micrograph writer (DM3 = version 3, DM4 = version 4), following the
# published tag-file layout, so that the DM reader is tested on genuine DM3/DM4 bytes.
_DM_TYPES = {np.dtype("<f4"): (6, 2), np.dtype("<f8"): (7, 12), np.dtype("<i4"): (3, 7)}


def dm_file_bytes(version: int, root: dict) -> bytes:
    count = ">Q" if version == 4 else ">L"

    def data_tag(value) -> bytes:
        if isinstance(value, str):
            codes = np.array([ord(c) for c in value], "<u2")
            info, payload = [20, 4, codes.size], codes.tobytes()
        elif isinstance(value, np.ndarray):
            arr = np.ascontiguousarray(value).ravel()
            info, payload = [20, _DM_TYPES[arr.dtype][0], arr.size], arr.tobytes()
        elif isinstance(value, float):
            info, payload = [7], struct.pack("<d", value)
        else:
            info, payload = [3], struct.pack("<l", int(value))
        head = b"%%%%" + struct.pack(count, len(info))
        return head + b"".join(struct.pack(count, i) for i in info) + payload

    def group_body(entries) -> bytes:
        out = b"\x00\x01" + struct.pack(count, len(entries))
        for name, value in entries:
            label = name.encode("latin-1")
            if isinstance(value, (dict, list)):
                items = list(value.items()) if isinstance(value, dict) else [("", v)
                                                                            for v in value]
                tag_id, body = 20, group_body(items)
            else:
                tag_id, body = 21, data_tag(value)
            out += struct.pack(">bH", tag_id, len(label)) + label
            if version == 4:
                out += struct.pack(">Q", len(body))
            out += body
        return out

    body = group_body(list(root.items()))
    size = struct.pack(">Q", len(body)) if version == 4 else struct.pack(">L", len(body) + 4)
    return struct.pack(">L", version) + size + struct.pack(">L", 1) + body + b"\x00" * 8


def dm_image(array_dm_order: np.ndarray, calibrations, *, name: str, tags=None) -> dict:
    """One ImageList entry; ``calibrations`` = [(origin, scale, units)] in DM order (x first)."""
    code = _DM_TYPES[array_dm_order.dtype][1]
    dims = [{"Origin": float(o), "Scale": float(s), "Units": u} for o, s, u in calibrations]
    return {"ImageData": {"Calibrations": {"Brightness": {"Origin": 0.0, "Scale": 1.0,
                                                         "Units": "e-"},
                                          "Dimension": dims},
                          "Data": array_dm_order, "DataType": code,
                          "Dimensions": [int(n) for n in array_dm_order.shape[::-1]],
                          "PixelDepth": array_dm_order.dtype.itemsize},
            "ImageTags": tags or {}, "Name": name}


EELS_TAGS = {"Meta Data": {"Format": "Spectrum image", "Signal": "EELS"}}


def find_exspy_files() -> list[Path]:
    """The .hspy files shipped inside the installed exspy package (found without importing it)."""
    spec = importlib.util.find_spec("exspy")
    assert spec is not None and spec.submodule_search_locations, "exspy is not installed"
    root = Path(next(iter(spec.submodule_search_locations)))
    return sorted(root.rglob("*.hspy"))


def hspy_signal_type(path: Path) -> str:
    with h5py.File(path, "r") as f:
        (exp,) = f["Experiments"].values()
        return str(exp["metadata/Signal"].attrs.get("signal_type", ""))


EXSPY_EELS = [p for p in find_exspy_files() if hspy_signal_type(p) == "EELS"]


@pytest.fixture(scope="module")
def exspy():
    import exspy as module

    return module


@pytest.fixture(scope="module")
def hs():
    import hyperspy.api as module

    return module


def eels_signal(exspy, data, *, x=(0.0, 0.5, "nm"), y=(0.0, 0.5, "nm"),
                energy=(0.2, 0.1, "keV"), title="SI"):
    """An exspy EELSSpectrum with calibrated axes given in array order (y, x, E)."""
    axes = []
    for name, (offset, scale, units), nav in (("y", y, True), ("x", x, True),
                                              ("Energy loss", energy, False)):
        axes.append({"name": name, "offset": offset, "scale": scale, "units": units,
                     "navigate": nav})
    axes = axes[3 - data.ndim:]
    for ax, n in zip(axes, data.shape, strict=True):
        ax["size"] = n
    s = exspy.signals.EELSSpectrum(data, axes=axes)
    s.metadata.General.title = title
    return s


# ------------------------------------------------------------------------------ own format


@pytest.mark.parametrize("ext", [".npz", ".h5", ".zarr"])
def test_roundtrip_is_exact(tmp_path, ext):
    si = make_si()
    path = tmp_path / f"si{ext}"
    ew.save(si, path)
    back = ew.load(path)
    assert_same_si(si, back)
    if ext != ".npz":
        assert_same_si(si, ew.load(path, lazy=True).compute())
    assert np.isnan(back.data[0, 0]).all() and not back.valid[0, 0]


@pytest.mark.parametrize("ext", [".npz", ".h5", ".hdf5", ".zarr"])
def test_method_save_uniform_axis_without_haadf(tmp_path, ext):
    si = make_si(nonuniform=False, haadf=False).replace(metadata={}, truth={})
    path = tmp_path / f"plain{ext}"
    si.save(path)
    back = ew.load(str(path))
    assert_same_si(si, back)
    assert back.haadf is None and back.truth == {} and back.metadata == {}


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_compressed_roundtrip(tmp_path, ext):
    si = SpectrumImage(np.zeros((16, 16, 64)), np.arange(64.0), np.ones((16, 16)),
                       truth={"maps": np.zeros((3, 16, 16)), "small": np.arange(3)})
    ew.save(si, tmp_path / f"raw{ext}")
    ew.save(si, tmp_path / f"small{ext}", compress=True)
    assert (tmp_path / f"small{ext}").stat().st_size < (tmp_path / f"raw{ext}").stat().st_size
    assert_same_si(si, ew.load(tmp_path / f"small{ext}"))


def test_non_finite_floats_in_trees_roundtrip(tmp_path):
    si = make_si().replace(metadata={"nan": float("nan"), "inf": -float("inf")},
                           truth={"values": [float("nan"), float("inf")]})
    for ext in (".npz", ".h5", ".zarr"):
        back = ew.load(ew.save(si, tmp_path / f"nan{ext}") or tmp_path / f"nan{ext}")
        assert np.isnan(back.metadata["nan"]) and back.metadata["inf"] == -np.inf
        assert np.isnan(back.truth["values"][0]) and back.truth["values"][1] == np.inf


def test_file_records_format_name_and_version(tmp_path):
    si = make_si()
    si.save(tmp_path / "a.npz")
    si.save(tmp_path / "a.h5")
    with np.load(tmp_path / "a.npz", allow_pickle=False) as z:
        header = json.loads(str(z["__header__"][()]))
    assert header["format"] == FORMAT_NAME == "eelswidgets.SpectrumImage"
    assert header["version"] == FORMAT_VERSION == 1
    with h5py.File(tmp_path / "a.h5", "r") as f:
        assert f.attrs["format"] == FORMAT_NAME
        assert f.attrs["format_version"] == FORMAT_VERSION
        assert json.loads(f.attrs["header"])["version"] == FORMAT_VERSION


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_save_and_load_do_not_mutate(tmp_path, ext):
    si = make_si()
    truth_before = copy.deepcopy(si.truth)
    meta_before = copy.deepcopy(si.metadata)
    maps = si.truth["maps"]
    path = tmp_path / f"a{ext}"
    si.save(path)
    assert si.truth["maps"] is maps
    assert_same_tree(truth_before, si.truth)
    assert_same_tree(meta_before, si.metadata)
    before, mtime = path.read_bytes(), path.stat().st_mtime_ns
    first = ew.load(path)
    second = ew.load(path)
    assert path.read_bytes() == before and path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"a{ext}"]
    first.truth["maps"][0, 0, 0] = -1.0  # loaded objects are independent of each other
    assert second.truth["maps"][0, 0, 0] != -1.0
    assert not first.data.flags.writeable


def test_failed_npz_save_keeps_previous_file(tmp_path, monkeypatch):
    old = make_si(nonuniform=False)
    path = tmp_path / "keep.npz"
    old.save(path)
    before = snapshot(tmp_path)

    def broken_savez(fh, **arrays):
        fh.write(b"PK\x03\x04 partial archive")
        raise RuntimeError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(RuntimeError, match="disk full"):
        make_si().save(path)
    with pytest.raises(RuntimeError):
        make_si().save(tmp_path / "new.npz")
    assert snapshot(tmp_path) == before  # old bytes intact, no temp file, no new file
    monkeypatch.undo()
    assert_same_si(old, ew.load(path))


def test_failed_h5_save_keeps_previous_file(tmp_path, monkeypatch):
    old = make_si(nonuniform=False)
    path = tmp_path / "keep.h5"
    old.save(path)
    before = snapshot(tmp_path)
    real_put = native._h5_put
    calls = []

    def put_then_fail(group, key, arr, *args):
        calls.append(key)
        if len(calls) > 2:
            raise KeyboardInterrupt  # even an interrupt mid-write leaves the old file
        real_put(group, key, arr, *args)

    monkeypatch.setattr(native, "_h5_put", put_then_fail)
    with pytest.raises(KeyboardInterrupt):
        make_si().save(path)
    assert len(calls) == 3
    assert snapshot(tmp_path) == before
    monkeypatch.undo()
    assert_same_si(old, ew.load(path))


def test_atomic_write_replaces_or_keeps(tmp_path):
    target = tmp_path / "model.json"
    with atomic_write(target, "w") as fh:
        fh.write("first ±")
    assert target.read_text(encoding="utf-8") == "first ±"
    with pytest.raises(ZeroDivisionError), atomic_write(target, "w") as fh:
        fh.write("second")
        fh.flush()
        _ = 1 / 0
    assert target.read_text(encoding="utf-8") == "first ±"
    assert [p.name for p in tmp_path.iterdir()] == ["model.json"]
    with atomic_write(target) as fh:  # binary by default
        fh.write(b"\x00\x01")
    assert target.read_bytes() == b"\x00\x01"


def test_atomic_path_same_dir_and_suffix(tmp_path):
    target = tmp_path / "weights.safetensors"
    with atomic_path(target) as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".safetensors" and tmp != target
        assert tmp.exists() and not target.exists()
        tmp.write_bytes(b"abc")
    assert target.read_bytes() == b"abc" and not tmp.exists()


def test_atomic_write_keeps_permissions(tmp_path):
    target = tmp_path / "secret.bin"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"
    assert (target.stat().st_mode & 0o777) == 0o600
    fresh = tmp_path / "fresh.bin"
    umask = os.umask(0)
    os.umask(umask)
    with atomic_write(fresh) as fh:
        fh.write(b"x")
    assert (fresh.stat().st_mode & 0o777) == (0o666 & ~umask)


def test_atomic_write_follows_symlink(tmp_path):
    real = tmp_path / "real.npz"
    link = tmp_path / "link.npz"
    make_si().save(real)
    link.symlink_to(real)
    make_si(nonuniform=False).save(link)
    assert link.is_symlink()
    assert ew.load(real).energy[1] - ew.load(real).energy[0] == 0.25


def test_atomic_write_bad_arguments(tmp_path):
    (tmp_path / "exists.bin").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="overwrite=True"), \
            atomic_write(tmp_path / "exists.bin", overwrite=False):
        pass
    with pytest.raises(IsADirectoryError), atomic_write(tmp_path):
        pass
    with pytest.raises(ValueError, match="unknown mode"), atomic_write(tmp_path / "a", "a"):
        pass
    with pytest.raises(ValueError, match="text modes"), \
            atomic_write(tmp_path / "a", "wb", encoding="utf-8"):
        pass
    with pytest.raises(FileNotFoundError, match="does not exist"), \
            atomic_write(tmp_path / "missing" / "a.bin"):
        pass
    assert [p.name for p in tmp_path.iterdir()] == ["exists.bin"]


# ------------------------------------------------------------------------------ bad input: save


def test_save_refuses_a_directory(tmp_path):
    folder = tmp_path / "results.npz"
    folder.mkdir()
    (folder / "inside.txt").write_text("keep me")
    with pytest.raises(IsADirectoryError, match="directory"):
        make_si().save(folder)
    assert (folder / "inside.txt").read_text() == "keep me"


def test_save_bad_arguments(tmp_path):
    si = make_si()
    with pytest.raises(TypeError, match="SpectrumImage"):
        ew.save(np.zeros((2, 2, 2)), tmp_path / "a.npz")
    with pytest.raises(TypeError, match="path"):
        ew.save(si, 42)
    with pytest.raises(ValueError, match=r"unknown file extension \.txt; supported: \.npz"):
        ew.save(si, tmp_path / "a.txt")
    with pytest.raises(ValueError, match=r"to_hyperspy\(\)\.save"):
        ew.save(si, tmp_path / "a.dm4")
    with pytest.raises(FileNotFoundError, match="create it first"):
        ew.save(si, tmp_path / "no" / "such" / "a.npz")
    si.save(tmp_path / "a.npz")
    with pytest.raises(FileExistsError):
        ew.save(si, tmp_path / "a.npz", overwrite=False)
    for bad, name in (({"bad": {1, 2}}, "truth['bad']"),
                      ({"obj": np.array([object()], dtype=object)}, "truth['obj']"),
                      ({"deep": [1, {"f": len}]}, "truth['deep'][1]['f']"),
                      ({"masked": np.ma.masked_array([1, 2], [0, 1])}, "truth['masked']")):
        with pytest.raises(TypeError, match=name.replace("[", r"\[")):
            ew.save(si.replace(truth=bad), tmp_path / "b.npz")
    assert not (tmp_path / "b.npz").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.npz"]


# ------------------------------------------------------------------------------ bad input: load


def test_load_missing_file_and_directory(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"nope.npz"):
        ew.load(tmp_path / "nope.npz")
    with pytest.raises(FileNotFoundError):
        ew.load(tmp_path / "nope.dm4")
    (tmp_path / "dir.h5").mkdir()
    with pytest.raises(IsADirectoryError):
        ew.load(tmp_path / "dir.h5")
    with pytest.raises(TypeError, match="path"):
        ew.load(None)


def test_load_unknown_extension_names_supported(tmp_path):
    path = tmp_path / "spectra.csv"
    path.write_text("1,2,3\n")
    with pytest.raises(ValueError, match=r"\.csv.*supported: .*\.npz.*\.h5.*\.hspy.*\.dm3.*"
                                         r"\.dm4.*\.emd.*\.msa"):
        ew.load(path)
    with pytest.raises(TypeError, match="signal= and haadf="):
        make_si().save(tmp_path / "a.npz")
        ew.load(tmp_path / "a.npz", signal=0)


@pytest.mark.parametrize("ext", [".npz", ".h5", ".hspy", ".dm3", ".dm4", ".emd", ".msa"])
def test_load_garbage_file(tmp_path, ext):
    path = tmp_path / f"garbage{ext}"
    path.write_bytes(np.random.default_rng(1).bytes(3000))
    with pytest.raises(ValueError, match=r"cannot read|refusing|no spectrum image|not an"):
        ew.load(path)


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_load_truncated_own_file(tmp_path, ext):
    path = tmp_path / f"cut{ext}"
    make_si().save(path)
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(ValueError, match="truncated or corrupt"):
        ew.load(path)


def test_load_truncated_microscope_files(tmp_path, exspy):
    s = eels_signal(exspy, np.ones((3, 4, 50), np.float32))
    s.save(tmp_path / "cut.hspy")
    (tmp_path / "cut.dm4").write_bytes(dm_file_bytes(4, {"ImageList": [dm_image(
        np.ones((50, 3, 4), "<f4"), [(0, 1, "nm"), (0, 1, "nm"), (0, 0.1, "eV")], name="SI",
        tags=EELS_TAGS)]}))
    for name in ("cut.hspy", "cut.dm4"):
        path = tmp_path / name
        raw = path.read_bytes()
        path.write_bytes(raw[: len(raw) // 2])
        with pytest.raises(ValueError, match="truncated or corrupt"):
            ew.load(path)


@pytest.mark.parametrize("ext", [".npz", ".h5"])
def test_load_newer_format_version(tmp_path, ext):
    path = tmp_path / f"future{ext}"
    make_si().save(path)
    if ext == ".npz":
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        header = json.loads(str(arrays["__header__"][()]))
        header["version"] = 99
        arrays["__header__"] = np.array(json.dumps(header))
        np.savez(path, **arrays)
    else:
        with h5py.File(path, "r+") as f:
            header = json.loads(f.attrs["header"])
            header["version"] = 99
            f.attrs["header"] = json.dumps(header)
            f.attrs["format_version"] = 99
    with pytest.raises(ValueError, match=r"version 99.*reads up to version 1.*upgrade"):
        ew.load(path)


def test_load_foreign_npz_and_h5(tmp_path):
    np.savez(tmp_path / "plain.npz", data=np.zeros((2, 2, 3)), energy=np.arange(3.0))
    with pytest.raises(ValueError, match="not an eelswidgets file"):
        ew.load(tmp_path / "plain.npz")
    np.save(tmp_path / "single.npy", np.zeros(3))
    os.replace(tmp_path / "single.npy", tmp_path / "single.npz")
    with pytest.raises(ValueError, match=r"single .npy array"):
        ew.load(tmp_path / "single.npz")
    with h5py.File(tmp_path / "other.h5", "w") as f:
        f["data"] = np.zeros((2, 2, 3))
    with pytest.raises(ValueError, match=r"not an eelswidgets file.*hspy"):
        ew.load(tmp_path / "other.h5")


class _Payload:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_pickled_npz_is_refused_without_running_code(tmp_path):
    marker = tmp_path / "PWNED"
    good = tmp_path / "good.npz"
    make_si().save(good)
    with np.load(good, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["data"] = np.array([_Payload(marker)], dtype=object)
    np.savez(tmp_path / "evil.npz", **arrays)  # numpy pickles object arrays when saving
    with pytest.raises(ValueError, match="pickle"):
        ew.load(tmp_path / "evil.npz")
    arrays["data"] = np.zeros((4, 5, 7), np.float32)
    arrays["__header__"] = np.array([_Payload(marker)], dtype=object)
    np.savez(tmp_path / "evil_header.npz", **arrays)
    with pytest.raises(ValueError, match="pickle"):
        ew.load(tmp_path / "evil_header.npz")
    (tmp_path / "raw.npz").write_bytes(pickle.dumps(_Payload(marker)))
    with pytest.raises(ValueError, match="pickle"):
        ew.load(tmp_path / "raw.npz")
    assert not marker.exists()


def test_missing_optional_packages_name_the_extra(tmp_path, monkeypatch):
    (tmp_path / "a.hspy").write_bytes(b"x")
    make_si().save(tmp_path / "a.h5")
    si = make_si()
    for module in ("rsciio", "rsciio.hspy", "h5py", "exspy", "exspy.signals"):
        monkeypatch.setitem(sys.modules, module, None)
    extra = r'pip install "eelswidgets\[io\]"'
    with pytest.raises(ImportError, match=f"rosettasciio.*{extra}"):
        ew.load(tmp_path / "a.hspy")
    with pytest.raises(ImportError, match=f"h5py.*{extra}"):
        ew.load(tmp_path / "a.h5")
    with pytest.raises(ImportError, match=f"exspy.*{extra}"):
        si.to_hyperspy()
    si.save(tmp_path / "still_fine.npz")  # .npz needs numpy only
    monkeypatch.undo()
    assert_same_si(si, ew.load(tmp_path / "still_fine.npz"))


# ------------------------------------------------------------------------------ microscope files


def test_hspy_spectrum_image_written_by_exspy(tmp_path, exspy):
    cube = np.random.default_rng(2).random((3, 4, 6)).astype(np.float32)
    s = eels_signal(exspy, cube, x=(0.0, 0.002, "µm"), y=(0.0, 0.002, "µm"),
                    energy=(0.2, 0.1, "keV"), title="wire map")
    s.metadata.set_item("Acquisition_instrument.TEM.beam_energy", 60.0)
    path = tmp_path / "map.hspy"
    s.save(path)
    snapshot_before = path.read_bytes()
    si = ew.load(path)
    assert path.read_bytes() == snapshot_before
    assert si.shape == (3, 4, 6) and np.array_equal(si.data, cube)
    np.testing.assert_allclose(si.energy, 1000 * (0.2 + 0.1 * np.arange(6)), rtol=1e-12)
    assert si.pixel_unit == "nm" and si.pixel_size == pytest.approx(2.0, rel=1e-12)
    assert si.name == "wire map" and si.haadf is None and si.valid.all()
    assert si.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == 60.0
    assert si.metadata["source"]["file"] == "map.hspy"
    json.dumps(si.metadata)  # JSON-able, so it can be saved again
    si.save(tmp_path / "again.npz")
    assert ew.load(tmp_path / "again.npz") == si


def test_hspy_non_uniform_energy_axis(tmp_path, exspy):
    energy = np.array([0.5, 0.6, 0.8, 1.1, 1.5, 2.0])
    cube = np.arange(2 * 3 * 6, dtype=np.float32).reshape(2, 3, 6)
    s = exspy.signals.EELSSpectrum(cube, axes=[
        {"name": "y", "size": 2, "scale": 1.5, "offset": 0.0, "units": "nm", "navigate": True},
        {"name": "x", "size": 3, "scale": 1.5, "offset": 0.0, "units": "nm", "navigate": True},
        {"name": "E", "axis": energy, "units": "eV", "navigate": False}])
    assert not s.axes_manager.signal_axes[0].is_uniform
    s.save(tmp_path / "nonuniform.hspy")
    si = ew.load(tmp_path / "nonuniform.hspy")
    assert np.array_equal(si.energy, energy) and np.array_equal(si.data, cube)
    assert si.pixel_size == 1.5


def test_exspy_ships_eels_test_files():
    assert len(EXSPY_EELS) >= 2, [p.name for p in find_exspy_files()]


@pytest.mark.parametrize("path", EXSPY_EELS, ids=lambda p: p.name)
def test_read_eels_files_shipped_by_exspy(path):
    with h5py.File(path, "r") as f:  # what the file says, read independently of rosettasciio
        (exp,) = f["Experiments"].values()
        data = exp["data"][()]
        axes = [dict(exp[f"axis-{i}"].attrs) for i in range(data.ndim)]
    e_attrs = next(a for a in axes if not a["navigate"])
    assert e_attrs["units"] == "eV"
    expected_energy = e_attrs["offset"] + e_attrs["scale"] * np.arange(int(e_attrs["size"]))
    si = ew.load(path)
    nav = [int(a["size"]) for a in axes if a["navigate"]]
    assert si.shape == (1, nav[0] if nav else 1, data.shape[-1])
    assert np.array_equal(si.energy, expected_energy)
    assert np.array_equal(si.data.reshape(data.shape), data.astype(np.float32))
    assert si.metadata["Signal"]["signal_type"] == "EELS"
    if nav:  # an uncalibrated line scan: pixel units
        assert (si.pixel_size, si.pixel_unit) == (1.0, "px")


def test_read_kev_spectrum_shipped_by_exspy():
    path = next(p for p in find_exspy_files() if p.name == "EDS_TEM_FePt_nanoparticles.hspy")
    with h5py.File(path, "r") as f:
        (exp,) = f["Experiments"].values()
        attrs = dict(exp["axis-0"].attrs)
        data = exp["data"][()]
    assert attrs["units"] == "keV"
    si = ew.load(path)
    assert si.shape == (1, 1, data.size)
    np.testing.assert_allclose(
        si.energy, 1000 * (attrs["offset"] + attrs["scale"] * np.arange(data.size)), rtol=1e-12)
    assert np.array_equal(si.data.ravel(), data.astype(np.float32))


def test_emd_with_spectrum_image_and_haadf(tmp_path, exspy, hs):
    rng = np.random.default_rng(3)
    cube = rng.random((5, 6, 8)).astype(np.float32)
    image = rng.random((5, 6)).astype(np.float32)
    eels_signal(exspy, cube, energy=(1.0, 0.05, "eV"), title="SI").save(tmp_path / "si.emd")
    adf = hs.signals.Signal2D(image)
    adf.metadata.General.title = "ADF"  # sorts before "SI" in the file
    for ax in adf.axes_manager.signal_axes:
        ax.scale, ax.units = 0.5, "nm"
    adf.save(tmp_path / "adf.emd")
    path = tmp_path / "both.emd"
    os.replace(tmp_path / "si.emd", path)
    with h5py.File(path, "r+") as f, h5py.File(tmp_path / "adf.emd", "r") as g:
        g.copy(g["signals/ADF"], f["signals"], "ADF")
        dims = {f["signals/SI"][k].attrs["name"]: f["signals/SI"][k][()]
                for k in ("dim1", "dim2", "dim3")}
    e = dims["Energy loss"]
    si = ew.load(path)
    assert si.shape == (5, 6, 8) and np.array_equal(si.data, cube)
    np.testing.assert_allclose(si.energy, e[0] + (e[1] - e[0]) * np.arange(8), rtol=1e-12)
    assert si.pixel_size == dims["x"][1] - dims["x"][0] and si.pixel_unit == "nm"
    assert np.array_equal(si.haadf, image)
    source = si.metadata["source"]
    assert (source["n_signals"], source["signal"], source["haadf_signal"]) == (2, 1, 0)
    assert ew.load(path, haadf=False).haadf is None
    assert np.array_equal(ew.load(path, signal=1, haadf=0).haadf, image)
    with pytest.raises(ValueError, match=r"signal 0 of both.emd is not a spectrum image"):
        ew.load(path, signal=0)
    with pytest.raises(ValueError, match="cannot be the HAADF image"):
        ew.load(path, haadf=1)
    with pytest.raises(ValueError, match="signal must be <= 1"):
        ew.load(path, signal=5)


def test_msa_single_spectrum(tmp_path, exspy):
    spectrum = np.random.default_rng(4).random(40).astype(np.float32)
    s = eels_signal(exspy, spectrum, energy=(0.1, 0.002, "keV"), title="one")
    s.save(tmp_path / "one.msa")
    text = (tmp_path / "one.msa").read_text()
    assert "#XUNITS      : keV" in text and "#OFFSET      : 0.1" in text
    si = ew.load(tmp_path / "one.msa")
    assert si.shape == (1, 1, 40)
    np.testing.assert_allclose(si.energy, 1000 * (0.1 + 0.002 * np.arange(40)), rtol=1e-12)
    np.testing.assert_allclose(si.data[0, 0], spectrum, atol=1e-6)  # text file: 6 decimals


@pytest.mark.parametrize("version", [3, 4])
def test_digital_micrograph_spectrum_image(tmp_path, version):
    rng = np.random.default_rng(version)
    ny, nx, ne = 3, 4, 10
    cube = rng.random((ny, nx, ne)).astype(np.float32)
    image = rng.random((ny, nx)).astype(np.float32)
    origin, scale = -1200.0, 0.25  # DM origin is in channels: E = (i - origin) * scale
    si_entry = dm_image(cube.transpose(2, 0, 1).copy(),  # DM stores x fastest, then y, then E
                        [(0.0, 0.002, "µm"), (0.0, 0.002, "µm"), (origin, scale, "eV")],
                        name="EELS Spectrum Image", tags=EELS_TAGS)
    adf_entry = dm_image(image, [(0.0, 0.002, "µm"), (0.0, 0.002, "µm")], name="ADF Image")
    path = tmp_path / f"si.dm{version}"
    path.write_bytes(dm_file_bytes(version, {"ImageList": [adf_entry, si_entry]}))
    si = ew.load(path)
    assert si.shape == (ny, nx, ne)
    assert np.array_equal(si.data, cube)  # orientation: row y, column x, energy last
    assert np.array_equal(si.energy, -origin * scale + scale * np.arange(ne))
    assert si.energy[0] == 300.0
    assert si.pixel_unit == "nm" and si.pixel_size == pytest.approx(2.0, rel=1e-12)
    assert np.array_equal(si.haadf, image)
    assert si.name == "EELS Spectrum Image"
    assert si.metadata["Signal"]["signal_type"] == "EELS"
    assert si.metadata["source"]["haadf_signal"] == 0
    with pytest.raises(ValueError, match="not a spectrum image: it has 2 signal dimensions"):
        ew.load(path, signal=0)


def test_digital_micrograph_picks_the_cube_over_a_spectrum(tmp_path):
    cube = np.arange(2 * 3 * 5, dtype=np.float32).reshape(2, 3, 5)
    spectrum = dm_image(cube.sum(axis=(0, 1)), [(0.0, 1.0, "eV")], name="Sum",
                        tags={"Meta Data": {"Signal": "EELS"}})
    si_entry = dm_image(cube.transpose(2, 0, 1).copy(),
                        [(0.0, 1.0, "nm"), (0.0, 1.0, "nm"), (0.0, 1.0, "eV")], name="SI",
                        tags=EELS_TAGS)
    path = tmp_path / "two.dm3"
    path.write_bytes(dm_file_bytes(3, {"ImageList": [spectrum, si_entry]}))
    assert ew.load(path).shape == (2, 3, 5)
    single = ew.load(path, signal=0)
    assert single.shape == (1, 1, 5) and np.array_equal(single.data[0, 0], cube.sum(axis=(0, 1)))


def test_file_without_spectrum_image_is_refused(tmp_path, hs):
    path = tmp_path / "image.dm4"
    path.write_bytes(dm_file_bytes(4, {"ImageList": [dm_image(
        np.zeros((8, 9), "<f4"), [(0.0, 1.0, "nm"), (0.0, 1.0, "nm")], name="HAADF")]}))
    with pytest.raises(ValueError, match=r"holds no spectrum image.*2 signal dimensions"):
        ew.load(path)
    hs.signals.Signal2D(np.zeros((8, 9))).save(tmp_path / "image.hspy")
    with pytest.raises(ValueError, match="holds no spectrum image"):
        ew.load(tmp_path / "image.hspy")
    s = hs.signals.Signal1D(np.zeros((2, 2, 2, 5)))
    s.axes_manager.signal_axes[0].units = "eV"
    s.save(tmp_path / "4d.hspy")
    with pytest.raises(ValueError, match="3 navigation dimensions"):
        ew.load(tmp_path / "4d.hspy")


# ------------------------------------------------------------------------------ HyperSpy interop


def test_to_hyperspy_has_calibrated_axes(exspy):
    si = make_si(nonuniform=False)
    s = si.to_hyperspy()
    assert isinstance(s, exspy.signals.EELSSpectrum)
    assert s.data.shape == (4, 5, 7) and np.array_equal(s.data, si.data, equal_nan=True)
    x, y = s.axes_manager.navigation_axes
    assert (x.name, x.size, x.scale, x.units) == ("x", 5, 0.37, "Å")
    assert (y.name, y.size, y.scale, y.units) == ("y", 4, 0.37, "Å")
    (e,) = s.axes_manager.signal_axes
    assert e.is_uniform and e.units == "eV" and e.offset == 100.0 and e.scale == 0.25
    assert s.metadata.General.title == "wires ±"
    assert s.metadata.Signal.signal_type == "EELS"
    s.data[1, 1, 1] = -5.0  # the signal owns its data
    assert si.data[1, 1, 1] != -5.0


@pytest.mark.parametrize("nonuniform", [False, True])
def test_hyperspy_round_trip(nonuniform):
    si = make_si(nonuniform=nonuniform).replace(truth={})
    s = si.to_hyperspy()
    assert s.axes_manager.signal_axes[0].is_uniform is (not nonuniform)
    back = ew.from_hyperspy(s)
    assert np.array_equal(back.data, si.data, equal_nan=True)
    assert np.array_equal(back.valid, si.valid) and np.array_equal(back.haadf, si.haadf)
    np.testing.assert_allclose(back.energy, si.energy, rtol=1e-12, atol=0)
    if nonuniform:
        assert np.array_equal(back.energy, si.energy)
    assert (back.pixel_size, back.pixel_unit, back.name) == (0.37, "Å", "wires ±")
    assert back.metadata == to_jsonable(si.metadata)


def test_hspy_written_by_to_hyperspy_keeps_haadf(tmp_path):
    si = make_si(nonuniform=False).replace(truth={})
    si.to_hyperspy().save(tmp_path / "export.hspy")
    back = ew.load(tmp_path / "export.hspy")
    assert np.array_equal(back.data, si.data, equal_nan=True)
    assert np.array_equal(back.haadf, si.haadf)
    assert back.metadata["instrument"] == si.metadata["instrument"]
    assert ew.load(tmp_path / "export.hspy", haadf=False).haadf is None


def test_from_hyperspy_lazy_signal_stays_lazy():
    si = make_si(nonuniform=False)
    lazy = si.to_hyperspy().as_lazy()
    back = ew.from_hyperspy(lazy)
    assert lazy._lazy and type(lazy.data).__module__.startswith("dask")
    assert back.is_lazy
    assert np.array_equal(back.compute().data, si.data, equal_nan=True)


def test_from_hyperspy_plain_signal1d_with_haadf(hs):
    cube = np.arange(3 * 2 * 4, dtype=np.float64).reshape(3, 2, 4)
    s = hs.signals.Signal1D(cube)
    x, y = s.axes_manager.navigation_axes
    x.scale, x.units, y.scale, y.units = 2.0, "nm", 2.0, "nm"
    e = s.axes_manager.signal_axes[0]
    e.offset, e.scale, e.units = 5.0, 0.5, "eV"
    haadf = hs.signals.Signal2D(np.ones((3, 2)))
    si = ew.from_hyperspy(s, haadf=haadf)
    assert si.shape == (3, 2, 4) and np.array_equal(si.data, cube.astype(np.float32))
    assert np.array_equal(si.energy, 5.0 + 0.5 * np.arange(4))
    assert (si.pixel_size, si.pixel_unit) == (2.0, "nm") and si.haadf.shape == (3, 2)
    assert np.array_equal(s.data, np.arange(24.0).reshape(3, 2, 4))  # input untouched
    e.units = ""
    with pytest.warns(UserWarning, match="no units; assuming eV") as record:
        assert ew.from_hyperspy(s).shape == (3, 2, 4)
    assert record[0].filename == __file__  # the warning points at the caller


def test_from_hyperspy_bad_input(hs):
    with pytest.raises(TypeError, match="HyperSpy signal"):
        ew.from_hyperspy(np.zeros((2, 2, 3)))
    with pytest.raises(ValueError, match="2 signal dimension"):
        ew.from_hyperspy(hs.signals.Signal2D(np.zeros((4, 4))))
    s = hs.signals.Signal1D(np.zeros((2, 2, 2, 5)))
    s.axes_manager.signal_axes[0].units = "eV"
    with pytest.raises(ValueError, match="3 navigation dimensions"):
        ew.from_hyperspy(s)
    s = hs.signals.Signal1D(np.zeros((2, 2, 5)))
    s.axes_manager.signal_axes[0].units = "nm"
    with pytest.raises(ValueError, match="units 'nm', not an energy"):
        ew.from_hyperspy(s)
    with pytest.raises(TypeError, match="SpectrumImage"):
        ew.io.to_hyperspy(np.zeros((2, 2, 2)))


# ------------------------------------------------------------------------------ real DM files
# No installed package ships a Digital Micrograph file; HyperSpy 1.7.6's wheel on PyPI carries
# real ones in its test folder (a Gatan GIF Quantum EELS SI among them). The wheel is fetched
# once with pip (cached by pip between runs) and the files are read straight from it.
DM_FILES = {
    "EELS_SI.dm4": "hyperspy/tests/io/dm4_3D_data/EELS_SI.dm4",
    "test-EELS_spectrum.dm3": "hyperspy/tests/io/dm3_1D_data/test-EELS_spectrum.dm3",
}


@pytest.fixture(scope="module")
def real_dm_files(tmp_path_factory):
    import subprocess
    import zipfile

    dest = tmp_path_factory.mktemp("hyperspy-wheel")
    subprocess.run([sys.executable, "-m", "pip", "download", "-q", "--no-deps",
                    "--only-binary=:all:", "-d", str(dest), "hyperspy==1.7.6"],
                   check=True, capture_output=True, timeout=600)
    wheel = next(dest.glob("hyperspy-1.7.6-*.whl"))
    out = {}
    with zipfile.ZipFile(wheel) as zf:
        for name, member in DM_FILES.items():
            out[name] = dest / name
            out[name].write_bytes(zf.read(member))
    return out


def test_real_gatan_dm4_eels_spectrum_image(real_dm_files, hs):
    path = real_dm_files["EELS_SI.dm4"]
    si = ew.load(path)
    ref = hs.load(path)                       # HyperSpy's own reading of the same file
    assert si.shape == (2, 2, 2048)
    np.testing.assert_array_equal(si.data, np.asarray(ref.data, dtype=np.float32))
    ax = ref.axes_manager.signal_axes[0]
    assert ax.units == "eV"
    np.testing.assert_allclose(si.energy, ax.offset + ax.scale * np.arange(ax.size))
    assert si.energy[0] == pytest.approx(300.0) and si.dispersion == pytest.approx(1.0)
    nav = ref.axes_manager.navigation_axes[0]
    assert nav.units in ("µm", "um")
    assert si.pixel_unit == "nm" and si.pixel_size == pytest.approx(nav.scale * 1000)
    assert si.metadata["Acquisition_instrument"]["TEM"]["beam_energy"] == pytest.approx(200)


def test_real_gatan_dm3_single_spectrum(real_dm_files, hs):
    path = real_dm_files["test-EELS_spectrum.dm3"]
    si = ew.load(path)
    ref = hs.load(path)
    ax = ref.axes_manager.signal_axes[0]
    assert si.shape == (1, 1, ax.size)
    np.testing.assert_array_equal(si.data[0, 0], np.asarray(ref.data, dtype=np.float32))
    np.testing.assert_allclose(si.energy, ax.offset + ax.scale * np.arange(ax.size), rtol=1e-6)
