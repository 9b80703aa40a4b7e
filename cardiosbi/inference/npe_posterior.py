"""The NPE posterior: an :class:`NPENetwork` wrapped in the :class:`Posterior` interface."""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution, Transform

from cardiosbi.errors import SignalError
from cardiosbi.inference.config import NPEConfig
from cardiosbi.inference.network import NPENetwork
from cardiosbi.inference.posterior import Posterior

log = logging.getLogger(__name__)

# With ``theta_map: truncated``: a window whose in-box fraction of draws is below this gets NaN
# draws instead of an unbounded rejection loop (its posterior lies outside the prior box: the
# window is out of the training distribution).
MIN_IN_BOX_FRACTION = 1e-3
# Monte Carlo draws per window for the in-box mass that normalises a truncated density; the
# standard error of its log is sqrt((1 - P) / (P M)): 0.005 nats at P = 0.9.
IN_BOX_DRAWS = 4096
# Rows x draws per block of the in-box mass estimate (memory bound).
_MASS_BLOCK = 2**20


class NPEPosterior(Posterior):
    """q(theta | x) from one trained embedding net + density estimator.

    Besides the :class:`Posterior` API it exposes the pieces RoPE calibration needs:
    ``embedding_net``, ``embed``, ``flow_distribution`` (over standardised theta), the
    ``to_physical`` / ``from_physical`` transforms, and ``draw`` / ``log_prob_given`` /
    ``log_in_box_mass`` given an embedding.

    With ``theta_map: truncated`` the flow's support is R^k: draws outside the prior box are
    rejected and redrawn, and densities are divided by the in-box mass of q(. | x), estimated
    from :data:`IN_BOX_DRAWS` seeded draws per window (so ``log_prob`` is deterministic).
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
        self._mass_cache: tuple[bytes, Tensor] | None = None

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
    @property
    def x_shape(self) -> tuple[int, ...]:
        return tuple(self.network.x_shape)

    def ood_features(self, x: Tensor) -> Tensor:
        with torch.no_grad():
            return self.embed(x)

    @property
    def reads_gaps(self) -> bool:
        # The mask channel alone is not enough: a model trained on gap-free windows never learnt
        # what a gap does to the posterior (files from before this summary say nothing: False).
        trained_on_gaps = self.training.get("windows_with_gaps", 0.0) > 0.0
        return bool(self.config.model.embedding.missing_mask) and trained_on_gaps

    def valid_rows(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        flat = x.reshape(x.shape[0], -1)
        if self.config.model.embedding.missing_mask:
            # Missing samples (NaN) are allowed, but an inf is a corrupt value, and an all-missing
            # window carries no information.
            return ~torch.isinf(flat).any(dim=1) & ~torch.isnan(flat).all(dim=1)
        return torch.isfinite(flat).all(dim=1)

    @torch.no_grad()
    def _sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        self.check_rows(x)
        return self.draw(self.embed(x), n, generator)

    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        x, _ = self._batched(x)
        self.check_rows(x)
        embedding = self.embed(x)
        log_mass = self._cached_log_mass(x, embedding) if self.bijection.truncates else 0.0
        return self.log_prob_given(theta, embedding) - log_mass

    # --- given an embedding (shared with RoPE) --------------------------------------------
    @torch.no_grad()
    def draw(self, embedding: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """(n, B, k) draws in physical units of q(theta | embedding), inside the prior box."""
        if not self.bijection.truncates:
            return self._draw_once(embedding, n, generator)
        return self._draw_in_box(embedding, n, generator)

    def log_prob_given(self, theta: Tensor, embedding: Tensor) -> Tensor:
        """log q(theta_b | embedding_b) in physical units, without the truncation's
        normalisation (subtract :meth:`log_in_box_mass` for a normalised density)."""
        theta = torch.as_tensor(theta).to(self.device, torch.float32)
        bijection = self.bijection
        theta_std = bijection(theta)
        distribution = self.flow_distribution(embedding)
        return distribution.log_prob(theta_std) + bijection.log_abs_det_jacobian(theta, theta_std)

    @torch.no_grad()
    def log_in_box_mass(self, embedding: Tensor) -> Tensor:
        """(B,) log of the mass q(. | embedding) puts inside the prior box: 0 for bijective
        theta maps; for ``truncated``, the in-box fraction of :data:`IN_BOX_DRAWS` draws per
        row (seed 0 every call: deterministic). A row with no draw inside gets log(0.5 / M)."""
        if not self.bijection.truncates:
            return torch.zeros(len(embedding), device=self.device)
        generator = torch.Generator(device=self.device).manual_seed(0)
        rows = max(1, _MASS_BLOCK // IN_BOX_DRAWS)
        counts = torch.cat([self._inside(self._draw_once(block, IN_BOX_DRAWS, generator)).sum(0)
                            for block in embedding.split(rows)])
        if bool((counts == 0).any()):
            log.warning("%d window(s) have no posterior draw inside the prior box out of %d; their "
                        "density is normalised with 0.5 / %d", int((counts == 0).sum()), IN_BOX_DRAWS,
                        IN_BOX_DRAWS)
        return torch.log(counts.clamp(min=0.5) / IN_BOX_DRAWS)

    def _cached_log_mass(self, x: Tensor, embedding: Tensor) -> Tensor:
        """:meth:`log_in_box_mass` of the last ``x`` seen again (diagnostics evaluate many
        theta per batch of windows; the normalisation depends on the windows alone)."""
        digest = hashlib.blake2b(torch.as_tensor(x).detach().cpu().numpy().tobytes(), digest_size=16)
        digest.update(str(self.device).encode())
        key = digest.digest()
        if self._mass_cache is None or self._mass_cache[0] != key:
            self._mass_cache = (key, self.log_in_box_mass(embedding))
        return self._mass_cache[1]

    def _draw_once(self, embedding: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        distribution = self.flow_distribution(embedding)
        shape = (n, *distribution.batch_shape, *distribution.event_shape)
        # Every estimator has a N(0, I) base, so seeded base draws pushed through the inverse
        # transform are exact samples, reproducible with ``generator``.
        device = generator.device if generator is not None else self.device
        z = torch.randn(shape, generator=generator, device=device).to(self.device)
        return self.to_physical(distribution.transform.inv(z))

    def _inside(self, theta: Tensor) -> Tensor:
        """Bool (n, B): draws strictly inside the box on every bounded dimension."""
        low, high = self.network.low.to(theta.dtype), self.network.high.to(theta.dtype)
        return ((theta > low) & (theta < high)).all(dim=-1)

    def _draw_in_box(self, embedding: Tensor, n: int, generator: torch.Generator | None) -> Tensor:
        """Rejection sampling in rounds over the windows still short of ``n`` in-box draws
        (kept in draw order): the first round draws ``n`` per window, later ones what the
        windows' in-box fractions so far say is missing, with a 20 % margin. NaN where a
        window's in-box fraction is below :data:`MIN_IN_BOX_FRACTION`."""
        batch, k = len(embedding), self.num_parameters
        out = torch.full((n, batch, k), math.nan, device=self.device)
        filled = torch.zeros(batch, dtype=torch.long, device=self.device)
        drawn = torch.zeros(batch, dtype=torch.long, device=self.device)
        while True:
            pending = ((filled < n) & (drawn * MIN_IN_BOX_FRACTION < n)).nonzero().flatten()
            if len(pending) == 0:
                break
            m = n
            if bool((drawn[pending] > 0).all()):
                fraction = (filled[pending] / drawn[pending]).clamp(min=MIN_IN_BOX_FRACTION)
                m = min(n, math.ceil(float(((n - filled[pending]) / fraction).max()) * 1.2) + 8)
            drawn[pending] += m
            theta = self._draw_once(embedding[pending], m, generator)
            inside = self._inside(theta)
            rank = inside.cumsum(dim=0)  # 1-based rank of each in-box draw within its window
            take = inside & (rank <= (n - filled[pending])[None, :])
            draw_index, column = take.nonzero(as_tuple=True)
            slot = filled[pending][column] + rank[draw_index, column] - 1
            out[slot, pending[column]] = theta[draw_index, column]
            filled[pending] += take.sum(dim=0)
        short = int((filled < n).sum())
        if short:
            log.warning("%d window(s) have fewer than %.1e of their posterior draws inside the prior "
                        "box; their draws are NaN (the windows lie outside what the model was trained on)",
                        short, MIN_IN_BOX_FRACTION)
            out[:, filled < n] = math.nan
        return out

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
