"""Small, thin and 1-D scans: windowed models say which window fits; spectral models, NMF and
every explorer work on a 1 x N line scan and on a 6-pixel-wide scan."""

import numpy as np
import pytest

import eelswidgets as ew
from eelswidgets.patches import check_window_fits, largest_window


def scan(ny, nx, ne=48, seed=0):
    """Two components whose weights change along x, a HAADF that follows them, Poisson noise."""
    import torch

    torch.set_num_threads(1)                         # small models: threads only cost here
    rng = np.random.default_rng(seed)
    e = np.linspace(1, 3, ne)
    yy, xx = np.mgrid[:ny, :nx]
    w = (xx + 0.5 * yy) / max(nx - 1 + 0.5 * (ny - 1), 1)          # 0..1 across the scan
    s1, s2 = np.exp(-((e - 1.5) / 0.2) ** 2), np.exp(-((e - 2.4) / 0.3) ** 2)
    lam = 200 * ((1 - w)[..., None] * s1 + w[..., None] * s2) + 5
    return ew.SpectrumImage(rng.poisson(lam).astype(float), energy=e, haadf=1 + w)


# ------------------------------------------------------------------ windowed models
@pytest.mark.parametrize("ny, nx, multiple, minimum, best", [
    (49, 6, 1, 1, 6), (49, 6, 2, 4, 6), (49, 6, 4, 4, 4), (16, 16, 4, 4, 16),
    (7, 30, 2, 4, 6), (1, 40, 1, 3, None), (3, 40, 4, 4, None), (5, 5, 2, 4, 4)])
def test_largest_window(ny, nx, multiple, minimum, best):
    assert largest_window(ny, nx, multiple=multiple, minimum=minimum) == best


@pytest.mark.parametrize("model, best", [(ew.Im2Spec, 6), (ew.Spec2Im, 4)])
def test_im2spec_and_spec2im_name_the_largest_window_that_fits(model, best):
    si = scan(20, 6)
    with pytest.raises(ValueError) as err:
        model(window=16, epochs=1).fit(si, progress=False)
    msg = str(err.value)
    assert f"window={best}" in msg and "20 x 6" in msg
    assert ("even" in msg) if model is ew.Im2Spec else ("multiple of 4" in msg)
    model(latent_dim=2, window=best, epochs=1, seed=0).fit(si, progress=False)  # and it fits


def test_rvae_names_the_largest_window_and_refuses_a_line_scan():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match=r"largest window that fits.* is window=6"):
        ew.MultichannelRVAE(window=10, epochs=1).fit(rng.random((2, 20, 6)), progress=False)
    with pytest.raises(ValueError, match=r"no window fits.*at least 3 pixels.*line scans"):
        ew.MultichannelRVAE(window=4, epochs=1).fit(rng.random((2, 1, 40)), progress=False)


def test_a_line_scan_has_no_window_for_im2spec():
    with pytest.raises(ValueError, match=r"no window fits.*1 pixel\(s\) across.*SpectralVAE"):
        ew.Im2Spec(window=4, epochs=1).fit(scan(1, 40), progress=False)


def test_check_window_fits_accepts_what_fits():
    check_window_fits(6, 49, 6, "Im2Spec", multiple=2, minimum=4)       # no error
    with pytest.raises(ValueError, match="larger than the image"):
        check_window_fits(7, 49, 6, "windows")


# ------------------------------------------------------------------ spectral models, explorers
@pytest.mark.parametrize("shape", [(1, 40), (40, 1), (20, 6)])
def test_spectral_models_and_every_explorer_on_thin_scans(shape):
    from eelswidgets.widgets import DecompositionExplorer, LatentExplorer, SpectrumImageExplorer

    si = scan(*shape)
    ny, nx = shape
    dec = ew.decompose(si, 2, "nmf", max_iter=500)
    assert dec.maps.shape == (2, ny, nx)
    weights = dec.maps.reshape(2, -1)
    truth = si.haadf.ravel() - 1                    # the weight of the second component
    assert max(abs(np.corrcoef(weights[i], truth)[0, 1]) for i in range(2)) > 0.9
    vae = ew.SpectralVAE(latent_dim=2, epochs=2, seed=0).fit(si, progress=False)
    z = vae.encode(si)
    assert z.shape == (ny, nx, 2) and np.isfinite(z).all()
    assert vae.reconstruct(si).shape == si.shape

    last = (ny - 1, nx - 1)
    sx = SpectrumImageExplorer(si)
    sx.selection.pixel = last
    np.testing.assert_array_equal(sx.spectrum_view.lines["data"].y, si.data[last])
    assert sx.image_view.shape == (ny, nx)
    dx = DecompositionExplorer(si, dec)
    dx.selection.pixel = last
    np.testing.assert_allclose(dx.spectrum_view.overlay("reconstruction"),
                               dec.maps[:, ny - 1, nx - 1] @ dec.spectra, rtol=1e-5)
    lx = LatentExplorer(si, vae)
    lx.selection.pixel = last
    assert lx.scatter.current == (ny - 1) * nx + nx - 1
    np.testing.assert_allclose(lx.spectrum_view.overlay("decoded"),
                               vae.decode(z[last][None])[0], rtol=1e-5)
    for ex in (sx, dx, lx):
        ex.close()


def test_windowed_explorers_on_a_six_pixel_wide_scan():
    from eelswidgets.widgets import DecompositionExplorer, Im2SpecExplorer, LatentExplorer

    si = scan(20, 6)
    dec = ew.decompose(si, 3, "nmf", max_iter=300)
    rv = ew.MultichannelRVAE(latent_dim=2, window=4, epochs=1, seed=0).fit(dec.maps,
                                                                           progress=False)
    rx = LatentExplorer(si, rv, stack=dec.maps)
    rx.selection.pixel = (10, 2)
    assert rx.input_window(10, 2).shape == (3, 4, 4)
    assert rx.manifold is not None
    im = ew.Im2Spec(latent_dim=2, window=6, epochs=1, seed=0).fit(si, progress=False)
    ix = Im2SpecExplorer(si, im)
    ix.selection.pixel = (10, 3)                   # the only column whose window fits
    assert ix.spectrum_view.overlay("prediction") is not None
    ix.selection.pixel = (10, 0)
    assert ix.spectrum_view.overlay("prediction") is None
    dx = DecompositionExplorer(si, dec)
    for ex in (rx, ix, dx):
        ex.close()
