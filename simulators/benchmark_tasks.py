"""Standard SBI benchmark tasks with known posteriors: linear Gaussian and two moons.

Both follow sbibm (Lueckmann et al., AISTATS 2021) so results compare with published numbers.
They are forward models only (numpy), used to test the inference engine and its diagnostics
against exact posteriors. This module never imports ``cardiosbi``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LinearGaussian:
    """θ ~ N(prior_mean, prior_std² I), x = A θ + ε, ε ~ N(0, noise_std² I).

    The posterior is Gaussian in closed form, which makes this the reference task for
    coverage, SBC and TARP checks. ``A`` defaults to the identity (sbibm's gaussian_linear
    with its 0.1 noise scale uses identity and dimension 10).
    """

    dim: int = 2
    prior_mean: float = 0.0
    prior_std: float = 1.0
    noise_std: float = 0.5
    matrix: np.ndarray | None = None

    @property
    def design(self) -> np.ndarray:
        return np.eye(self.dim) if self.matrix is None else np.asarray(self.matrix, float)

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` parameter vectors, shape (n, dim)."""
        return self.prior_mean + self.prior_std * rng.standard_normal((n, self.dim))

    def simulate(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Noisy observations for each row of ``theta``, shape (n, rows of A)."""
        mean = np.asarray(theta, float) @ self.design.T
        return mean + self.noise_std * rng.standard_normal(mean.shape)

    def posterior_params(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact posterior mean (B, dim) and covariance (dim, dim) for observations (B, D)."""
        a = self.design
        precision = np.eye(self.dim) / self.prior_std**2 + a.T @ a / self.noise_std**2
        cov = np.linalg.inv(precision)
        rhs = self.prior_mean / self.prior_std**2 + np.asarray(x, float) @ a / self.noise_std**2
        return rhs @ cov.T, cov

    def sample_posterior(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` exact posterior draws per observation, shape (n, B, dim)."""
        mean, cov = self.posterior_params(x)
        chol = np.linalg.cholesky(cov)
        z = rng.standard_normal((n, mean.shape[0], self.dim))
        return mean[None] + z @ chol.T

    def log_posterior(self, theta: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Exact log posterior density of ``theta`` (..., B, dim) given ``x`` (B, D)."""
        mean, cov = self.posterior_params(x)
        diff = np.asarray(theta, float) - mean
        precision = np.linalg.inv(cov)
        maha = np.einsum("...i,ij,...j->...", diff, precision, diff)
        _, logdet = np.linalg.slogdet(cov)
        return -0.5 * (maha + logdet + self.dim * np.log(2 * np.pi))


@dataclass(frozen=True)
class TwoMoons:
    """sbibm's two-moons task: θ ~ U(-1, 1)², a bimodal crescent-shaped posterior.

    x = (r cos a + 0.25, r sin a) + (−|θ0 + θ1| / √2, (−θ0 + θ1) / √2), with
    a ~ U(−π/2, π/2) and r ~ N(0.1, 0.01²).
    """

    low: float = -1.0
    high: float = 1.0
    r_mean: float = 0.1
    r_std: float = 0.01

    dim: int = 2

    def sample_prior(self, n: int, rng: np.random.Generator) -> np.ndarray:
        return rng.uniform(self.low, self.high, size=(n, 2))

    def _crescent(self, n: int, rng: np.random.Generator) -> np.ndarray:
        a = rng.uniform(-np.pi / 2, np.pi / 2, size=n)
        r = self.r_mean + self.r_std * rng.standard_normal(n)
        return np.stack([r * np.cos(a) + 0.25, r * np.sin(a)], axis=1)

    def simulate(self, theta: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        theta = np.asarray(theta, float)
        shift = np.stack(
            [-np.abs(theta[:, 0] + theta[:, 1]) / np.sqrt(2), (-theta[:, 0] + theta[:, 1]) / np.sqrt(2)],
            axis=1,
        )
        return self._crescent(len(theta), rng) + shift

    def sample_posterior(self, x: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
        """Exact posterior draws for one observation ``x`` (2,), shape (n, 2).

        The map θ → shift is piecewise linear with constant |Jacobian| and the prior is flat,
        so inverting crescent draws (random branch of the absolute value, rejection outside
        the prior box) yields exact posterior samples — sbibm's reference construction.
        """
        x = np.asarray(x, float).reshape(2)
        out: list[np.ndarray] = []
        have = 0
        while have < n:
            q = x - self._crescent(4 * n, rng)
            q = q[q[:, 0] <= 0]  # −|θ0+θ1|/√2 can only be non-positive
            total = -np.sqrt(2) * q[:, 0] * rng.choice([-1.0, 1.0], size=len(q))
            diff = np.sqrt(2) * q[:, 1]  # θ1 − θ0
            theta = np.stack([(total - diff) / 2, (total + diff) / 2], axis=1)
            inside = np.all((theta >= self.low) & (theta <= self.high), axis=1)
            out.append(theta[inside])
            have += int(inside.sum())
        return np.concatenate(out)[:n]
