"""Fixtures of the real-browser tests (see harness.py): one JupyterLab server and one
Chromium per session; every test module opens its own notebook page."""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import ARTIFACTS, chromium
from .harness import lab_server as _lab_server


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def lab_server():
    with _lab_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def browser():
    with chromium() as b:
        yield b


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)
