"""Shared test set-up: the public EELS files are read from ``../shared/realdata/``.

``tests/run.sh`` exports ``EELSWIDGETS_DATA_DIR`` the same way; setting it here too makes a plain
``pytest`` run use the local copy instead of the network. A value set by the caller wins.

The ``one_thread`` fixture runs a test module's torch code on one thread.
"""

import os
from pathlib import Path

import pytest

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

os.environ.setdefault("EELSWIDGETS_DATA_DIR", str(REALDATA))


@pytest.fixture(scope="module")
def one_thread():
    """Run a test module's torch code on one thread, then restore the thread count.

    Use it with ``pytestmark = pytest.mark.usefixtures("one_thread")``: being module-scoped
    and named first, it is set up before the module's own fixtures, so the models those fit
    train on one thread too (reproducible, and no oversubscription of the CI's two cores).
    """
    import torch

    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
