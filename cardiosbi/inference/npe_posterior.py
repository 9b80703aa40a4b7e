"""The NPE posterior: an :class:`NPENetwork` wrapped in the :class:`Posterior` interface."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution, Transform

from cardiosbi.errors import SignalError
from cardiosbi.inference.config import NPEConfig
from cardiosbi.inference.network import NPENetwork
from cardiosbi.inference.posterior import Posterior


class NPEPosterior(Posterior):
    """q(theta | x) from one trained embedding net + density estimator.

    Besides the :class:`Posterior` API it exposes the pieces RoPE calibration needs:
    ``embedding_net``, ``embed``, ``flow_distribution`` (over standardised theta) and the
    ``to_physical`` / ``from_physical`` transforms.
    """

    kind = "npe"

    def __init__(
        self,
        network: NPENetwork,
        config: NPEConfig,
        parameter_names: Sequence[str],
        units: Sequence[str] | None = None,
        reject_width90: Tensor | None = None,
        training: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(parameter_names, network.low, network.high, units, reject_width90)
        self.network = network.eval()
        self.config = config
        self.training = dict(training or {})

    # --- building blocks (used by RoPE and the hybrid model) -------------------------------
    @property
    def embedding_net(self) -> torch.nn.Module:
        return self.network.embedding_net

    @property
    def device(self) -> torch.device:
        return self.network.low.device

    def to(self, device: str | torch.device) -> NPEPosterior:
        """Move the network to ``device`` (in place) and return self."""
        self.network.to(device)
        return self

    def embed(self, x: Tensor) -> Tensor:
        """Embedding (B, E) of raw ``x``."""
        return self.network.embed(self.as_input(x))

    def flow_distribution(self, embedding: Tensor) -> Distribution:
        """q(theta_std | embedding): a distribution over standardised unconstrained theta."""
        return self.network.distribution(embedding)

    @property
    def bijection(self) -> Transform:
        """Physical theta -> standardised theta (``.inv`` maps back), with its log-det."""
        return self.network.bijection()

    def from_physical(self, theta: Tensor) -> Tensor:
        return self.bijection(theta.to(self.device, torch.float32))

    def to_physical(self, theta_std: Tensor) -> Tensor:
        return self.bijection.inv(theta_std)

    # --- Posterior API ------------------------------------------------------------------------
    def valid_rows(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        flat = x.reshape(x.shape[0], -1)
        if self.config.model.embedding.missing_mask:
            # Missing samples (NaN) are allowed, but an inf is a corrupt value, and an all-missing
            # window carries no information.
            return ~torch.isinf(flat).any(dim=1) & ~torch.isnan(flat).all(dim=1)
        return torch.isfinite(flat).all(dim=1)

    @torch.no_grad()
    def sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        self.check_rows(x)
        distribution = self.flow_distribution(self.embed(x))
        shape = (n, *distribution.batch_shape, *distribution.event_shape)
        # Every estimator has a N(0, I) base, so seeded base draws pushed through the inverse
        # transform are exact samples, reproducible with ``generator``.
        device = generator.device if generator is not None else self.device
        z = torch.randn(shape, generator=generator, device=device).to(self.device)
        return self.to_physical(distribution.transform.inv(z))

    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        self.check_rows(x)
        theta = torch.as_tensor(theta).to(self.device, torch.float32)
        bijection = self.bijection
        theta_std = bijection(theta)
        distribution = self.flow_distribution(self.embed(x))
        return distribution.log_prob(theta_std) + bijection.log_abs_det_jacobian(theta, theta_std)

    def as_input(self, x: Tensor) -> Tensor:
        """``x`` as float32 on the network's device, checked against the trained row shape."""
        x = torch.as_tensor(x).to(self.device, torch.float32)
        expected = self.network.x_shape
        if tuple(x.shape[1:]) != expected:
            raise SignalError(f"x rows have shape {tuple(x.shape[1:])}, this posterior expects {expected}")
        return x

    # --- serialisation ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(),
            "x_shape": list(self.network.x_shape),
            "weights": {k: v.detach().cpu() for k, v in self.network.state_dict().items()},
            "parameter_names": self.parameter_names,
            "units": self.units,
            "reject_width90": self.reject_width90,
            "training": self.training,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> NPEPosterior:
        config = NPEConfig.from_saved(state["config"])
        weights = state["weights"]
        network = NPENetwork(
            tuple(state["x_shape"]), weights["low"], weights["high"],
            config.model.embedding, config.model.estimator,
        )
        network.load_state_dict(weights)
        return cls(
            network, config, state["parameter_names"], state["units"],
            state["reject_width90"], state.get("training"),
        )
