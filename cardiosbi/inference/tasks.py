"""Linear-Gaussian toy task with an analytic posterior: x = A theta + sigma * eps.

Used to check that trained posteriors are right (C2ST against exact samples, coverage) and as
``data=linear_gaussian`` for ``cardiosbi train``. With ``series_length`` > 0, x is a
one-channel series whose columns of A are smooth waveforms, so the CNN/TCN embeddings are
tested against an exact posterior too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from cardiosbi.errors import ConfigError


@dataclass
class LinearGaussianTask:
    """Prior ``normal`` (N(0, prior_scale^2 I), unbounded) or ``uniform`` (box +-prior_scale)."""

    dim: int = 2
    prior: str = "normal"
    prior_scale: float = 1.0
    noise_scale: float = 0.5
    series_length: int = 0

    def __post_init__(self) -> None:
        if self.prior not in ("normal", "uniform"):
            raise ConfigError(f"data.prior must be normal or uniform, got {self.prior!r}")
        if self.dim < 1 or self.prior_scale <= 0 or self.noise_scale <= 0:
            raise ConfigError("data.dim must be >= 1 and data.prior_scale, data.noise_scale > 0")

    @property
    def names(self) -> list[str]:
        return [f"theta{i}" for i in range(self.dim)]

    def bounds(self) -> tuple[Tensor, Tensor]:
        limit = self.prior_scale if self.prior == "uniform" else math.inf
        return torch.full((self.dim,), -limit), torch.full((self.dim,), limit)

    def matrix(self) -> Tensor:
        """A: identity for vectors; for series, sinusoids of increasing frequency (T, dim)."""
        if self.series_length <= 0:
            return torch.eye(self.dim, dtype=torch.float64)
        t = torch.linspace(0, 1, self.series_length, dtype=torch.float64)
        columns = [torch.sin(2 * math.pi * (j + 1) * t + j) for j in range(self.dim)]
        return torch.stack(columns, dim=1) / math.sqrt(self.series_length / 2)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        if self.prior == "normal":
            return self.prior_scale * torch.randn(n, self.dim, generator=generator, dtype=torch.float64)
        u = torch.rand(n, self.dim, generator=generator, dtype=torch.float64)
        return self.prior_scale * (2 * u - 1)

    def simulate(self, theta: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """x for each row of ``theta``: (N, dim) vectors or (N, 1, series_length) series."""
        a = self.matrix()
        mean = theta.double() @ a.T
        x = mean + self.noise_scale * torch.randn(mean.shape, generator=generator, dtype=torch.float64)
        x = x.float()
        return x[:, None, :] if self.series_length > 0 else x

    def sample_joint(self, n: int, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        theta = self.sample_prior(n, generator)
        return theta.float(), self.simulate(theta, generator)

    def gaussian_posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Mean (B, k) and covariance (k, k) of the Gaussian-prior posterior (or of the
        untruncated Gaussian a uniform prior truncates)."""
        a = self.matrix()
        flat = x.reshape(x.shape[0], -1).double()
        precision = a.T @ a / self.noise_scale**2
        if self.prior == "normal":
            precision = precision + torch.eye(self.dim, dtype=torch.float64) / self.prior_scale**2
        covariance = torch.linalg.inv(precision)
        mean = flat @ a @ covariance.T / self.noise_scale**2
        return mean, covariance

    def reference_posterior_samples(
        self, x: Tensor, n: int, generator: torch.Generator | None = None, max_rounds: int = 1000
    ) -> Tensor:
        """Exact posterior draws (n, B, k); a uniform prior truncates by rejection."""
        mean, covariance = self.gaussian_posterior(x)
        chol = torch.linalg.cholesky(covariance)
        out = torch.empty(n, mean.shape[0], self.dim, dtype=torch.float64)
        for b in range(mean.shape[0]):
            kept, rounds = [], 0
            while sum(len(k) for k in kept) < n:
                draws = mean[b] + torch.randn(n, self.dim, generator=generator, dtype=torch.float64) @ chol.T
                if self.prior == "uniform":
                    draws = draws[(draws.abs() < self.prior_scale).all(dim=1)]
                kept.append(draws)
                rounds += 1
                if rounds > max_rounds:
                    raise RuntimeError("rejection sampling of the truncated posterior did not finish")
            out[:, b] = torch.cat(kept)[:n]
        return out
