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

Calibration (measured in ``experiments/hai/coverage_diagnostics.py``): on ~100 labelled windows
a flow trained for a fixed 300 full-batch epochs on one simulation per window over-fits (its
held-out NLL is 4-7 nats above its best; its own 90 % intervals for fresh x_sim cover 54-64 %),
and HAI's θ intervals under-cover (0.75-0.81 at 90 %). Several simulations per labelled window
and an epoch count chosen on held-out labelled windows (``val_fraction``) fix that; more x_sim
draws at inference do not.
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
        self.fit_report: dict[str, Any] = {}  # how fit_misspecification chose its epochs

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
                         weight_decay: float = 1e-4, val_fraction: float = 0.0,
                         ) -> MisspecificationFlow:
    """Fit p(x_sim | x_obs) by full-batch maximum likelihood (N is small).

    ``x_obs`` (N, d) labelled real rows; ``x_sim`` (N, d) one simulation per row at the row's
    θ, or (N, K, d) K simulations per row with fresh nuisance draws: more Monte Carlo samples
    of the same objective E log p(x_sim | x_obs), so the flow sees the simulator's own spread
    instead of memorising one draw per label.

    ``val_fraction`` > 0: the epoch count is chosen by early stopping, the best held-out
    log-likelihood on that share of the labelled rows (split by row, so a row's K simulations
    stay together), and the flow is then refitted on all rows for that many epochs. The choice
    is kept in the returned flow's ``fit_report``."""
    if epochs < 1 or not 0 <= val_fraction < 1:
        raise ConfigError(f"epochs must be >= 1 and val_fraction in [0, 1), got {epochs} and "
                          f"{val_fraction}")
    x_obs, x_sim = _paired_rows(x_obs, x_sim)
    report = {"epochs": int(epochs), "pairs_per_row": int(x_sim.shape[1])}
    if val_fraction > 0:
        n_val = max(1, round(val_fraction * len(x_obs)))
        if len(x_obs) - n_val < 2:
            raise ConfigError(f"{len(x_obs)} labelled rows are too few to hold out {n_val}")
        order = torch.randperm(len(x_obs), generator=torch.Generator().manual_seed(seed))
        fit, held = order[n_val:], order[:n_val]
        _, curve = _train_flow(x_obs[fit], x_sim[fit], epochs, lr, hidden, transforms, seed,
                               weight_decay, (x_obs[held], x_sim[held]))
        report.update(epochs=int(curve.argmin()) + 1, held_out_nll=float(curve.min()),
                      held_out_nll_last=float(curve[-1]), held_out_rows=n_val)
    model, _ = _train_flow(x_obs, x_sim, report["epochs"], lr, hidden, transforms, seed,
                           weight_decay)
    model.fit_report = report
    return model


def _paired_rows(x_obs: Tensor, x_sim: Tensor) -> tuple[Tensor, Tensor]:
    """(N, d) and (N, K, d) float tensors, checked."""
    x_obs = torch.as_tensor(x_obs, dtype=torch.float32)
    x_sim = torch.as_tensor(x_sim, dtype=torch.float32)
    x_obs = x_obs.reshape(len(x_obs), -1)
    x_sim = x_sim[:, None] if x_sim.ndim == 2 else x_sim
    if x_sim.ndim != 3 or x_sim.shape[0] != x_obs.shape[0] or x_sim.shape[2] != x_obs.shape[1] \
            or len(x_obs) < 2:
        raise ConfigError(f"need >= 2 labelled rows (N, d) with simulations (N, d) or (N, K, d), "
                          f"got {tuple(x_obs.shape)} and {tuple(x_sim.shape)}")
    if not (torch.isfinite(x_obs).all() and torch.isfinite(x_sim).all()):
        raise SignalError("paired rows contain NaN/inf")
    return x_obs, x_sim


def _train_flow(x_obs: Tensor, x_sim: Tensor, epochs: int, lr: float, hidden: int,
                transforms: int, seed: int, weight_decay: float,
                held_out: tuple[Tensor, Tensor] | None = None,
                ) -> tuple[MisspecificationFlow, Tensor]:
    """Full-batch AdamW on (x_obs (N, d), x_sim (N, K, d)); the per-epoch held-out NLL (or an
    empty tensor) comes back with the flow."""
    k = x_sim.shape[1]
    obs, sim = x_obs.repeat_interleave(k, 0), x_sim.reshape(-1, x_sim.shape[2])
    both = torch.cat([x_obs, sim])
    torch.manual_seed(seed)
    model = MisspecificationFlow(x_obs.shape[1], both.mean(0), both.std(0).clamp_min(1e-6),
                                 hidden, transforms)
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    if held_out is not None:
        held_obs = held_out[0].repeat_interleave(held_out[1].shape[1], 0)
        held_sim = held_out[1].reshape(-1, x_sim.shape[2])
    curve = []
    for _ in range(epochs):
        optimiser.zero_grad()
        loss = -model.log_prob(sim, obs).mean()
        loss.backward()
        optimiser.step()
        if held_out is not None:
            with torch.no_grad():
                curve.append(-float(model.log_prob(held_sim, held_obs).mean()))
    return model.eval(), torch.tensor(curve)


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
