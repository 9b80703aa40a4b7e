"""The pendulum benchmark of RoPE (Wehenkel et al., ICML 2025), simulator and "real" process.

θ = (ω0, A): natural frequency [rad/s] and amplitude. The simulator observes
``A·cos(ω0·t + φ) + ε`` at 200 times over 10 s with a random phase φ ~ U(−π, π) and white noise
ε ~ N(0, σ²); the "real" process multiplies the oscillation by a damping factor e^(−α t) with
α ~ U[0, 1] that the simulator does not know — a controlled misspecification.

Prior (the paper's box): ω0 ~ U[0, 3], A ~ U[0.5, 10].
"""

from __future__ import annotations

import torch

PARAMETER_NAMES = ("omega0", "amplitude")
LOW = torch.tensor([0.0, 0.5])
HIGH = torch.tensor([3.0, 10.0])
N_TIMES = 200
DURATION_S = 10.0
NOISE_STD = 0.5


def sample_prior(n: int, generator: torch.Generator) -> torch.Tensor:
    """θ ~ U(box), shape (n, 2)."""
    return LOW + (HIGH - LOW) * torch.rand(n, 2, generator=generator)


def times() -> torch.Tensor:
    """Observation times, 200 points over [0, 10) s."""
    return torch.arange(N_TIMES) * (DURATION_S / N_TIMES)


def simulate(theta: torch.Tensor, generator: torch.Generator, *, damped: bool = False,
             noise_std: float = NOISE_STD) -> torch.Tensor:
    """Observations (n, 1, 200) for θ (n, 2); ``damped=True`` gives the "real" process."""
    n = theta.shape[0]
    t = times().to(theta)
    omega0, amplitude = theta[:, :1], theta[:, 1:]
    phase = (2 * torch.rand(n, 1, generator=generator) - 1) * torch.pi
    signal = amplitude * torch.cos(omega0 * t + phase)
    if damped:
        alpha = torch.rand(n, 1, generator=generator)
        signal = signal * torch.exp(-alpha * t)
    noise = noise_std * torch.randn(n, N_TIMES, generator=generator)
    return (signal + noise).unsqueeze(1)
