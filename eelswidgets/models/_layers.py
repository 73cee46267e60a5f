"""Small building blocks shared by the VAE models."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import torch
from torch import nn


def mlp(sizes: Sequence[int], *, slope: float = 0.1, last_activation: bool = False
        ) -> nn.Sequential:
    """Fully connected layers ``sizes[0] -> ... -> sizes[-1]`` with LeakyReLU between them."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.LeakyReLU(slope))
    return nn.Sequential(*layers)


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


def module_device(module: nn.Module) -> torch.device:
    """Device of a module's first parameter (CPU if it has none)."""
    for p in module.parameters():
        return p.device
    return torch.device("cpu")
