"""The catalogue of public EELS files: hashes, URLs, offline fetch, read-only cache, errors."""

from __future__ import annotations

import builtins
import hashlib
import os
import re
import shutil
import socket
import tempfile
from pathlib import Path

import numpy as np
import pooch
import pytest
from conftest import REALDATA

from eelswidgets.datasets import realdata


def _sums():
    assert REALDATA.is_dir(), (f"the public EELS files must be in {REALDATA} "
                               "(../shared/realdata/ beside the repository)")
    lines = (REALDATA / "SHA256SUMS").read_text().split("\n")
    return dict(reversed(ln.split()) for ln in lines if ln.strip())


_ENTRIES = {e.name: e for e in realdata.catalogue()}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Every test here runs with name resolution and connections refused."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError("network access is blocked in this test")

    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


@pytest.fixture
def no_writes(monkeypatch):
    """Fail any attempt to create or write a file or folder (read-only even for root)."""
    real_open = builtins.open

    def guarded_open(file, mode="r", *args, **kwargs):
        if any(c in mode for c in "wax+"):
            raise AssertionError(f"attempted to write {file}")
        return real_open(file, mode, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError(f"attempted to write {args}")

    monkeypatch.setattr(builtins, "open", guarded_open)
    for name in ("makedirs", "mkdir", "replace", "rename"):
        monkeypatch.setattr(os, name, refuse)
    for name in ("NamedTemporaryFile", "mkstemp"):
        monkeypatch.setattr(tempfile, name, refuse)


def test_catalogue_matches_the_sha256sums_of_the_local_copy():
    sums = _sums()
    assert set(realdata.names()) == set(sums)
    for entry in realdata.catalogue():
        assert entry.sha256 == sums[entry.name], entry.name


def test_urls_are_raw_files_at_the_pinned_commit_with_quoted_paths():
    readme = (REALDATA / "README.md").read_text()
    for entry in realdata.catalogue():
        assert f"{entry.repository} @ {entry.commit}" in readme or entry.commit in readme
        assert entry.url == (f"https://raw.githubusercontent.com/{entry.repository}/"
                             f"{entry.commit}/{entry.path.replace(' ', '%20')}")
        assert " " not in entry.url and len(entry.commit) == 40
        assert entry.licence and entry.description
    drift = _ENTRIES["lowloss_drift_16x16_SI.dm3"]
    assert drift.url.endswith("/EELS%20Spectrum%20Image%2016x16%200.2s%200.3eV%200offset.dm3")


def test_summary_names_every_file_with_its_licence():
    text = realdata.summary()
    for entry in realdata.catalogue():
        assert entry.name in text and entry.repository in text
    assert text.count("MIT") == 3


def test_fetch_uses_the_local_folder_without_network(monkeypatch, no_network):
    monkeypatch.setenv(realdata.ENV_VAR, str(REALDATA))

    def no_download(*args, **kwargs):
        raise AssertionError("pooch.retrieve must not be called for a file already present")

    monkeypatch.setattr(pooch, "retrieve", no_download)
    for name in realdata.names():
        assert realdata.fetch(name) == REALDATA / name
    assert no_network == []


def test_cache_dir_follows_argument_then_environment_then_os_cache(monkeypatch, tmp_path):
    monkeypatch.setenv(realdata.ENV_VAR, str(tmp_path))
    assert realdata.cache_dir() == tmp_path
    assert realdata.cache_dir(tmp_path / "x") == tmp_path / "x"
    monkeypatch.delenv(realdata.ENV_VAR)
    assert realdata.cache_dir() == pooch.os_cache("eelswidgets")


@pytest.fixture
def read_only_copy(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    shutil.copy(REALDATA / "CuZn_HAADF.hspy", folder)
    folder.chmod(0o555)
    yield folder
    folder.chmod(0o755)


def test_read_only_copy_is_used_in_place(read_only_copy, no_writes):
    assert realdata.fetch("CuZn_HAADF.hspy", data_dir=read_only_copy) == (
        read_only_copy / "CuZn_HAADF.hspy")
    assert os.listdir(read_only_copy) == ["CuZn_HAADF.hspy"]


def test_wrong_hash_names_the_file_both_hashes_and_the_fix(tmp_path):
    name = "LSMO_linescan.hspy"
    data = bytearray((REALDATA / name).read_bytes())
    data[-1] ^= 0xFF
    (tmp_path / name).write_bytes(bytes(data))
    entry = _ENTRIES[name]
    with pytest.raises(ValueError) as info:
        realdata.fetch(name, data_dir=tmp_path)
    msg = str(info.value)
    assert name in msg and entry.sha256 in msg and hashlib.sha256(data).hexdigest() in msg
    assert "delete it" in msg and entry.url in msg
    assert (tmp_path / name).read_bytes() == bytes(data)      # left alone, not overwritten


def test_missing_file_without_network_says_where_to_get_it(tmp_path, no_network):
    with pytest.raises(FileNotFoundError) as info:
        realdata.fetch("coreloss_16x16_SI.dm3", data_dir=tmp_path)
    msg = str(info.value)
    entry = _ENTRIES["coreloss_16x16_SI.dm3"]
    assert entry.url in msg and str(tmp_path) in msg and realdata.ENV_VAR in msg
    assert no_network, "the download should have been attempted (and refused)"
    assert not (tmp_path / "coreloss_16x16_SI.dm3").exists()


def test_missing_file_is_downloaded_from_its_url_and_checked(tmp_path, monkeypatch):
    served = []

    def fake_download(self, url, output_file, pooch_instance, check_only=False):
        served.append(url)
        name = url.rsplit("/", 1)[1].replace("%20", " ")
        source = {e.path.rsplit("/", 1)[-1]: e.name for e in realdata.catalogue()}[name]
        shutil.copy(REALDATA / source, output_file)

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", fake_download)
    path = realdata.fetch("lowloss_drift_16x16_SI.dm3", data_dir=tmp_path / "cache")
    assert path == tmp_path / "cache" / "lowloss_drift_16x16_SI.dm3"
    assert path.read_bytes() == (REALDATA / path.name).read_bytes()
    assert served == [_ENTRIES[path.name].url]


def test_download_with_wrong_content_is_refused(tmp_path, monkeypatch):
    def corrupt_download(self, url, output_file, pooch_instance, check_only=False):
        with open(output_file, "wb") as fh:
            fh.write(b"not the file")

    monkeypatch.setattr(pooch.HTTPDownloader, "__call__", corrupt_download)
    with pytest.raises(FileNotFoundError, match=r"CuZn_HAADF\.hspy"):
        realdata.fetch("CuZn_HAADF.hspy", data_dir=tmp_path)
    assert not (tmp_path / "CuZn_HAADF.hspy").exists()


@pytest.mark.parametrize("name", ["nope.dm3", None, "oxide_coreloss_SI"])
def test_unknown_name_lists_the_catalogue(name):
    with pytest.raises(ValueError, match=r"oxide_coreloss_SI\.dm3"):
        realdata.fetch(name)


@pytest.mark.parametrize(("loader", "kwargs", "shape", "has_haadf"), [
    ("oxide_interface_si", {}, (49, 6, 1024), True),
    ("oxide_interface_si", {"haadf": False}, (49, 6, 1024), False),
    ("drifting_lowloss_si", {}, (16, 16, 1024), False),
    ("cuzn_si", {}, (50, 40, 162), True),
    ("lsmo_linescan", {}, (1, 40, 586), False),
    ("lsmo_linescan", {"low_loss": True}, (1, 40, 1024), False),
])
def test_loaders_read_the_fetched_files_offline(loader, kwargs, shape, has_haadf):
    import eelswidgets as ew

    si = getattr(ew.datasets, loader)(data_dir=REALDATA, **kwargs)
    assert si.shape == shape
    assert (si.haadf is not None) == has_haadf
    if has_haadf:
        assert np.isfinite(si.haadf).all() and si.haadf.std() > 0


def test_readme_recipe_runs_offline_on_the_public_files(monkeypatch, tmp_path):
    """The README's "Your own data" recipe (its first two code blocks) runs as written."""
    monkeypatch.setenv(realdata.ENV_VAR, str(REALDATA))
    monkeypatch.chdir(tmp_path)
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = text.split("## Your own data", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    scope = {}
    exec(compile("\n".join(blocks[:2]), "README.md", "exec"), scope)
    assert scope["si"].haadf.shape == (49, 6) and scope["dec"].maps.shape == (3, 49, 6)
    assert scope["report"].count >= 1 and np.ptp(scope["shifts"]) > 2.0
    assert scope["low"].energy[0] >= 2.0
    assert np.corrcoef(scope["ti"].mean(1), scope["la"].mean(1))[0, 1] < -0.5
    scope["ex"].close()
    scope["dex"].close()
