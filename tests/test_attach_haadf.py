"""Attaching an image acquired with the spectra: arrays, files, sub-pixel sampling, errors."""

import numpy as np
import pytest

import eelswidgets as ew


def small_si(ny=3, nx=2, ne=5):
    rng = np.random.default_rng(0)
    return ew.SpectrumImage(rng.random((ny, nx, ne)), energy=np.arange(ne, dtype=float))


def test_an_image_on_the_same_grid_is_attached_as_it_is():
    si = small_si()
    img = np.arange(6.0).reshape(3, 2)
    out = si.attach_haadf(img)
    np.testing.assert_allclose(out.haadf, img)
    assert si.haadf is None                          # the original is not changed
    assert out.metadata["haadf_source"]["samples_per_pixel"] == [1, 1]
    assert out.metadata["processing"][-1].startswith("attach_haadf(array")


def test_a_sub_pixel_sampled_image_is_block_averaged():
    si = small_si()
    fine = np.random.default_rng(1).random((3 * 4, 2 * 5))
    before = fine.copy()
    out = si.attach_haadf(fine)
    expected = np.array([[fine[4 * y:4 * y + 4, 5 * x:5 * x + 5].mean() for x in range(2)]
                         for y in range(3)])
    np.testing.assert_allclose(out.haadf, expected, rtol=1e-6)
    np.testing.assert_array_equal(fine, before)      # the user's array is not touched
    assert out.metadata["haadf_source"] == {"shape": [12, 10], "samples_per_pixel": [4, 5]}


@pytest.mark.parametrize("shape", [(4, 2), (3, 3), (7, 4), (1, 1)])
def test_a_shape_that_is_not_a_multiple_names_both_shapes(shape):
    si = small_si()
    with pytest.raises(ValueError) as err:
        si.attach_haadf(np.ones(shape))
    msg = str(err.value)
    assert str(shape) in msg and "(3, 2)" in msg and "integer multiple" in msg


def test_a_transposed_image_gets_a_hint():
    with pytest.raises(ValueError, match=r"transposed"):
        small_si().attach_haadf(np.ones((4, 6)))


def test_bad_images_are_refused():
    si = small_si()
    with pytest.raises(ValueError, match="NaN"):
        si.attach_haadf(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="2 dimensions"):
        si.attach_haadf(np.ones((3, 2, 1)))


def test_load_attaches_an_array_or_a_file(tmp_path):
    si = small_si()
    path = tmp_path / "si.npz"
    si.save(path)
    img = np.arange(24.0).reshape(6, 4)
    loaded = ew.load(path, haadf=img)
    np.testing.assert_allclose(loaded.haadf, img.reshape(3, 2, 2, 2).mean((1, 3)))
    donor = tmp_path / "donor.npz"
    si.replace(haadf=np.full((3, 2), 7.0)).save(donor)
    from_file = ew.load(path, haadf=donor)
    np.testing.assert_allclose(from_file.haadf, 7.0)
    assert from_file.metadata["haadf_source"]["file"] == "donor.npz"
    with pytest.raises(FileNotFoundError):
        ew.load(path, haadf=tmp_path / "missing.dm3")
    with pytest.raises(ValueError, match="without a HAADF"):
        ew.load(path, haadf=path)


def test_the_constructor_points_to_attach_haadf():
    with pytest.raises(ValueError, match="attach_haadf"):
        ew.SpectrumImage(np.ones((2, 2, 3)), energy=[0, 1, 2], haadf=np.ones((4, 4)))
