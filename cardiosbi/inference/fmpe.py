"""Flow-matching posterior estimation (FMPE; Wildberger et al., NeurIPS 2023).

A network v(t, theta_t, c) regresses the conditional optimal-transport velocity
u = theta_1 - (1 - sigma_min) theta_0 along theta_t = (1 - (1 - sigma_min) t) theta_0 + t theta_1,
theta_0 ~ N(0, I), theta_1 = the training parameter (standardised). At inference the ODE
d theta / dt = v is integrated from noise (t = 0) to data (t = 1); the density follows from the
instantaneous change of variables. zuko provides the ODE solver and the free-form-Jacobian
transform (exact trace); the loss and the velocity network are ours (zuko has no FM loss).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import zuko
from torch import Tensor, nn
from zuko.distributions import DiagNormal, NormalizingFlow
from zuko.transforms import FreeFormJacobianTransform


class TimeFeatures(nn.Module):
    """Sinusoidal features of t in [0, 1] so the MLP resolves fast changes near t = 1."""

    def __init__(self, frequencies: int = 4) -> None:
        super().__init__()
        self.register_buffer("scales", math.pi * 2.0 ** torch.arange(frequencies, dtype=torch.float32))
        self.out_features = 2 * frequencies + 1

    def forward(self, t: Tensor) -> Tensor:
        angles = t[..., None] * self.scales
        return torch.cat([t[..., None], torch.sin(angles), torch.cos(angles)], dim=-1)


class FlowMatchingEstimator(nn.Module):
    """Conditional density estimator over standardised theta trained by flow matching.

    Same interface as :class:`~cardiosbi.inference.estimators.ZukoFlowEstimator`:
    ``loss(theta, context)`` and ``forward(context) -> Distribution`` (a zuko
    :class:`NormalizingFlow` whose base is N(0, I), sampled and evaluated through the ODE).
    """

    def __init__(
        self,
        features: int,
        context: int,
        hidden: Sequence[int] = (128, 128, 128),
        sigma_min: float = 1e-4,
        atol: float = 1e-5,
        rtol: float = 1e-4,
    ) -> None:
        super().__init__()
        self.time = TimeFeatures()
        self.velocity_net = zuko.nn.MLP(features + context + self.time.out_features, features,
                                        hidden, activation=nn.ELU)
        self.features = features
        self.sigma_min = sigma_min
        self.atol, self.rtol = atol, rtol

    def velocity(self, t: Tensor, theta: Tensor, context: Tensor) -> Tensor:
        """v(t, theta, c); ``context`` broadcasts against the leading (sample) dims of theta."""
        context = context.expand(*theta.shape[:-1], context.shape[-1])
        t = torch.as_tensor(t, dtype=theta.dtype, device=theta.device).expand(theta.shape[:-1])
        return self.velocity_net(torch.cat([theta, context, self.time(t)], dim=-1))

    def loss(self, theta: Tensor, context: Tensor) -> Tensor:
        """Flow-matching regression loss (mean squared velocity error per dimension)."""
        t = torch.rand(theta.shape[0], device=theta.device, dtype=theta.dtype)
        noise = torch.randn_like(theta)
        theta_t = (1 - (1 - self.sigma_min) * t[:, None]) * noise + t[:, None] * theta
        target = theta - (1 - self.sigma_min) * noise
        return (self.velocity(t, theta_t, context) - target).square().mean()

    def forward(self, context: Tensor) -> NormalizingFlow:
        """p(theta | context): data -> noise by integrating the ODE from t = 1 back to t = 0."""

        def field(t: Tensor, theta: Tensor) -> Tensor:
            return self.velocity(t, theta, context)

        transform = FreeFormJacobianTransform(
            field, t0=1.0, t1=0.0, phi=self.parameters(), atol=self.atol, rtol=self.rtol, exact=True
        )
        zeros = torch.zeros(self.features, dtype=context.dtype, device=context.device)
        base = DiagNormal(zeros, torch.ones_like(zeros)).expand(context.shape[:-1])
        return NormalizingFlow(transform, base)
