"""The RoPE posterior: a mixture of NPE posteriors at reference simulations, weighted by OT.

p̃(θ | x_o^i) = Σ_j W_ij q(θ | h(x_s^j)), with W the row-normalised entropic OT plan between the
real embedding g(x_o^i) and the reference simulations' embeddings h(x_s^j) (see
:mod:`.transport`). Two modes:
- ``batch`` (transductive, as in the paper): the rows of ``x`` passed to ``sample``/``log_prob``
  are solved together as the test set;
- ``single`` (streaming): each row is solved with the calibration set's real embeddings, and
  only its own row of the plan is kept — its posterior does not depend on the other rows.

Sampling is exact by default (one flow draw per mixture draw). With ``cache_draws = m > 0``
each reference simulation's NPE posterior is sampled m times once (seeded, so the cache is the
same after save/load) and mixture draws pick cached draws, as the paper does: summaries of many
windows then cost an index lookup instead of a flow pass per draw.

The real-data encoder g is a copy of the NPE's embedding h, or a front encoder that reads
another kind of window (:class:`DecodedPressureEncoder`: the PPG of a hybrid posterior, decoded
into the APW posterior's input); the posterior then takes those windows as ``x``.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from cardiosbi.calibration.finetune import (
    FineTuneConfig,
    NearestSimulation,
    calibration_split,
    fine_tune_encoder,
)
from cardiosbi.calibration.pressure_encoder import DecodedPressureEncoder
from cardiosbi.calibration.transport import TransportConfig, transport_weights
from cardiosbi.errors import ConfigError
from cardiosbi.inference.npe_posterior import NPEPosterior
from cardiosbi.inference.posterior import Posterior
from cardiosbi.utils.config import to_dataclass

log = logging.getLogger(__name__)

MODES = ("batch", "single")


class RopePosterior(Posterior):
    kind = "rope"

    def __init__(self, npe: NPEPosterior, reference_embeddings: Tensor,
                 encoder: nn.Module | None = None, transport: TransportConfig | None = None,
                 mode: str = "batch", calibration_embeddings: Tensor | None = None,
                 reject_width90: Tensor | None = None, cache_draws: int = 0) -> None:
        if mode not in MODES:
            raise ConfigError(f"unknown RoPE mode {mode!r}; valid: {', '.join(MODES)}")
        if mode == "single" and calibration_embeddings is None:
            raise ConfigError("RoPE mode 'single' needs the calibration set's embeddings")
        super().__init__(npe.parameter_names, npe.low, npe.high, npe.units,
                         npe.reject_width90 if reject_width90 is None else reject_width90)
        self.npe = npe
        self.encoder = (encoder or copy.deepcopy(npe.embedding_net)).eval()
        # A front encoder (PPG -> pressure -> h for a hybrid) reads other windows than the NPE.
        self.input_spec = self.encoder.input_spec if self.has_front else npe.input_spec
        self.reference_embeddings = reference_embeddings.float().cpu()
        self.transport = transport or TransportConfig()
        self.mode = mode
        self.calibration_embeddings = (None if calibration_embeddings is None
                                       else calibration_embeddings.float().cpu())
        self.cache_draws = int(cache_draws)
        self._cache: Tensor | None = None
        self._log_masses: Tensor | None = None

    # --- the real side ------------------------------------------------------------------------
    @property
    def has_front(self) -> bool:
        """Whether g reads another kind of window than the NPE (see :func:`real_input`)."""
        return isinstance(self.encoder, DecodedPressureEncoder)

    def real_input(self, x: Tensor) -> Tensor:
        """``x`` checked and typed for g (B, ...)."""
        return real_input(self.npe, self.encoder, x)

    # --- weights ------------------------------------------------------------------------------
    @torch.no_grad()
    def real_embeddings(self, x: Tensor) -> Tensor:
        """g(x): the fine-tuned encoder applied to real observations (B, E)."""
        # the encoder is a copy of h, on h's device (an identity embedding has no parameters)
        device = next(self.encoder.parameters(), self.npe.network.low).device
        return self.encoder(self.real_input(x).to(device)).float().cpu()

    @torch.no_grad()
    def weights(self, x: Tensor) -> Tensor:
        """Mixture weights (B, n_s) over the reference simulations, rows summing to 1."""
        real = self.real_embeddings(x)
        if self.mode == "batch":
            return transport_weights(real, self.reference_embeddings, self.transport).float()
        rows = []
        for embedding in real:
            stacked = torch.cat([self.calibration_embeddings, embedding[None]])
            rows.append(transport_weights(stacked, self.reference_embeddings, self.transport)[-1])
        return torch.stack(rows).float()

    # --- Posterior API --------------------------------------------------------------------------
    @property
    def reads_gaps(self) -> bool:
        return (self.encoder if self.has_front else self.npe).reads_gaps

    def valid_rows(self, x: Tensor) -> Tensor:
        return (self.encoder if self.has_front else self.npe).valid_rows(x)

    @torch.no_grad()
    def _sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        self.check_rows(x)
        weights = self.weights(x)
        batch = weights.shape[0]
        which = torch.multinomial(weights, n, replacement=True, generator=generator)  # (B, n)
        if self.cache_draws > 0:
            pick = torch.randint(self.cache_draws, which.shape, generator=generator)
            return self.cached_draws()[which.T, pick.T]
        context = self.reference_embeddings[which.T.reshape(-1)].to(self.npe.device)
        theta = self.npe.draw(context, 1, generator)
        return theta.reshape(n, batch, self.num_parameters).cpu()

    @torch.no_grad()
    def cached_draws(self) -> Tensor:
        """(n_s, cache_draws, k) draws of each reference simulation's NPE posterior (seeded)."""
        if self._cache is None:
            self._cache = self.reference_draws(self.cache_draws)
        return self._cache

    @torch.no_grad()
    def reference_log_masses(self) -> Tensor:
        """(n_s,) log in-box mass of each reference posterior (zeros for bijective theta maps)."""
        if self._log_masses is None:
            self._log_masses = self.npe.log_in_box_mass(self.reference_embeddings.to(self.npe.device)).cpu()
        return self._log_masses

    @torch.no_grad()
    def reference_draws(self, m: int) -> Tensor:
        """(n_s, m, k) seeded draws of each reference simulation's NPE posterior."""
        generator = torch.Generator().manual_seed(0)
        blocks = []
        for block in self.reference_embeddings.split(max(1, 2**18 // m)):
            theta = self.npe.draw(block.to(self.npe.device), m, generator)
            blocks.append(theta.transpose(0, 1).cpu())
        return torch.cat(blocks)

    @torch.no_grad()
    def log_prob(self, theta: Tensor, x: Tensor, chunk: int = 2**16) -> Tensor:
        """log Σ_j W_ij q(θ_i | h(x_s^j)) by log-sum-exp over all reference simulations."""
        self.check_rows(x)
        return self.mixture_log_prob(theta, self.weights(x), chunk)

    @torch.no_grad()
    def mixture_log_prob(self, theta: Tensor, weights: Tensor, chunk: int = 2**16) -> Tensor:
        """log Σ_j weights_ij q(θ_i | h(x_s^j)) for given mixture weights (B, n_s)."""
        # Each component is normalised over the prior box (a no-op unless theta_map: truncated).
        log_weights = weights.log() - self.reference_log_masses()[None, :]
        bijection = self.npe.bijection
        theta = torch.as_tensor(theta).to(self.npe.device, torch.float32)
        theta_std = bijection(theta)
        log_det = bijection.log_abs_det_jacobian(theta, theta_std).cpu()
        n_s = self.reference_embeddings.shape[0]
        rows_per_chunk = max(1, chunk // n_s)
        out = []
        for start in range(0, len(theta_std), rows_per_chunk):
            block = theta_std[start:start + rows_per_chunk]
            rows = block.shape[0]
            context = self.reference_embeddings.repeat(rows, 1).to(self.npe.device)
            values = block.repeat_interleave(n_s, dim=0)
            log_q = self.npe.flow_distribution(context).log_prob(values).reshape(rows, n_s).cpu()
            out.append(torch.logsumexp(log_q + log_weights[start:start + rows], dim=1))
        return torch.cat(out) + log_det

    @torch.no_grad()
    def marginal_log_prob(self, theta: Tensor, weights: Tensor, columns: Sequence[int],
                          draws: int = 200) -> Tensor:
        """Approximate log density of the marginal of ``columns`` (theta is (B, len(columns))).

        A flow has no closed-form marginal, so each reference posterior's marginal is replaced
        by the Gaussian of its cached draws (``draws`` of them when no cache is configured);
        the mixture of those Gaussians is evaluated by log-sum-exp. Good enough to rank γ
        values when the labelled marginals are unimodal (HR, MAP); not an exact density."""
        every = self.cached_draws() if self.cache_draws > 0 else self.reference_draws(draws)
        cached = every[..., list(columns)].double()  # (n_s, m, k)
        mean = cached.mean(1)
        centred = cached - mean[:, None]
        k = cached.shape[-1]
        jitter = 1e-6 * torch.eye(k, dtype=torch.float64) * (1 + centred.square().mean((0, 1)))
        covariance = centred.transpose(1, 2) @ centred / (cached.shape[1] - 1) + jitter
        components = torch.distributions.MultivariateNormal(mean, covariance)
        log_q = components.log_prob(torch.as_tensor(theta).double()[:, None, :])  # (B, n_s)
        return torch.logsumexp(log_q + weights.double().log(), dim=1).float()

    # --- serialisation ----------------------------------------------------------------------------
    def to(self, device: str | torch.device) -> RopePosterior:
        self.npe.to(device)
        return self

    def state(self) -> dict[str, Any]:
        from cardiosbi.inference.serialization import posterior_payload

        return {
            "npe": posterior_payload(self.npe),
            "encoder": {k: v.detach().cpu() for k, v in self.encoder.state_dict().items()},
            "front": self.encoder.spec() if self.has_front else None,
            "reference_embeddings": self.reference_embeddings,
            "calibration_embeddings": self.calibration_embeddings,
            "transport": vars(self.transport).copy(),
            "mode": self.mode,
            "reject_width90": self.reject_width90,
            "cache_draws": self.cache_draws,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> RopePosterior:
        from cardiosbi.inference.serialization import posterior_from_payload

        npe = posterior_from_payload(state["npe"])
        front = state.get("front")
        encoder = (DecodedPressureEncoder.from_spec(front, npe) if front
                   else copy.deepcopy(npe.embedding_net))
        encoder.load_state_dict(state["encoder"])
        return cls(npe, state["reference_embeddings"], encoder,
                   to_dataclass(state["transport"], TransportConfig, "RoPE transport"),
                   state["mode"], state["calibration_embeddings"], state["reject_width90"],
                   state.get("cache_draws", 0))


def calibrate(npe: NPEPosterior, theta_calibration: Tensor, x_calibration: Tensor,
              x_reference: Tensor | None, *, simulator=None,
              theta_reference: Tensor | None = None, fine_tune: FineTuneConfig | None = None,
              transport: TransportConfig | None = None, mode: str = "batch",
              gamma_grid: Sequence[float] | None = None, labelled: Sequence[str] | None = None,
              reference_embeddings: Tensor | None = None,
              encoder: nn.Module | None = None) -> RopePosterior:
    """Build a RoPE posterior from an NPE, a labelled real calibration set and reference sims.

    ``fine_tune=None`` skips step 2 (the "OT-only" ablation: g = h). Fine-tuning targets come
    from ``simulator`` (fresh simulation per step) or, when it is None, from the reference
    simulation with the nearest θ (``theta_reference`` required then). With ``gamma_grid``, γ
    is the grid value with the best LPP on the held-out part of the calibration set.

    ``labelled``: the posterior parameters the calibration labels measure, in the column order
    of ``theta_calibration`` (default: all of them). Real recordings are often labelled for a
    few quantities only (HR from ECG, MAP from an arterial line); the nearest simulation is
    then found in those parameters, the others stay nuisances of the fine-tuning, and γ is
    scored on the labelled marginal (see :func:`select_gamma`).

    ``reference_embeddings`` replaces ``x_reference`` when only the NPE's embeddings h(x_s) of
    the reference simulations are kept (a shipped reference set: 64 numbers per simulation
    instead of a waveform); the nearest-simulation fine-tuning then targets them directly.

    ``encoder``: the initial g (default: a copy of the NPE's embedding net h). A
    :class:`DecodedPressureEncoder` reads other windows than the NPE (PPG for a hybrid
    posterior, see :func:`cardiosbi.calibration.hybrid.calibrate_hybrid`): ``x_calibration``
    is then in its input, the reference simulations stay in the NPE's.
    """
    if mode not in MODES:
        raise ConfigError(f"unknown RoPE mode {mode!r}; valid: {', '.join(MODES)}")
    if (x_reference is None) == (reference_embeddings is None):
        raise ConfigError("give the reference simulations as x_reference or as their "
                          "embeddings (reference_embeddings), not both or neither")
    columns = labelled_columns(npe, labelled)
    if fine_tune is not None:
        embeds = simulator is None and reference_embeddings is not None
        if simulator is None:
            if theta_reference is None:
                raise ConfigError("fine-tuning without a simulator needs theta_reference")
            pool = reference_embeddings if embeds else x_reference
            simulator = NearestSimulation(theta_reference[:, columns], pool,
                                          npe.low[columns], npe.high[columns])
        encoder = fine_tune_encoder(npe.embedding_net, theta_calibration,
                                    real_input(npe, encoder, x_calibration).cpu(), simulator,
                                    fine_tune, embeds=embeds, initial=encoder)
    with torch.no_grad():
        reference = (npe.embed(x_reference).cpu() if reference_embeddings is None
                     else reference_embeddings.float().cpu())
    rope = RopePosterior(npe, reference, encoder, transport, mode="batch")
    if gamma_grid:
        split = calibration_split(len(theta_calibration), fine_tune or FineTuneConfig())
        rope.transport = select_gamma(rope, theta_calibration, x_calibration, split, gamma_grid,
                                      columns)
    if mode == "single":
        rope = RopePosterior(npe, reference, rope.encoder, rope.transport, mode="single",
                             calibration_embeddings=rope.real_embeddings(x_calibration))
    return rope


@torch.no_grad()
def recalibrate_reject(rope: RopePosterior, x_held_out: Tensor, quantile: float = 0.95,
                       n: int = 500, seed: int = 0) -> Tensor:
    """Set and return ``rope.reject_width90``: the ``quantile`` of the calibrated posterior's
    90 % interval widths on held-out calibration windows.

    The uncalibrated model's thresholds came from its own (narrower) simulation posteriors, so
    they would flag nearly every honestly wider calibrated interval; this keeps the rule's
    meaning: flag a window less informative than ``quantile`` of real windows like these.
    """
    if not 0 < quantile < 1:
        raise ConfigError(f"rope.reject_quantile must be in (0, 1), got {quantile}")
    rope.reject_width90 = torch.full((rope.num_parameters,), float("nan"), dtype=torch.float64)
    table = rope.summarize(x_held_out, levels=(0.9,), n=n,
                           generator=torch.Generator().manual_seed(seed))
    widths = table.pivot(index="window", columns="parameter", values="width90")
    rope.reject_width90 = torch.tensor(
        [float(widths[name].quantile(quantile)) for name in rope.parameter_names],
        dtype=torch.float64)
    return rope.reject_width90


def real_input(npe: NPEPosterior, encoder: nn.Module | None, x: Tensor) -> Tensor:
    """Real windows checked and typed for the encoder g: by g itself when it has a front that
    reads other windows than the NPE, else by the NPE (g is then a copy of h)."""
    if isinstance(encoder, DecodedPressureEncoder):
        return encoder.as_input(x)
    return npe.as_input(x)


def labelled_columns(npe: NPEPosterior, labelled: Sequence[str] | None) -> list[int]:
    """Column indices of the labelled parameters in the posterior's θ (all when None)."""
    if labelled is None:
        return list(range(npe.num_parameters))
    unknown = [name for name in labelled if name not in npe.parameter_names]
    if unknown or not labelled:
        raise ConfigError(f"calibration labels {list(labelled)} must be a non-empty subset of "
                          f"the posterior's parameters {npe.parameter_names}")
    return [npe.parameter_names.index(name) for name in labelled]


@torch.no_grad()
def select_gamma(rope: RopePosterior, theta: Tensor, x: Tensor, split: tuple[Tensor, Tensor],
                 grid: Sequence[float], columns: Sequence[int] | None = None) -> TransportConfig:
    """The transport config whose γ maximises the LPP of the held-out calibration pairs.

    Held-out pairs are solved together with the fitting pairs (as streaming mode solves a new
    window with the calibration set), so their weights see a realistic test-set size. γ trades
    informativeness for calibration (small γ: sharp, possibly overconfident mixtures).
    ``columns``: the parameters ``theta`` labels; when they are not all of them the score is
    the labelled marginal's density (:meth:`RopePosterior.marginal_log_prob`)."""
    fit, held_out = split
    embeddings = rope.real_embeddings(x)
    stacked = torch.cat([embeddings[fit], embeddings[held_out]])
    joint = columns is None or list(columns) == list(range(rope.num_parameters))
    scores = {}
    for gamma in grid:
        config = dataclasses.replace(rope.transport, gamma=float(gamma))
        weights = transport_weights(stacked, rope.reference_embeddings, config)[len(fit):]
        score = (rope.mixture_log_prob(theta[held_out], weights.float()) if joint else
                 rope.marginal_log_prob(theta[held_out], weights.float(), columns))
        scores[gamma] = float(score.mean())
    best = max(scores, key=scores.get)
    log.info("gamma selection on %d held-out pairs (LPP per gamma): %s -> gamma = %g",
             len(held_out), {g: round(v, 3) for g, v in scores.items()}, best)
    return dataclasses.replace(rope.transport, gamma=float(best))
