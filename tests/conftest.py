"""Shared test set-up: the public EELS files are read from ``../shared/realdata/``.

``tests/run.sh`` exports ``EELSWIDGETS_DATA_DIR`` the same way; setting it here too makes a plain
``pytest`` run use the local copy instead of the network. A value set by the caller wins.
"""

import os
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"

os.environ.setdefault("EELSWIDGETS_DATA_DIR", str(REALDATA))
