"""Encoder–decoder networks that map HAADF windows to spectra (im2spec) and back (spec2im).

The layout follows Roccapriore et al., "Predictability of localized plasmonic responses in
nanoparticle assemblies": a convolutional encoder with kernel 3 and LeakyReLU(0.1), a dense
latent layer, and a decoder whose core is a *spatial pyramid of dilated convolutions* (a cascade
of convolutions with dilations 1, 2, …, n whose outputs are summed, so one block sees features
at several scales). Spec2Im average-pools the spectrum before its 1D convolutions and upsamples
twice (×2, ×2) before its 2D dilated block.

The networks are kept small on purpose: the encoder halves the window twice with strided
convolutions, and the im2spec decoder runs its dilated block on a sequence ``upsample`` times
shorter than the spectrum and reaches full length with a learned sub-pixel shuffle, which makes
training several times cheaper than a full-resolution design (see ``bench/bench_im2spec.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["DilatedPyramid", "Im2SpecNet", "Spec2ImNet"]

_SLOPE = 0.1  # LeakyReLU negative slope used throughout (as in the paper)


def _conv(ndim: int, cin: int, cout: int, dilation: int = 1) -> nn.Module:
    conv = nn.Conv1d if ndim == 1 else nn.Conv2d
    return conv(cin, cout, kernel_size=3, padding=dilation, dilation=dilation)


class DilatedPyramid(nn.Module):
    """Cascade of 3-wide convolutions with dilations 1..n whose activations are summed.

    Parameters
    ----------
    ndim : {1, 2}
        1D (spectra) or 2D (images).
    channels : int
        Number of channels in and out.
    n_dilated : int
        Number of dilated layers (dilations ``1, 2, ..., n_dilated``).
    """

    def __init__(self, ndim: int, channels: int, n_dilated: int = 4):
        super().__init__()
        self.layers = nn.ModuleList(_conv(ndim, channels, channels, d)
                                    for d in range(1, n_dilated + 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Apply the cascade and return the sum of every layer's activation."""
        total = None
        for layer in self.layers:
            x = F.leaky_relu(layer(x), _SLOPE)
            total = x if total is None else total + x
        return total


class Im2SpecNet(nn.Module):
    """HAADF window ``(B, w, w)`` → latent ``(B, d)`` → spectrum ``(B, ne)``.

    Encoder: conv(1→c/2) · conv(c/2→c, stride 2) · conv(c→2c, stride 2) · flatten · dense
    (strided convolutions halve the window twice).
    Decoder: dense → ``(c, L)`` with ``L = ceil(ne / upsample)`` · dilated pyramid ·
    conv(c→upsample) · sub-pixel shuffle to ``L * upsample >= ne`` points, cropped to ``ne``.
    The shuffle is a learned upsampling: output point ``k * upsample + r`` comes from channel
    ``r`` at position ``k``. There is no output activation (spectra may be negative after
    background subtraction).

    Parameters
    ----------
    window : int
        Window side ``w`` (>= 4).
    n_energy : int
        Spectrum length ``ne``.
    latent_dim : int
        Size of the dense latent layer.
    nb_filters : int
        Base channel count ``c`` (>= 2).
    n_dilated : int
        Layers in the dilated pyramid.
    upsample : int
        Ratio between the spectrum length and the length the dilated block runs at.
    """

    def __init__(self, window: int, n_energy: int, latent_dim: int, nb_filters: int = 32,
                 n_dilated: int = 4, upsample: int = 4):
        super().__init__()
        c = nb_filters
        half = max(1, c // 2)
        self.n_energy = n_energy
        self.enc1 = _conv(2, 1, half)
        self.enc2 = nn.Conv2d(half, c, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(c, 2 * c, 3, stride=2, padding=1)
        side = math.ceil(math.ceil(window / 2) / 2)
        self.to_latent = nn.Linear(2 * c * side * side, latent_dim)
        self.upsample = upsample
        self.short = max(1, math.ceil(n_energy / upsample))
        self.channels = c
        self.from_latent = nn.Linear(latent_dim, c * self.short)
        self.pyramid = DilatedPyramid(1, c, n_dilated)
        self.out = _conv(1, c, upsample)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Windows ``(B, w, w)`` or ``(B, 1, w, w)`` → latent codes ``(B, latent_dim)``."""
        if x.dim() == 3:
            x = x.unsqueeze(1)
        x = F.leaky_relu(self.enc1(x), _SLOPE)
        x = F.leaky_relu(self.enc2(x), _SLOPE)
        x = F.leaky_relu(self.enc3(x), _SLOPE)
        return self.to_latent(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes ``(B, latent_dim)`` → spectra ``(B, ne)``."""
        x = F.leaky_relu(self.from_latent(z), _SLOPE).view(-1, self.channels, self.short)
        x = self.out(self.pyramid(x))                      # (B, upsample, L)
        x = x.transpose(1, 2).reshape(x.shape[0], -1)      # (B, L * upsample)
        return x[:, :self.n_energy]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Windows → predicted spectra."""
        return self.decode(self.encode(x))


class Spec2ImNet(nn.Module):
    """Spectrum ``(B, ne)`` → latent ``(B, d)`` → HAADF window ``(B, w, w)``.

    Encoder: average pooling by ``pool`` (adaptive, to ``ceil(ne / pool)`` points) ·
    conv1d(1→c/2) · conv1d(c/2→c) · flatten · dense.
    Decoder: dense → ``(c, w/4, w/4)`` · conv(c→c/2) · upsample ×2 · conv(c/2→c/4) ·
    upsample ×2 · 2D dilated pyramid (c/4 channels) · conv(c/4→1). The channel count halves
    at each upsampling so the full-resolution pyramid stays cheap.

    Parameters
    ----------
    n_energy : int
        Spectrum length ``ne``.
    window : int
        Window side ``w`` (a multiple of 4).
    latent_dim : int
        Size of the dense latent layer.
    pool : int
        Average-pooling factor applied to the spectrum first.
    nb_filters : int
        Base channel count ``c``.
    n_dilated : int
        Layers in the dilated pyramid.
    """

    def __init__(self, n_energy: int, window: int, latent_dim: int, pool: int = 16,
                 nb_filters: int = 32, n_dilated: int = 4):
        super().__init__()
        c = nb_filters
        half = max(1, c // 2)
        self.pooled = max(1, math.ceil(n_energy / pool))
        self.enc1 = _conv(1, 1, half)
        self.enc2 = _conv(1, half, c)
        self.to_latent = nn.Linear(c * self.pooled, latent_dim)
        self.side = window // 4
        self.channels = c
        self.from_latent = nn.Linear(latent_dim, c * self.side * self.side)
        quarter = max(1, c // 4)
        self.up1 = _conv(2, c, half)
        self.up2 = _conv(2, half, quarter)
        self.pyramid = DilatedPyramid(2, quarter, n_dilated)
        self.out = _conv(2, quarter, 1)

    def encode(self, s: torch.Tensor) -> torch.Tensor:
        """Spectra ``(B, ne)`` → latent codes ``(B, latent_dim)``."""
        x = F.adaptive_avg_pool1d(s.unsqueeze(1), self.pooled)
        x = F.leaky_relu(self.enc1(x), _SLOPE)
        x = F.leaky_relu(self.enc2(x), _SLOPE)
        return self.to_latent(x.flatten(1))

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent codes ``(B, latent_dim)`` → windows ``(B, w, w)``."""
        x = F.leaky_relu(self.from_latent(z), _SLOPE)
        x = x.view(-1, self.channels, self.side, self.side)
        x = F.leaky_relu(self.up1(x), _SLOPE)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = F.leaky_relu(self.up2(x), _SLOPE)
        x = F.interpolate(x, scale_factor=2, mode="nearest")
        x = self.pyramid(x)
        return self.out(x).squeeze(1)

    def forward(self, s: torch.Tensor) -> torch.Tensor:
        """Spectra → predicted windows."""
        return self.decode(self.encode(s))
