"""Lazy windows around pixels."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from eelswidgets.patches import ArrayWindows, Windows, make_windows, window_bounds


def _maps(c=3, ny=12, nx=17, seed=0):
    return np.random.default_rng(seed).random((c, ny, nx)).astype(np.float32) * 5 + 2


def _channel_norm(m):
    lo = m.min(axis=(1, 2), keepdims=True)
    hi = m.max(axis=(1, 2), keepdims=True)
    return (m - lo) / (hi - lo)


@pytest.mark.parametrize("w", [1, 4, 5])
def test_geometry_and_gather(w):
    m = _maps()
    win = Windows(m, w)
    before, after = window_bounds(w)
    assert before + after + 1 == w and before == w // 2
    assert len(win) == (12 - w + 1) * (17 - w + 1)
    assert win.valid_mask.sum() == len(win)
    assert not win.valid_mask[:before].any() and not win.valid_mask[12 - after:].any()
    idx = np.array([0, 3, len(win) - 1, 17])
    b = win.gather(idx).numpy()
    assert b.shape == (4, 3, w, w) and b.dtype == np.float32
    n = _channel_norm(m)
    for k, i in enumerate(idx):
        y, x = win.centers[i]
        np.testing.assert_allclose(b[k], n[:, y - before:y + after + 1,
                                           x - before:x + after + 1], atol=1e-6)
        np.testing.assert_allclose(b[k][:, w // 2, w // 2], n[:, y, x], atol=1e-6)
    (t,) = win.get_batch(torch.tensor([3]))
    np.testing.assert_array_equal(t.numpy(), b[1:2])


def test_windows_are_views_not_copies():
    win = Windows(_maps(c=2, ny=30, nx=30), 8)
    assert win._flat.untyped_storage().data_ptr() == win.stack.untyped_storage().data_ptr()
    assert win.nbytes_materialized == len(win) * 2 * 64 * 4
    seen = sum(len(i) for i, _ in win.batches(100))
    assert seen == len(win)


def test_to_map_puts_values_back_with_nan_border():
    win = Windows(_maps(), 5)
    vals = np.arange(len(win), dtype=np.float64)
    out = win.to_map(vals)
    assert out.shape == (12, 17) and out.dtype == np.float64
    assert np.isnan(out[~win.valid_mask]).all() and np.isfinite(out[win.valid_mask]).all()
    y, x = win.centers[10]
    assert out[y, x] == 10
    multi = win.to_map(torch.ones(len(win), 2))
    assert multi.shape == (12, 17, 2) and multi.dtype == np.float32
    with pytest.raises(ValueError, match="one entry per window"):
        win.to_map(np.ones(3))


def test_normalisation_options():
    m = _maps()
    ch = Windows(m, 3).stack.numpy()
    np.testing.assert_allclose(ch.min(axis=(1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(ch.max(axis=(1, 2)), 1, atol=1e-6)
    joint = Windows(m, 3, normalize="joint").stack.numpy()
    assert joint.min() == pytest.approx(0, abs=1e-6) and joint.max() == pytest.approx(1)
    assert joint.max(axis=(1, 2)).min() < 1 - 1e-3        # not each channel separately
    np.testing.assert_allclose(Windows(m, 3, normalize="none").stack.numpy(), m)
    rng = Windows(m, 3, ranges=[(0, 1), (0, 2), (-1, 1)]).stack.numpy()
    np.testing.assert_allclose(rng.max(axis=(1, 2)), [1, 2, 1], atol=1e-5)
    np.testing.assert_allclose(rng.min(axis=(1, 2)), [0, 0, -1], atol=1e-5)
    # reusing the constants normalises new data the same way
    w1 = Windows(m, 3)
    w2 = Windows(m * 2, 3, normalization=w1.normalization)
    np.testing.assert_allclose(w2.stack.numpy(), (2 * m - m.min(axis=(1, 2), keepdims=True))
                               / np.ptp(m, axis=(1, 2), keepdims=True), rtol=1e-5)
    with pytest.raises(ValueError, match="for 3 channels but the data has 2"):
        Windows(m[:2], 3, normalization=w1.normalization)


def test_image_mask_and_inputs_not_mutated():
    img = np.arange(100, dtype=np.float64).reshape(10, 10)
    img.setflags(write=False)                 # read-only input works and is left alone
    before = img.copy()
    mask = np.zeros((10, 10), bool)
    mask[:, :5] = True
    win = Windows(img, 3, mask=mask)
    assert win.n_channels == 1 and len(win) == 8 * 4
    assert win.gather([0]).shape == (1, 1, 3, 3)
    np.testing.assert_array_equal(img, before)
    m = _maps()
    m_before = m.copy()
    w = Windows(m, 3)
    w.stack.add_(1.0)
    np.testing.assert_array_equal(m, m_before)


def test_bad_inputs():
    m = _maps()
    with pytest.raises(ValueError, match="larger than the image"):
        Windows(m, 13)
    bad = m.copy()
    bad[1] = 3.0
    with pytest.raises(ValueError, match=r"channel\(s\) \[1\].*constant"):
        Windows(bad, 3)
    Windows(bad, 3, normalize="joint")       # fine: one joint range
    with pytest.raises(ValueError, match="constant"):
        Windows(np.ones((2, 8, 8)), 3, normalize="joint")
    bad = m.copy()
    bad[0, 2, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        Windows(bad, 3)
    with pytest.raises(ValueError, match="needs an odd window size, got window=4"):
        Windows(m, 4, parity="odd")
    with pytest.raises(ValueError, match="needs an even window size"):
        Windows(m, 5, parity="even")
    with pytest.raises(ValueError, match="dimensions"):
        Windows(np.ones(5), 3)
    with pytest.raises(TypeError, match="window"):
        Windows(m, 2.5)
    with pytest.raises(ValueError, match="ranges"):
        Windows(m, 3, ranges=[(0, 1)])
    with pytest.raises(ValueError, match="low < high"):
        Windows(m, 3, ranges=[(0, 1), (1, 0), (0, 1)])
    with pytest.raises(ValueError, match="unknown normalize"):
        Windows(m, 3, normalize="zscore")
    with pytest.raises(ValueError, match="mask leaves no pixel"):
        mask = np.zeros((12, 17), bool)
        mask[0, 0] = True
        Windows(m, 3, mask=mask)
    with pytest.raises(ValueError, match="shape"):
        Windows(m, 3, mask=np.ones((3, 3), bool))
    with pytest.raises(IndexError):
        Windows(m, 3).gather([10_000])


def test_array_windows_and_make_windows():
    rng = np.random.default_rng(1)
    arr = rng.random((20, 2, 6, 6)).astype(np.float32)
    aw = ArrayWindows(arr)
    assert len(aw) == 20 and aw.window == 6 and aw.n_channels == 2
    d = aw.materialize().numpy()
    np.testing.assert_allclose(d.min(axis=(0, 2, 3)), 0, atol=1e-6)
    np.testing.assert_allclose(d.max(axis=(0, 2, 3)), 1, atol=1e-6)
    assert aw.to_map(np.arange(20)).shape == (20,)
    assert isinstance(make_windows(arr), ArrayWindows)
    assert isinstance(make_windows(_maps(), 3), Windows)
    with pytest.raises(ValueError, match="fitted on 2 channel"):
        make_windows(_maps(), 3, expect_channels=2)
    with pytest.raises(ValueError, match="fitted on 5x5 windows"):
        make_windows(arr, expect_window=5)
    with pytest.raises(ValueError, match="square"):
        ArrayWindows(rng.random((3, 1, 4, 5)))
    with pytest.raises(ValueError, match="mask"):
        make_windows(arr, mask=np.ones((6, 6), bool))


def test_border_mask_slices_and_cut_windows_share_the_window_rule():
    from eelswidgets.patches import border_mask, cut_windows, window_slices

    img = np.arange(7 * 9, dtype=np.float32).reshape(7, 9)
    for w in (1, 3, 4):
        before, after = window_bounds(w)
        mask = border_mask(img.shape, w)
        assert mask.sum() == (7 - w + 1) * (9 - w + 1)
        assert mask[before, before] and mask[7 - 1 - after, 9 - 1 - after]
        pix = np.argwhere(mask)
        cut = cut_windows(img, pix, w)
        for (y, x), win in zip(pix, cut, strict=True):
            rows, cols = window_slices(y, x, w, img.shape)
            np.testing.assert_array_equal(win, img[rows, cols])
            assert win[before, before] == img[y, x]           # the pixel at index w // 2
    assert window_slices(0, 0, 3, img.shape) is None and window_slices(6, 8, 4, img.shape) is None
    stack = np.stack([img, -img])
    np.testing.assert_array_equal(cut_windows(stack, [[3, 4]], 3)[0, 1], -img[2:5, 3:6])
    assert not border_mask((3, 3), 5).any()
    with pytest.raises(ValueError, match="border_mask"):
        cut_windows(img, [[0, 0]], 3)
    # the lazy Windows cut the same windows
    win = Windows(img, 4, normalize="none")
    np.testing.assert_array_equal(win.valid_mask, border_mask(img.shape, 4))
    np.testing.assert_array_equal(win.materialize()[:, 0].numpy(),
                                  cut_windows(img, win.centers, 4))
