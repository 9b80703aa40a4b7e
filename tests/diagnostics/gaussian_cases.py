"""Exact posteriors of conjugate Gaussian models, and miscalibrated versions of them."""

from __future__ import annotations

import numpy as np
import torch

from simulators.benchmark_tasks import LinearGaussian


def exact_case(n_cases: int, n_draws: int, seed: int, task: LinearGaussian | None = None):
    """(task, theta (B, k), x (B, D), exact posterior draws (n, B, k))."""
    task = task or LinearGaussian(dim=2, noise_std=0.5)
    rng = np.random.default_rng(seed)
    theta = task.sample_prior(n_cases, rng)
    x = task.simulate(theta, rng)
    return task, theta, x, task.sample_posterior(x, n_draws, rng)


def rescaled(samples: np.ndarray, factor: float) -> np.ndarray:
    """Draws pulled towards (factor < 1: overconfident) or pushed from (> 1) their mean."""
    mean = samples.mean(axis=0, keepdims=True)
    return mean + factor * (samples - mean)


class ExactGaussianPosterior:
    """The analytic posterior of a LinearGaussian task behind the Posterior interface."""

    def __init__(self, task: LinearGaussian):
        self.task = task
        self.parameter_names = [f"theta{i}" for i in range(task.dim)]

    def sample(self, sample_shape, x, generator=None):
        (n,) = sample_shape
        seed = int(torch.randint(0, 2**31 - 1, (1,), generator=generator))
        draws = self.task.sample_posterior(x.numpy(), n, np.random.default_rng(seed))
        return torch.as_tensor(draws, dtype=torch.float32)

    def log_prob(self, theta, x):
        return torch.as_tensor(self.task.log_posterior(theta.numpy(), x.numpy()))
