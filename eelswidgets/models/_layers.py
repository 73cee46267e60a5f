"""Small building blocks shared by the VAE models."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from .._checks import check_int


def mlp(sizes: Sequence[int], *, slope: float = 0.1, last_activation: bool = False
        ) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with LeakyReLU between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


def check_hidden(hidden, name: str = "hidden") -> tuple[int, ...]:
    """Validate a sequence of hidden-layer widths."""
    if isinstance(hidden, (int, np.integer)) and not isinstance(hidden, bool):
        hidden = (int(hidden),)
    if isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence):
        raise TypeError(f"{name} must be a sequence of layer widths such as (128, 64), "
                        f"got {hidden!r}")
    out = tuple(check_int(h, f"{name} entry", low=1) for h in hidden)
    if not out:
        raise ValueError(f"{name} must list at least one layer width")
    return out


def reparameterize(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Draw ``z ~ N(mu, exp(logvar))`` with the reparameterisation trick."""
    return mu + torch.exp(0.5 * logvar) * torch.randn_like(mu)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor, prior_var: float | torch.Tensor = 1.0
              ) -> torch.Tensor:
    """KL divergence of ``N(mu, exp(logvar))`` from ``N(0, prior_var)``, summed over dim 1."""
    if not isinstance(prior_var, torch.Tensor):
        prior_var = torch.tensor(float(prior_var), dtype=mu.dtype, device=mu.device)
    log_pv = torch.log(prior_var)
    kl = 0.5 * (log_pv - logvar + (logvar.exp() + mu.pow(2)) / prior_var - 1.0)
    return kl.sum(dim=1)


def gaussian_nll(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor) -> torch.Tensor:
    """Gaussian negative log-likelihood per sample (summed over features, constant dropped)."""
    n = x[0].numel()
    sq = (x - mean).pow(2).reshape(x.shape[0], -1).sum(dim=1)
    return 0.5 * sq * torch.exp(-2.0 * log_sigma) + n * log_sigma


def check_sigma(sigma) -> float | None:
    """``None`` (learn the noise level) or a positive float (fixed)."""
    if sigma is None:
        return None
    try:
        s = float(sigma)
    except (TypeError, ValueError):
        raise TypeError(f"sigma must be None (learned) or a positive number, got "
                        f"{sigma!r}") from None
    if not (math.isfinite(s) and s > 0):
        raise ValueError(f"sigma must be None (learned) or a positive number, got {sigma!r}")
    return s


def check_nonneg_float(value, name: str) -> float:
    """Return ``value`` as a finite float >= 0."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number, got {value!r}") from None
    if not (math.isfinite(v) and v >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return v


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter (CPU if it has none)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")
