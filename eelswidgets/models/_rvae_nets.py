"""Networks of the rotationally invariant VAE: MLP encoder, spatial and fast decoders.

Coordinates and pose
--------------------
Pixel ``(i, j)`` of a ``w x w`` window has coordinates ``p = (x, y) = ((j - c) / h,
(i - c) / h)`` with ``c = w // 2`` (the window's centre pixel, see
:mod:`eelswidgets.patches`) and ``h = (w - 1) / 2``, so ``x`` runs along columns, ``y`` along
rows (pointing down) and an odd window spans [-1, 1]. A decoder renders the window at pose
``(angle, shift)`` by evaluating the unrotated content ("template") ``T`` at
``p' = R(-angle) (p - shift)`` with ``R(a) = [[cos a, -sin a], [sin a, cos a]]``: a feature
of the template at ``q`` appears at ``R(angle) q + shift``. The content is turned from +x
towards +y (clockwise as displayed with row 0 at the top) by ``angle`` about the centre pixel
and moved by ``shift`` - the convention of :func:`eelswidgets.datasets.rotated_motifs`.

- The **spatial** decoder (Bepler et al. 2019; the rVAE of the papers and of AtomAI) is an
  MLP evaluated at every transformed coordinate: ``tanh(W_c p' + W_z z + b)`` followed by
  ``n_layers`` hidden layers (tanh) and a linear output with one value per channel. The first
  layer is computed per window as ``p @ A^T + (b + W_z z - A shift)`` with
  ``A = W_c R(-angle)``: the same function as concatenating coordinates and latents, with
  fewer operations.
- The **fast** decoder renders the template once per window with an MLP from ``z`` on a
  canvas about 1.5 times the window (so rotated corners stay inside) and resamples it at the
  transformed coordinates with ``grid_sample`` (bilinear).
"""

from __future__ import annotations

import itertools
import math

import torch
import torch.nn.functional as F
from torch import nn

from ..patches import window_bounds


def window_coords(window: int) -> torch.Tensor:
    """Pixel coordinates ``(w*w, 2)`` as ``(x, y)``, centred on pixel ``w // 2``, row-major."""
    half = max((window - 1) / 2.0, 0.5)
    t = (torch.arange(window, dtype=torch.float32) - window_bounds(window)[0]) / half
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return torch.stack([xx.reshape(-1), yy.reshape(-1)], dim=1)


def rotation_matrices(angle: torch.Tensor) -> torch.Tensor:
    """``R(angle)`` for a batch of angles: ``(B, 2, 2)``."""
    c, s = torch.cos(angle), torch.sin(angle)
    return torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)


def inverse_pose(angle: torch.Tensor, shift: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """Affine map ``p -> M p + t`` with ``M = R(-angle)``, ``t = -M shift``: ``(B,2,2), (B,2)``."""
    m = rotation_matrices(-angle)
    return m, -(m @ shift.unsqueeze(2)).squeeze(2)


def _tanh_mlp(sizes, last_activation=True) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2 or last_activation:
            layers.append(nn.Tanh())
    return nn.Sequential(*layers)


class RVAEEncoder(nn.Module):
    """MLP encoder on flattened windows: Gaussian posterior over all latents.

    The first latent is the angle. Its mean is ``atan2(v, u) / symmetry`` of two encoder
    outputs: a continuous function on the circle of orientations (a single unbounded output
    would need a jump somewhere between -pi and pi, which an MLP learns poorly). For content
    with ``symmetry``-fold rotational symmetry the orientations form a circle of period
    ``2 pi / symmetry``, hence the division.
    """

    def __init__(self, n_in: int, n_latent: int, hidden: int, n_layers: int,
                 symmetry: int = 1):
        super().__init__()
        self.symmetry = int(symmetry)
        self.body = _tanh_mlp([n_in] + [hidden] * n_layers)
        self.mu = nn.Linear(hidden, n_latent + 1)
        self.logvar = nn.Linear(hidden, n_latent)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.body(x.reshape(x.shape[0], -1))
        m = self.mu(h)
        angle = torch.atan2(m[:, 1], m[:, 0] + 1e-12).unsqueeze(1) / self.symmetry
        return torch.cat([angle, m[:, 2:]], dim=1), self.logvar(h).clamp(-14.0, 8.0)


def run_trunk(coords, a, c, step, acts, params) -> torch.Tensor:
    """Evaluate the spatial decoder's layers ``step`` windows at a time.

    ``acts`` is a list of ``n_layers + 1`` tensors ``(B * P, H)`` that receive the layer
    inputs ``h0 .. h_n`` (kept for the backward pass), or None to use two chunk-sized
    buffers (inference).
    """
    weights, biases = params[0::2], params[1::2]
    b, h, _ = a.shape
    p = coords.shape[0]
    out = a.new_empty(b * p, weights[-1].shape[0])
    scratch = None if acts is not None else [a.new_empty(step * p, h) for _ in range(2)]
    for s0 in range(0, b, step):
        s1 = min(b, s0 + step)
        rows = slice(s0 * p, s1 * p)
        r = (s1 - s0) * p

        def slot(i, rows=rows, r=r):
            return acts[i][rows] if scratch is None else scratch[i % 2][:r]

        x = slot(0)
        torch.baddbmm(c[s0:s1].unsqueeze(1), coords.expand(s1 - s0, p, 2),
                      a[s0:s1].transpose(1, 2), out=x.view(s1 - s0, p, h))
        x.tanh_()
        for i in range(len(weights) - 1):
            nxt = slot(i + 1)
            torch.addmm(biases[i], x, weights[i].t(), out=nxt)
            x = nxt.tanh_()
        torch.addmm(biases[-1], x, weights[-1].t(), out=out[rows])
    return out


class _FusedTrunk(torch.autograd.Function):
    """The spatial decoder's MLP, evaluated chunk by chunk with a hand-written backward.

    Computes, for every window ``b`` and pixel ``p``, ``h0 = tanh(A_b p + c_b)``, then
    ``h_{i+1} = tanh(W_i h_i + b_i)`` and the output ``W_o h_n + b_o``: exactly the layers of
    the spatial decoder. Rows are processed in chunks of a few windows (about 2048 pixels) so
    that every activation is still in the CPU cache when the next layer, the ``tanh`` and, in
    the backward pass, the ``tanh`` derivative and the bias gradients read it; the weight
    gradients accumulate chunk by chunk, and the activations are written into buffers that
    are reused from step to step. This cuts the memory traffic (and allocations) of the plain
    autograd graph without changing the function or its gradients (tested).
    """

    @staticmethod
    def forward(ctx, coords, a, c, rows_per_chunk, acts, *params):
        weights = params[0::2]
        b, h, _ = a.shape
        p = coords.shape[0]
        step = max(1, rows_per_chunk // p)
        out = run_trunk(coords, a, c, step, acts, params)
        ctx.save_for_backward(coords, *acts, *weights)
        ctx.dims = (b, h, p, step, len(weights))
        return out

    @staticmethod
    def backward(ctx, gout):
        b, h, p, step, n = ctx.dims
        saved = ctx.saved_tensors
        coords, acts, weights = saved[0], saved[1:1 + n], saved[1 + n:]
        gout = gout.contiguous()
        ga = coords.new_empty(b, h, 2)
        gc = coords.new_empty(b, h)
        gw = [torch.zeros_like(w) for w in weights]
        gb = [w.new_zeros(w.shape[0]) for w in weights]
        # two chunk-sized work buffers, reused: no allocation (and page faults) per layer
        work = [coords.new_empty(step * p, h), coords.new_empty(step * p, h)]
        tanh_backward = torch.ops.aten.tanh_backward.grad_input
        for s0 in range(0, b, step):
            s1 = min(b, s0 + step)
            rows = slice(s0 * p, s1 * p)
            r = (s1 - s0) * p
            g = gout[rows]
            for i in range(n - 1, -1, -1):
                x = acts[i][rows]
                gw[i].addmm_(g.t(), x)
                gb[i] += g.sum(0)
                buf = work[i % 2][:r]
                torch.mm(g, weights[i], out=buf)
                g = tanh_backward(buf, x, grad_input=buf)
            g = g.view(s1 - s0, p, h)
            torch.bmm(g.transpose(1, 2), coords.expand(s1 - s0, p, 2), out=ga[s0:s1])
            torch.sum(g, dim=1, out=gc[s0:s1])
        grads = [None, ga, gc, None, None]
        for w_, b_ in zip(gw, gb, strict=True):
            grads += [w_, b_]
        return tuple(grads)


class SpatialDecoder(nn.Module):
    """Coordinate MLP evaluated at the rotated/shifted grid (the paper's spatial decoder)."""

    #: rows (pixels x windows) per chunk and per torch thread of the fused evaluation
    rows_per_thread = 4096

    def __init__(self, n_channels: int, window: int, latent_dim: int, hidden: int,
                 n_layers: int):
        super().__init__()
        self.n_channels = n_channels
        self.window = window
        self.register_buffer("coords", window_coords(window), persistent=False)
        self.fc_coord = nn.Linear(2, hidden)
        self.fc_latent = nn.Linear(latent_dim, hidden, bias=False)
        self.hidden = _tanh_mlp([hidden] * (n_layers + 1))
        self.out = nn.Linear(hidden, n_channels)
        self.fused = True

    def _workspace(self, rows: int, h: int, n: int, like: torch.Tensor) -> list[torch.Tensor]:
        """Activation buffers reused from one training step to the next.

        Reusing them avoids allocating (and page-faulting) ``n x rows x H`` floats per step.
        Autograd's version counters protect the reuse: running a backward pass after the
        buffers were overwritten by another forward raises an error instead of giving wrong
        gradients. :meth:`release_workspace` frees them.
        """
        ws = getattr(self, "_ws", None)
        if (ws is None or len(ws) != n or ws[0].shape != (rows, h) or ws[0].dtype != like.dtype
                or ws[0].device != like.device):
            ws = [like.new_empty(rows, h) for _ in range(n)]
            self._ws = ws
        return ws

    def release_workspace(self) -> None:
        """Free the activation buffers kept between training steps."""
        self._ws = None

    def first_layer(self, angle, shift, z) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-window affine map of the first layer: ``pre0 = p @ A^T + c``."""
        m, t = inverse_pose(angle, shift)                            # p' = M p + t
        w_c = self.fc_coord.weight                                   # (H, 2)
        a = torch.matmul(w_c, m)                                     # (B, H, 2) = W_c M
        c = self.fc_coord.bias + t @ w_c.T + self.fc_latent(z)       # (B, H)
        return a, c

    def forward(self, angle: torch.Tensor, shift: torch.Tensor, z: torch.Tensor
                ) -> torch.Tensor:
        b = angle.shape[0]
        a, c = self.first_layer(angle, shift, z)
        if self.fused and a.device.type == "cpu":
            params = []
            for layer in (*self.hidden[0::2], self.out):
                params += [layer.weight, layer.bias]
            p, h = self.coords.shape[0], a.shape[1]
            rows = self.rows_per_thread * max(1, torch.get_num_threads())
            step = max(1, rows // p)
            if torch.is_grad_enabled() and (a.requires_grad or c.requires_grad):
                out = _FusedTrunk.apply(self.coords, a, c, rows,
                                        self._workspace(b * p, h, len(params) // 2, a),
                                        *params)
            else:
                out = run_trunk(self.coords, a, c, step, None, params)
            out = out.view(b, -1, self.n_channels)
        else:
            h = torch.baddbmm(c.unsqueeze(1), self.coords.expand(b, -1, -1),
                              a.transpose(1, 2))                     # (B, P, H)
            out = self.out(self.hidden(torch.tanh(h)))               # (B, P, C)
        return out.transpose(1, 2).reshape(b, self.n_channels, self.window, self.window)


class FastDecoder(nn.Module):
    """Template MLP on a ~1.5x canvas, resampled at the transformed grid by ``grid_sample``."""

    def __init__(self, n_channels: int, window: int, latent_dim: int, hidden: int,
                 n_layers: int):
        super().__init__()
        self.n_channels = n_channels
        self.window = window
        margin = math.ceil(0.25 * window) + 1
        self.canvas = window + 2 * margin                # canvas pixel k = window pixel k - m
        half = max((window - 1) / 2.0, 0.5)
        # coordinate q -> canvas pixel q * half + (w // 2 + margin) -> grid_sample's [-1, 1]
        self.scale = 2.0 * half / (self.canvas - 1)
        self.offset = 2.0 * (window_bounds(window)[0] + margin) / (self.canvas - 1) - 1.0
        self.register_buffer("coords", window_coords(window), persistent=False)
        self.template = _tanh_mlp([latent_dim] + [hidden] * n_layers + [
            n_channels * self.canvas * self.canvas], last_activation=False)

    def render(self, z: torch.Tensor) -> torch.Tensor:
        """Unrotated content ``(B, C, canvas, canvas)``."""
        return self.template(z).reshape(z.shape[0], self.n_channels, self.canvas, self.canvas)

    def forward(self, angle: torch.Tensor, shift: torch.Tensor, z: torch.Tensor
                ) -> torch.Tensor:
        b = angle.shape[0]
        tmpl = self.render(z)
        m, t = inverse_pose(angle, shift)
        grid = torch.baddbmm((t * self.scale + self.offset).unsqueeze(1),
                             self.coords.expand(b, -1, -1),
                             (m * self.scale).transpose(1, 2))       # (B, P, 2)
        grid = grid.reshape(b, self.window, self.window, 2)
        return F.grid_sample(tmpl, grid, mode="bilinear", padding_mode="border",
                             align_corners=True)


class RVAENet(nn.Module):
    """Encoder + decoder; latents ordered ``[angle, (dx, dy), z1..zd]``."""

    def __init__(self, *, n_channels: int, window: int, latent_dim: int, translation: bool,
                 decoder: str, hidden: int, n_layers: int, encoder_hidden: int,
                 encoder_layers: int, translation_prior: float, learn_sigma: bool,
                 sigma: float, symmetry: int = 1):
        super().__init__()
        self.n_channels = n_channels
        self.window = window
        self.latent_dim = latent_dim
        self.translation = translation
        self.n_pose = 3 if translation else 1
        self.translation_prior = translation_prior
        self.encoder = RVAEEncoder(n_channels * window * window, self.n_pose + latent_dim,
                                   encoder_hidden, encoder_layers, symmetry)
        dec = SpatialDecoder if decoder == "spatial" else FastDecoder
        self.decoder = dec(n_channels, window, latent_dim, hidden, n_layers)
        if learn_sigma:
            self.log_sigma = nn.Parameter(torch.tensor(math.log(sigma)))
        else:
            self.register_buffer("log_sigma", torch.tensor(math.log(sigma)))

    def split(self, lat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Return ``angle (B,)``, ``shift (B, 2)`` in window units and content ``z``."""
        angle = lat[:, 0]
        if self.translation:
            shift = lat[:, 1:3] * self.translation_prior
        else:
            shift = lat.new_zeros(lat.shape[0], 2)
        return angle, shift, lat[:, self.n_pose:]

    def decode(self, angle, shift, z) -> torch.Tensor:
        return self.decoder(angle, shift, z)
