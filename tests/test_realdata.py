"""The analysis chain on real, third-party spectrum images (see ../shared/realdata/README.md).

These files are not part of the package; the tests find them beside the repository root and
fail (they are not skipped) when the folder is missing.
"""

from pathlib import Path

import numpy as np
import pytest

import eelswidgets as ew

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def real(name: str) -> Path:
    path = REALDATA / name
    if not path.is_file():
        pytest.fail(f"real data file {name} is missing: it should be at {path} (the folder "
                    "shared/realdata/ beside the repository root; see its README.md)")
    return path


# ---------------------------------------------------------------- item 1: separate HAADF file
def test_oxide_haadf_file_is_block_averaged_32x32_onto_the_si():
    si = ew.load(real("oxide_coreloss_SI.dm3"), haadf=real("oxide_coreloss_HAADF.dm3"))
    assert si.shape == (49, 6, 1024) and si.haadf.shape == (49, 6)
    raw = ew.io.read_image(real("oxide_coreloss_HAADF.dm3"))
    assert raw.shape == (1568, 192)
    np.testing.assert_allclose(si.haadf, raw.reshape(49, 32, 6, 32).mean((1, 3)), rtol=1e-5)
    assert si.metadata["haadf_source"]["samples_per_pixel"] == [32, 32]


def test_cuzn_haadf_file_matches_the_si_grid_and_its_intensity():
    si = ew.load(real("CuZn_coreloss_SI.hspy"), haadf=real("CuZn_HAADF.hspy"))
    assert si.haadf.shape == (50, 40)
    # same orientation: the HAADF follows the total core-loss intensity (thicker = brighter)
    r = np.corrcoef(si.haadf.ravel(), si.data.sum(-1).ravel())[0, 1]
    assert r > 0.6
    print(f"CuZn: HAADF vs total counts correlation {r:.2f}")


def test_a_haadf_of_another_scan_is_refused_with_both_shapes():
    with pytest.raises(ValueError, match=r"\(1568, 192\).*\(50, 40\)"):
        ew.load(real("CuZn_coreloss_SI.hspy"), haadf=real("oxide_coreloss_HAADF.dm3"))
