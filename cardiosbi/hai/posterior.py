"""HAI: p(θ | x_obs) ≈ (1/M) Σ_m q(θ | x_sim_m), x_sim_m ~ p(x_sim | x_obs).

Placed in its own package, not in ``calibration/``: RoPE maps *embeddings* by optimal transport
and needs no generative model, while HAI learns a conditional density over the simulator's
*input space* (here: a low-dimensional feature vector, e.g. DC/AC/perfusion index per
wavelength) and shares no code with RoPE beyond the :class:`Posterior` contract. Structurally it
is the hybrid's composition (``cardiosbi.hybrid.posterior``), with a zuko conditional flow in
place of the CVAE.

Training pairs (Behrmann et al. 2025 as far as described in secondary summaries; no code was
released): each labelled real window (x_obs, θ) is paired with x_sim simulated at the same θ
with fresh nuisance draws; the flow maximises log p(x_sim | x_obs). Assumption: θ ⟂ x_obs |
x_sim, so the NPE is used unchanged (no joint fine-tuning).
"""

from __future__ import annotations

import math
from typing import Any

import torch
import zuko
from torch import Tensor

from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.inference.posterior import Posterior

# Seed of the x_sim draws behind ``log_prob`` (and of nothing else): it is deterministic.
LOG_PROB_SEED = 0


class MisspecificationFlow(torch.nn.Module):
    """Conditional NSF over z-scored x_sim given z-scored x_obs (both flat vectors of size d)."""

    def __init__(self, dim: int, mean: Tensor, std: Tensor, hidden: int = 64,
                 transforms: int = 3) -> None:
        super().__init__()
        self.dim, self.hidden, self.transforms = int(dim), int(hidden), int(transforms)
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32).reshape(dim))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32).reshape(dim))
        self.flow = zuko.flows.NSF(dim, dim, transforms=transforms, hidden_features=(hidden,) * 2)

    def scaled(self, x: Tensor) -> Tensor:
        return (x.reshape(len(x), -1).float() - self.mean) / self.std

    def log_prob(self, x_sim: Tensor, x_obs: Tensor) -> Tensor:
        return self.flow(self.scaled(x_obs)).log_prob(self.scaled(x_sim))

    def sample(self, x_obs: Tensor, m: int, generator: torch.Generator | None = None) -> Tensor:
        """(m, B, d) draws of x_sim in the feature's own units."""
        dist = self.flow(self.scaled(x_obs))
        if generator is None:
            z = dist.sample((m,))
        else:  # zuko draws from torch's global stream: seed a private one for reproducibility
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(int(torch.randint(2**62, (1,), generator=generator)))
                z = dist.sample((m,))
        return z * self.std + self.mean


def fit_misspecification(x_obs: Tensor, x_sim: Tensor, epochs: int = 300, lr: float = 3e-3,
                         hidden: int = 64, transforms: int = 3, seed: int = 0,
                         weight_decay: float = 1e-4) -> MisspecificationFlow:
    """Fit p(x_sim | x_obs) on paired rows (N, d) by full-batch maximum likelihood (N is small)."""
    x_obs, x_sim = (torch.as_tensor(a, dtype=torch.float32).reshape(len(a), -1)
                    for a in (x_obs, x_sim))
    if x_obs.shape != x_sim.shape or len(x_obs) < 2:
        raise ConfigError(f"need >= 2 paired rows of equal shape, got {tuple(x_obs.shape)} and "
                          f"{tuple(x_sim.shape)}")
    if not (torch.isfinite(x_obs).all() and torch.isfinite(x_sim).all()):
        raise SignalError("paired rows contain NaN/inf")
    both = torch.cat([x_obs, x_sim])
    torch.manual_seed(seed)
    model = MisspecificationFlow(x_obs.shape[1], both.mean(0), both.std(0).clamp_min(1e-6),
                                 hidden, transforms)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = -model.log_prob(x_sim, x_obs).mean()
        loss.backward()
        optimiser.step()
    return model.eval()


class HAIPosterior(Posterior):
    """Feature vectors x_obs (B, d) -> posterior over the NPE's parameters via M x_sim draws."""

    kind = "hai"

    def __init__(self, misspec: MisspecificationFlow, npe: Posterior, n_sim: int = 16,
                 training: dict | None = None) -> None:
        if n_sim < 1:
            raise ConfigError(f"n_sim (x_sim draws per window) must be >= 1, got {n_sim}")
        super().__init__(npe.parameter_names, npe.low, npe.high, npe.units, npe.reject_width90)
        self.misspec, self.npe, self.n_sim = misspec.eval(), npe, int(n_sim)
        self.training = dict(training or {})

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.misspec.dim,)

    def valid_rows(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        return torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)

    def _as_input(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 2 or x.shape[1] != self.misspec.dim:
            raise SignalError(f"HAI reads feature rows (B, {self.misspec.dim}); got {tuple(x.shape)}")
        return x

    def _sim_input(self, x_sim: Tensor) -> Tensor:
        """(m, B, d) draws -> (m * B, *npe.x_shape), the NPE's own input layout."""
        shape = self.npe.x_shape or (x_sim.shape[-1],)
        return x_sim.reshape(-1, *shape)

    @torch.no_grad()
    def sample_sim(self, x: Tensor, m: int | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
        """(m, B, d) draws of x_sim ~ p(· | x_obs)."""
        return self.misspec.sample(self._as_input(x), m or self.n_sim, generator)

    @torch.no_grad()
    def _sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        batch, m = len(x), self.n_sim
        per = math.ceil(n / m)
        sims = self._sim_input(self.sample_sim(x, m, generator))
        draws = self.npe._sample(sims, per, generator).cpu()           # (per, m * B, k)
        draws = draws.reshape(per, m, batch, -1).transpose(0, 1).reshape(per * m, batch, -1)
        order = torch.randperm(per * m, generator=generator)[:n]      # stratified over x_sim
        return draws[order]

    @torch.no_grad()
    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        x, _ = self._batched(x)
        generator = torch.Generator().manual_seed(LOG_PROB_SEED)
        m, batch = self.n_sim, len(x)
        sims = self._sim_input(self.sample_sim(x, m, generator))
        terms = self.npe.log_prob(torch.as_tensor(theta).repeat(m, 1), sims).reshape(m, batch)
        return torch.logsumexp(terms, dim=0) - math.log(m)

    def state(self) -> dict[str, Any]:
        from cardiosbi.inference.serialization import posterior_payload

        flow = self.misspec
        return {"misspec": {"dim": flow.dim, "hidden": flow.hidden, "transforms": flow.transforms,
                            "weights": {k: v.detach().cpu() for k, v in flow.state_dict().items()}},
                "npe": posterior_payload(self.npe), "n_sim": self.n_sim,
                "training": self.training}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HAIPosterior:
        from cardiosbi.inference.serialization import posterior_from_payload

        saved = state["misspec"]
        dim = int(saved["dim"])
        flow = MisspecificationFlow(dim, torch.zeros(dim), torch.ones(dim), int(saved["hidden"]),
                                    int(saved["transforms"]))
        flow.load_state_dict(saved["weights"])
        return cls(flow, posterior_from_payload(state["npe"]), int(state["n_sim"]),
                   state.get("training"))
