"""MultichannelRVAE: rotation recovery on rotated motifs, decoders, API and bad input."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eelswidgets.datasets import rotated_motifs
from eelswidgets.models import MultichannelRVAE, NotFittedError, rgb_tiles
from eelswidgets.models._rvae_nets import (
    FastDecoder,
    SpatialDecoder,
    rotation_matrices,
    window_coords,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def _aligned_resultant(est, true, symmetry=1):
    """|mean exp(i n (est - true))|: 1 when est == true + a global offset (mod 2 pi / n)."""
    return float(np.abs(np.mean(np.exp(1j * symmetry * (est - true)))))


def _circular_correlation(est, true, symmetry=1):
    """Fisher-Lee circular correlation of n*est and n*true (1 iff est = true + offset)."""
    a, b = symmetry * est, symmetry * true
    sa = np.sin(a[:, None] - a[None, :])
    sb = np.sin(b[:, None] - b[None, :])
    return float(np.sum(sa * sb) / np.sqrt(np.sum(sa ** 2) * np.sum(sb ** 2)))


def _check_recovery(model, st, label):
    enc = model.encode(st.maps)
    cy, cx = st.centers.T
    angle, z = enc["angle"][cy, cx], enc["z"][cy, cx]
    r = _aligned_resultant(angle, st.angles, st.symmetry)
    r_mirror = _aligned_resultant(angle, -st.angles, st.symmetry)
    rho = _circular_correlation(angle, st.angles, st.symmetry)
    z_std = z.std(axis=0)
    print(f"{label}: angle resultant {r:.4f} (mirrored {r_mirror:.3f}), circular correlation "
          f"{rho:.3f}, std of z over {len(angle)} rotated copies {np.round(z_std, 3)}")
    assert r > 0.95            # the angle is the rotation, up to one global offset
    assert r_mirror < 0.5      # and turns the same way (the motif has no mirror symmetry)
    assert rho > 0.9
    assert z_std.max() < 0.25  # content latents barely move (prior std 1)
    return enc


@pytest.fixture(scope="module")
def motifs():
    return rotated_motifs(n_side=16, spacing=12, channels=3, symmetry=1, seed=0)


@pytest.fixture(scope="module")
def spatial(motifs):
    torch.set_num_threads(1)
    return MultichannelRVAE(window=12, hidden=64, epochs=20, batch_size=32, lr=2e-3, seed=0,
                            device="cpu").fit(motifs.windows(12), progress=False)


def test_spatial_decoder_recovers_rotation(motifs, spatial):
    enc = _check_recovery(spatial, motifs, "spatial rVAE")
    ny, nx = motifs.maps.shape[1:]
    assert enc["angle"].shape == (ny, nx) and enc["z"].shape == (ny, nx, 2)
    assert enc["dx"].shape == (ny, nx) and enc["dy"].shape == (ny, nx)
    border = np.zeros((ny, nx), bool)
    border[:6] = border[-5:] = True
    border[:, :6] = border[:, -5:] = True
    assert np.isnan(enc["angle"][border]).all() and np.isfinite(enc["angle"][~border]).all()
    assert np.isnan(enc["z"][border]).all()
    assert np.all(np.abs(enc["angle"][~border]) <= np.pi)
    # encoding the windows directly gives the same latents as the maps at the centres
    win = spatial.encode(motifs.windows(12))
    cy, cx = motifs.centers.T
    np.testing.assert_allclose(win["z"], enc["z"][cy, cx], atol=1e-5)
    assert win["angle"].shape == (256,)


def test_fast_decoder_recovers_rotation_of_symmetric_motif():
    st = rotated_motifs(n_side=16, spacing=12, channels=3, symmetry=3, seed=1)
    rv = MultichannelRVAE(window=12, decoder="fast", symmetry=3, epochs=30, batch_size=32,
                          seed=0, device="cpu").fit(st.windows(12), progress=False)
    enc = _check_recovery(rv, st, "fast rVAE, 3-fold motif")
    assert np.nanmax(np.abs(enc["angle"])) <= np.pi / 3 + 1e-6


def test_manifold_rgb_tiles_decode_and_errors(motifs, spatial):
    tiles = spatial.manifold(grid=4)
    assert tiles.shape == (4, 4, 3, 12, 12) and np.isfinite(tiles).all()
    # the unrotated template resembles the motif: decoded windows explain the data well
    err = spatial.reconstruction_error(motifs.windows(12))
    assert err.shape == (256,) and err.mean() < 0.01
    rgb = rgb_tiles(tiles, gap=1)
    assert rgb.shape == (4 * 13 - 1, 4 * 13 - 1, 3) and rgb.min() >= 0 and rgb.max() <= 1
    np.testing.assert_array_equal(spatial.rgb_tiles(tiles, gap=1), rgb)  # tile_scale "channel"
    custom = spatial.manifold(grid=3, ranges=((-1, 1), (-2, 2)))
    assert custom.shape == (3, 3, 3, 12, 12)
    # one grid orientation: z1 grows with the column, z2 with the row (row 0 = lowest z2)
    zz = np.array([[-1, -2], [1, -2], [-1, 2]], np.float32)
    np.testing.assert_allclose(custom[[0, 0, 2], [0, 2, 0]], spatial.decode(zz), atol=1e-6)
    # the default span: 2nd-98th percentile of the training codes
    z = spatial.encode(motifs.windows(12))["z"]
    np.testing.assert_allclose(spatial.latent_ranges_, np.percentile(z, [2, 98], axis=0).T,
                               rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(spatial.latent_center_, np.median(z, axis=0), rtol=1e-4,
                               atol=1e-5)
    z = np.zeros((2, 2), np.float32)
    w0 = spatial.decode(z)
    w90 = spatial.decode(z, angle=np.pi / 2)
    # decoded at +90 degrees = the template turned clockwise as displayed (about pixel 6)
    np.testing.assert_allclose(w90[:, :, 1:, 1:], np.rot90(w0[:, :, 1:, 1:], k=-1,
                                                           axes=(2, 3)), atol=1e-5)
    with pytest.raises(ValueError, match="exactly 3 channels"):
        rgb_tiles(tiles, channels=(0, 1))
    with pytest.raises(ValueError, match="choose 3 of them"):
        rgb_tiles(tiles[:, :, :2])
    with pytest.raises(ValueError, match="2 columns"):
        spatial.decode(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="dims"):
        spatial.manifold(dims=(0, 0))


@pytest.fixture(scope="module")
def paper(motifs):
    torch.set_num_threads(1)
    return MultichannelRVAE.from_preset("paper", window=12, hidden=64, epochs=20, batch_size=32,
                                        lr=2e-3, seed=0, device="cpu").fit(
        motifs.windows(12), progress=False)


def test_paper_preset_recovers_rotation_without_shift_latents_and_a_fixed_sigma(
        motifs, paper, spatial):
    assert not paper.translation and paper.decoder == "spatial" and paper.sigma == 0.1
    enc = _check_recovery(paper, motifs, "paper-preset rVAE")
    assert set(enc) == {"angle", "z"}                      # no dx, dy
    assert paper.module_.n_pose == 1
    assert paper.module_.encoder.mu.out_features == 2 + 2  # (cos, sin) of the angle, z1, z2
    # sigma is a constant of the loss, not a weight: unchanged by 20 epochs of training
    names = {n for n, _ in paper.module_.named_parameters()}
    assert "log_sigma" not in names
    assert float(paper.module_.log_sigma) == pytest.approx(np.log(0.1), abs=1e-7)
    # (the default learns it: a parameter that training moved away from its start, 0.1)
    assert "log_sigma" in {n for n, _ in spatial.module_.named_parameters()}
    assert abs(float(spatial.module_.log_sigma.detach()) - np.log(0.1)) > 1e-3


def _weak_green_tiles():
    tiles = np.zeros((2, 3, 3, 4, 4), np.float32)
    tiles[:, :, 0] = 0.9                                    # strong red
    tiles[:, :, 1] = np.linspace(0.0, 0.1, 4)               # weak green, varying
    tiles[:, :, 2] = 0.4
    return tiles


def test_paper_preset_tiles_keep_a_weak_channel_weak(paper, spatial):
    tiles = _weak_green_tiles()
    absolute = paper.rgb_tiles(tiles, gap=0)
    stretched = spatial.rgb_tiles(tiles, gap=0)               # default: each channel stretched
    assert stretched[..., 1].max() == pytest.approx(1.0)      # weak green looks full
    np.testing.assert_allclose(absolute[..., 1].max(), 0.1, atol=1e-6)   # ... stays weak
    np.testing.assert_allclose(absolute[..., 0], 0.9, atol=1e-6)
    np.testing.assert_allclose(paper.absolute_tile_ranges(), [[0.0, 1.0]] * 3)
    # explicit choices win over the model's scale
    np.testing.assert_array_equal(paper.rgb_tiles(tiles, gap=0, normalize="channel"),
                                  stretched)
    # decoded tiles: the absolute scale is the normalised [0, 1] range, clipped
    dec = paper.manifold(grid=2)
    np.testing.assert_array_equal(paper.rgb_tiles(dec, gap=0),
                                  rgb_tiles(dec, gap=0, ranges=[(0, 1)] * 3))
    assert not np.array_equal(paper.rgb_tiles(dec), spatial.rgb_tiles(dec))
    with pytest.raises(ValueError, match=r"channels must be in \[0, 3\)"):
        paper.absolute_tile_ranges((0, 1, 3))


def test_absolute_tiles_share_one_scale_across_channel_ranges():
    maps = np.random.default_rng(0).random((3, 10, 10)).astype(np.float32)
    rv = MultichannelRVAE.from_preset("paper", window=4, hidden=8, n_layers=1,
                                      encoder_hidden=8, encoder_layers=1, epochs=1,
                                      ranges=[(0, 1), (0, 2), (0, 1)], seed=0,
                                      device="cpu").fit(maps, progress=False)
    np.testing.assert_allclose(rv.absolute_tile_ranges(), [[0.0, 2.0]] * 3)
    tiles = np.ones((1, 1, 3, 4, 4), np.float32)
    tiles[:, :, 1] = 2.0                                    # green at the top of its range
    rgb = rv.rgb_tiles(tiles, gap=0)
    np.testing.assert_allclose(rgb[..., 1], 1.0)            # full green ...
    np.testing.assert_allclose(rgb[..., [0, 2]], 0.5)       # ... red and blue at half
    with pytest.raises(NotFittedError):
        MultichannelRVAE.from_preset("paper").rgb_tiles(tiles)


@pytest.mark.parametrize("window", [7, 8])
def test_spatial_decoder_equals_coordinate_concatenation(window):
    """The fast first layer is the spatial-VAE decoder: MLP(W_c p' + W_z z) at p' = R^-1(p-s)."""
    torch.manual_seed(0)
    dec = SpatialDecoder(2, window, 3, 16, 2)
    angle, shift, z = torch.randn(4), 0.2 * torch.randn(4, 2), torch.randn(4, 3)
    out = dec(angle, shift, z)
    p = window_coords(window)
    rinv = rotation_matrices(-angle)
    coords = torch.einsum("bij,bpj->bpi", rinv, p[None] - shift[:, None])   # (B, P, 2)
    h = torch.tanh(dec.fc_coord(coords) + dec.fc_latent(z)[:, None])
    ref = dec.out(dec.hidden(h)).transpose(1, 2).reshape(4, 2, window, window)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    # a shift of one pixel to the right moves the content one column to the right
    half = (window - 1) / 2
    a0 = dec(torch.zeros(1), torch.zeros(1, 2), z[:1])
    a1 = dec(torch.zeros(1), torch.tensor([[1.0 / half, 0.0]]), z[:1])
    torch.testing.assert_close(a1[..., 1:], a0[..., :-1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("n_layers", [0, 2])
def test_fused_spatial_decoder_matches_autograd(n_layers):
    """The chunked decoder with a hand-written backward gives the autograd gradients."""
    torch.manual_seed(0)
    dec = SpatialDecoder(3, 9, 2, 16, n_layers)
    dec.rows_per_thread = 100                     # several chunks, a partial last one
    angle = torch.randn(13, requires_grad=True)
    shift = (0.1 * torch.randn(13, 2)).requires_grad_()
    z = torch.randn(13, 2, requires_grad=True)
    target = torch.randn(13, 3, 9, 9)
    results = {}
    for fused in (True, False):
        dec.fused = fused
        dec.zero_grad()
        for t in (angle, shift, z):
            t.grad = None
        out = dec(angle, shift, z)
        ((out - target) ** 2).sum().backward()
        grads = [p.grad.clone() for p in dec.parameters()] + [
            t.grad.clone() for t in (angle, shift, z)]
        with torch.no_grad():
            inference = dec(angle, shift, z)
        results[fused] = (out.detach(), grads, inference)
    torch.testing.assert_close(results[True][0], results[False][0])
    torch.testing.assert_close(results[True][2], results[False][0])
    for g_fused, g_plain in zip(results[True][1], results[False][1], strict=True):
        torch.testing.assert_close(g_fused, g_plain, atol=1e-4, rtol=1e-4)


def test_fast_decoder_pose_convention():
    torch.manual_seed(0)
    dec = FastDecoder(1, 9, 2, 8, 1)
    z = torch.randn(1, 2)
    tmpl = dec.render(z)[0, 0]
    m = (dec.canvas - 9) // 2
    w0 = dec(torch.zeros(1), torch.zeros(1, 2), z)[0, 0]
    torch.testing.assert_close(w0, tmpl[m:m + 9, m:m + 9], atol=1e-5, rtol=1e-5)
    w90 = dec(torch.full((1,), np.pi / 2), torch.zeros(1, 2), z)[0, 0]
    torch.testing.assert_close(w90, torch.rot90(w0, k=-1), atol=1e-5, rtol=1e-5)


def test_fit_on_stack_seeding_and_no_mutation():
    st = rotated_motifs(n_side=3, spacing=10, channels=2, seed=2)
    maps = np.array(st.maps)
    before = maps.copy()
    kw = dict(window=9, hidden=16, encoder_hidden=16, epochs=2, seed=3, device="cpu")
    a = MultichannelRVAE(**kw).fit(maps, progress=False)
    b = MultichannelRVAE(**kw).fit(maps, progress=False)
    c = MultichannelRVAE(**{**kw, "seed": 4}).fit(maps, progress=False)
    np.testing.assert_array_equal(maps, before)
    assert a.state_["n_train"] == 22 * 22 and a.history_["epochs_run"] == 2
    for va, vb in zip(a.module_.state_dict().values(), b.module_.state_dict().values(),
                      strict=True):
        assert torch.equal(va, vb)
    ea, eb, ec = a.encode(maps), b.encode(maps), c.encode(maps)
    for key in ("angle", "z", "dx", "dy"):
        np.testing.assert_array_equal(ea[key], eb[key])
    assert not np.allclose(np.nan_to_num(ea["z"]), np.nan_to_num(ec["z"]))
    no_shift = MultichannelRVAE(**{**kw, "translation": False, "epochs": 1}).fit(
        maps, progress=False)
    enc = no_shift.encode(maps, return_std=True)
    assert "dx" not in enc and enc["z_std"].shape == (30, 30, 2)
    mask = np.zeros((30, 30), bool)
    mask[:15] = True
    masked = MultichannelRVAE(**{**kw, "epochs": 1}).fit(maps, mask=mask, progress=False)
    assert masked.state_["n_train"] == (15 - 4) * 22


def test_bad_input():
    rng = np.random.default_rng(0)
    maps = rng.random((3, 20, 20)).astype(np.float32)
    fast = dict(hidden=8, encoder_hidden=8, epochs=1, device="cpu")
    with pytest.raises(NotFittedError):
        MultichannelRVAE().encode(maps)
    with pytest.raises(ValueError, match="latent_dim must be >= 1"):
        MultichannelRVAE(latent_dim=0, **fast).fit(maps, progress=False)
    with pytest.raises(ValueError, match="larger than the image"):
        MultichannelRVAE(window=25, **fast).fit(maps, progress=False)
    with pytest.raises(ValueError, match="at least 3 pixels"):
        MultichannelRVAE(window=2, **fast).fit(maps, progress=False)
    const = maps.copy()
    const[2] = 0.5
    with pytest.raises(ValueError, match=r"channel\(s\) \[2\].*constant"):
        MultichannelRVAE(window=5, **fast).fit(const, progress=False)
    nan = maps.copy()
    nan[0, 3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        MultichannelRVAE(window=5, **fast).fit(nan, progress=False)
    with pytest.raises(ValueError, match="unknown decoder"):
        MultichannelRVAE(decoder="conv", **fast).fit(maps, progress=False)
    with pytest.raises(ValueError, match="rotation_prior"):
        MultichannelRVAE(rotation_prior=0, **fast).fit(maps, progress=False)
    with pytest.raises(ValueError, match="set window=6"):
        MultichannelRVAE(window=5, **fast).fit(rng.random((10, 3, 6, 6)), progress=False)
    rv = MultichannelRVAE(window=5, **fast).fit(maps, progress=False)
    with pytest.raises(ValueError, match="fitted on 3 channel"):
        rv.encode(maps[:2])
    with pytest.raises(ValueError, match="fitted on 5x5 windows"):
        rv.encode(rng.random((4, 3, 7, 7)))
    with pytest.raises(ValueError, match="NaN"):
        rv.encode(nan)
    with pytest.raises(ValueError, match="mask"):
        MultichannelRVAE(window=5, **fast).fit(rng.random((10, 3, 5, 5)),
                                               mask=np.ones((5, 5), bool), progress=False)
