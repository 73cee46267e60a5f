"""Fixtures of the real-browser tests (see harness.py): one JupyterLab server and one
Chromium per session; every test module opens its own notebook page.

A module that sets ``NB`` (notebook name) and ``CELLS`` (code cells) gets ``nbp``, its notebook
written, opened in JupyterLab and run, and ``ids``, the kernel's ``ids`` variable; a module that
needs another page defines its own ``nbp``. Any test using ``nbp`` leaves a screenshot when it
fails.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .harness import ARTIFACTS, chromium, fail_shot, open_notebook, write_notebook
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


@pytest.fixture(scope="module")
def nbp(request, browser, lab_server):
    module = request.module
    write_notebook(lab_server["root"], module.NB, module.CELLS)
    p = open_notebook(browser, lab_server, module.NB)
    yield p
    p.page.context.close()


@pytest.fixture(scope="module")
def ids(nbp):
    return nbp.kjson("ids")


@pytest.fixture(autouse=True)
def _shot_on_failure(request):
    page = request.getfixturevalue("nbp") if "nbp" in request.fixturenames else None
    yield
    if page is not None:
        fail_shot(request, page)
