"""FitzHugh–Nagumo benchmark task: a spiking-neuron ODE observed through its membrane potential.

    du/dt = γ (u − u³/3 + v + ζ)
    dv/dt = −(u − θ0 + θ1 v) / γ

Only u(t) is observed, optionally with stationary AR(1) noise

    e_1 ~ N(0, σ²),  e_t = ρ e_{t−1} + σ √(1 − ρ²) ε_t,  ε_t ~ N(0, 1),

so the marginal noise standard deviation is σ whatever ρ. The task follows the study design
of Rudi, Bessac & Lenzi, "Parameter estimation with dense and convolutional neural networks
applied to the FitzHugh–Nagumo ODE" (MSML 2021): infer (θ0, θ1) from a noise-free or noisy
trace, or (θ0, θ1, σ, ρ) jointly.

Constants chosen here (documented because the benchmark numbers depend on them):
- γ = 3, ζ = 0 and the initial state (u, v) = (−1, 1): the classic setting of FitzHugh's model
  as used by Ramsay et al. (2007) for ODE parameter estimation;
- observation window t ∈ [0, 20] sampled at 200 points (Δt = 0.1; the first point is t = 0.1),
  which shows one to three spikes in the oscillatory regime;
- integration by classical RK4 with a fixed step of 0.01 (ten steps per observation), vectorised
  over the batch in float64; halving the step changes u by < 1e-6 (tested);
- prior: θ0 ~ U(0, 1), θ1 ~ U(0, 1) — a weakly informative box covering both sustained
  oscillations (small θ1) and damped, non-spiking traces (large θ1), which makes the inverse
  problem harder near the Hopf boundary; noise σ ~ U(0.05, 0.5), ρ ~ U(0, 0.9).

Never imports ``cardiosbi``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

PARAMETERS = ("theta0", "theta1")
NOISE_PARAMETERS = ("sigma", "rho")
PRIOR_BOUNDS = {"theta0": (0.0, 1.0), "theta1": (0.0, 1.0), "sigma": (0.05, 0.5), "rho": (0.0, 0.9)}


@dataclass(frozen=True)
class FHNConfig:
    """Model constants and observation grid (see the module docstring for the choices)."""

    gamma: float = 3.0
    zeta: float = 0.0
    u0: float = -1.0
    v0: float = 1.0
    t_end: float = 20.0
    n_obs: int = 200
    dt: float = 0.01

    @property
    def obs_times(self) -> np.ndarray:
        return np.linspace(self.t_end / self.n_obs, self.t_end, self.n_obs)


def parameter_names(noisy: bool) -> tuple[str, ...]:
    """Names of the inferred parameters: (θ0, θ1), plus (σ, ρ) in the noisy variant."""
    return PARAMETERS + NOISE_PARAMETERS if noisy else PARAMETERS


def prior_bounds(noisy: bool) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the uniform prior, in ``parameter_names(noisy)`` order."""
    names = parameter_names(noisy)
    return (np.array([PRIOR_BOUNDS[n][0] for n in names]),
            np.array([PRIOR_BOUNDS[n][1] for n in names]))


def sample_prior(n: int, rng: np.random.Generator, *, noisy: bool = False) -> np.ndarray:
    """``n`` draws from the uniform prior, shape (n, 2) or (n, 4)."""
    low, high = prior_bounds(noisy)
    return rng.uniform(low, high, size=(n, len(low)))


def solve(theta0, theta1, config: FHNConfig = FHNConfig()) -> np.ndarray:
    """Noise-free u at the observation times, shape (B, n_obs), for batches of (θ0, θ1)."""
    theta0 = np.atleast_1d(np.asarray(theta0, float))
    theta1 = np.atleast_1d(np.asarray(theta1, float))
    steps_per_obs = int(round(config.t_end / config.n_obs / config.dt))
    if steps_per_obs < 1 or not np.isclose(steps_per_obs * config.dt * config.n_obs, config.t_end):
        raise ValueError("dt must divide the observation interval t_end / n_obs")
    g, z = config.gamma, config.zeta

    def rhs(u, v):
        return g * (u - u**3 / 3 + v + z), -(u - theta0 + theta1 * v) / g

    u = np.full(theta0.shape, config.u0)
    v = np.full(theta0.shape, config.v0)
    h = config.dt
    out = np.empty((theta0.size, config.n_obs))
    for i in range(config.n_obs):
        for _ in range(steps_per_obs):
            k1u, k1v = rhs(u, v)
            k2u, k2v = rhs(u + 0.5 * h * k1u, v + 0.5 * h * k1v)
            k3u, k3v = rhs(u + 0.5 * h * k2u, v + 0.5 * h * k2v)
            k4u, k4v = rhs(u + h * k3u, v + h * k3v)
            u = u + h / 6 * (k1u + 2 * k2u + 2 * k3u + k4u)
            v = v + h / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        out[:, i] = u
    return out


def ar1_noise(sigma, rho, n_obs: int, rng: np.random.Generator) -> np.ndarray:
    """Stationary AR(1) noise with marginal std ``sigma`` and lag-1 correlation ``rho``, (B, n_obs)."""
    sigma = np.atleast_1d(np.asarray(sigma, float))[:, None]
    rho = np.atleast_1d(np.asarray(rho, float))[:, None]
    eps = rng.standard_normal((sigma.shape[0], n_obs))
    noise = np.empty_like(eps)
    noise[:, 0] = eps[:, 0]
    innovation = np.sqrt(1.0 - rho[:, 0] ** 2)
    for t in range(1, n_obs):
        noise[:, t] = rho[:, 0] * noise[:, t - 1] + innovation * eps[:, t]
    return sigma * noise


def simulate(
    theta, rng: np.random.Generator, *, noise: np.ndarray | None = None,
    config: FHNConfig = FHNConfig(),
) -> np.ndarray:
    """Observed traces u(t) (+ AR(1) noise), shape (B, n_obs).

    ``theta`` is (B, 2) for the noise-free model or (B, 4) = (θ0, θ1, σ, ρ) for the noisy one.
    ``noise`` = (σ, ρ) arrays of length B adds noise to a (B, 2) θ whose noise parameters are
    nuisances, not inferred (the 2-parameter noisy study).
    """
    theta = np.asarray(theta, float)
    if theta.ndim != 2 or theta.shape[1] not in (2, 4):
        raise ValueError(f"theta must have shape (B, 2) or (B, 4); got {theta.shape}")
    u = solve(theta[:, 0], theta[:, 1], config)
    if theta.shape[1] == 4:
        noise = (theta[:, 2], theta[:, 3])
    if noise is not None:
        u = u + ar1_noise(noise[0], noise[1], config.n_obs, rng)
    return u
