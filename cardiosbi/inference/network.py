"""The trainable NPE network: embedding net + density estimator + the theta bijection."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from cardiosbi.inference.bijection import BoxToStandard, check_bounds
from cardiosbi.inference.estimators import EstimatorConfig, build_estimator
from cardiosbi.nn.factory import EmbeddingConfig, build_embedding


class NPENetwork(nn.Module):
    """q(theta | x) = estimator(theta_std | embed(x)) with theta_std = BoxToStandard(theta),
    the theta map onto R being ``estimator.theta_map``.

    The bounds and the standardisation statistics of theta and x are buffers, so a state dict
    holds everything needed to evaluate the posterior again.
    """

    def __init__(
        self,
        x_shape: tuple[int, ...],
        low: Tensor,
        high: Tensor,
        embedding: EmbeddingConfig,
        estimator: EstimatorConfig,
    ) -> None:
        super().__init__()
        low = torch.as_tensor(low, dtype=torch.float64)
        high = torch.as_tensor(high, dtype=torch.float64)
        check_bounds(low, high)
        k = low.numel()
        self.register_buffer("low", low)
        self.register_buffer("high", high)
        self.register_buffer("theta_mean", torch.zeros(k, dtype=torch.float64))
        self.register_buffer("theta_std", torch.ones(k, dtype=torch.float64))
        self.embedding_net = build_embedding(embedding, tuple(x_shape))
        self.estimator = build_estimator(estimator, k, self.embedding_net.out_features)
        self.theta_map = estimator.theta_map
        self.x_shape = tuple(x_shape)

    @torch.no_grad()
    def fit_standardization(self, theta: Tensor, x: Tensor) -> None:
        """Fit theta (after the map onto R) and x standardisation on a training sample."""
        u = self.bijection(identity_scale=True).unconstrained(theta.double())
        self.theta_mean.copy_(u.mean(dim=0))
        self.theta_std.copy_(u.std(dim=0).clamp(min=1e-8))
        self.embedding_net.standardize.fit(x)

    def bijection(self, identity_scale: bool = False) -> BoxToStandard:
        """Physical theta -> standardised theta (its ``.inv`` goes back)."""
        mean = torch.zeros_like(self.theta_mean) if identity_scale else self.theta_mean
        std = torch.ones_like(self.theta_std) if identity_scale else self.theta_std
        return BoxToStandard(self.low, self.high, mean, std, self.theta_map)

    def embed(self, x: Tensor) -> Tensor:
        return self.embedding_net(x)

    def distribution(self, context: Tensor):
        """Distribution over standardised theta given the embedding ``context`` (B, E)."""
        return self.estimator(context)

    def loss(self, theta: Tensor, x: Tensor) -> Tensor:
        """Training loss for physical ``theta`` (B, k) and raw ``x``."""
        theta_std = self.bijection()(theta)
        return self.estimator.loss(theta_std, self.embed(x))
