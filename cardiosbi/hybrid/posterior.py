"""The composed posterior p(θ | PPG) ≈ (1/M) Σ_m q(θ | APW_m), APW_m ~ CVAE(· | PPG).

The APW posterior (simulator-trained NPE) is embedded whole in the file, with the SHA-256 of
its payload, so the hybrid loads with nothing else and the pairing is checkable. The M pressure
draws per window are decoded from M latent draws of p(z | PPG); ``sample`` takes the same
number of posterior draws from each (a stratified draw from the equal-weight mixture), and
``log_prob`` evaluates the mixture with M latent draws of a fixed seed, so it is deterministic.

Assumption (Palumbo et al. 2025): θ ⟂ PPG | APW — the PPG says nothing about θ beyond the
pressure it implies; the hybrid also inherits the APW posterior's simulation prior.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from cardiosbi.datasets.reader import prepare_windows
from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.hybrid.model import CVAEConfig, PressureCVAE, pooled
from cardiosbi.inference.posterior import Posterior

# Seed of the latent draws behind ``log_prob`` (and of nothing else).
LOG_PROB_SEED = 0


def payload_sha256(payload: dict[str, Any]) -> str:
    """SHA-256 of a posterior payload's class, input spec and state (weights, config): stable
    across save/load, independent of when the file was written."""
    digest = hashlib.sha256()
    _hash_into(digest, {"class": payload["class"], "input_spec": payload.get("input_spec"),
                        "state": _without_new_defaults(payload["state"])})
    return digest.hexdigest()


# embedding options added after posteriors were shipped: at these values they change nothing,
# so a file written before them hashes the same as when it is loaded and re-serialised today
NEW_EMBEDDING_DEFAULTS = {"scalar_channels": 0}


def _without_new_defaults(state: dict[str, Any]) -> dict[str, Any]:
    embedding = ((state.get("config") or {}).get("model") or {}).get("embedding")
    if not isinstance(embedding, dict):
        return state
    kept = {k: v for k, v in embedding.items() if NEW_EMBEDDING_DEFAULTS.get(k, object()) != v}
    config = {**state["config"], "model": {**state["config"]["model"], "embedding": kept}}
    return {**state, "config": config}


def _hash_into(digest, value) -> None:
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            digest.update(f"<{key}>".encode())
            _hash_into(digest, value[key])
    elif isinstance(value, list | tuple):
        digest.update(b"[")
        for item in value:
            _hash_into(digest, item)
        digest.update(b"]")
    elif isinstance(value, Tensor):
        array = value.detach().cpu().contiguous()
        digest.update(f"{array.dtype}{tuple(array.shape)}".encode())
        digest.update(array.numpy().tobytes())
    else:
        digest.update(repr(value).encode())


class HybridPosterior(Posterior):
    """PPG windows (B, 1, T), z-scored per window, -> posterior over the APW model's biomarkers."""

    kind = "hybrid"

    def __init__(self, cvae: PressureCVAE, apw: Posterior, n_apw: int = 8,
                 reject_width90: Tensor | None = None, training: dict | None = None,
                 apw_sha256: str = "", prior_scale: float = 1.0) -> None:
        if n_apw < 1:
            raise ConfigError(f"n_apw (pressure draws per window) must be >= 1, got {n_apw}")
        spec = apw.input_spec or {}
        if len(spec.get("channels", [])) != 1 or not str(spec["channels"][0]).endswith("/P"):
            raise ConfigError("the hybrid composes with a posterior on one arterial pressure "
                              f"channel; this one reads {spec.get('channels')}")
        super().__init__(apw.parameter_names, apw.low, apw.high, apw.units, reject_width90)
        self.cvae, self.apw, self.n_apw = cvae.eval(), apw, int(n_apw)
        self.training = dict(training or {})
        # the embedded APW posterior's identity: the hash it was saved with, else computed once
        self.apw_sha256 = apw_sha256 or _apw_sha256(apw)
        # SD multiplier of p(z | PPG), fitted on held-out records: a conditional prior learned
        # from a few dozen patients is too sure of a new patient's pressure level.
        self.prior_scale = float(prior_scale)
        self.input_spec = {"channels": ["digital/PPG"], "sampling_rate": spec["sampling_rate"],
                           "window_s": spec["window_s"], "normalize": "window", "stats": {}}

    def to(self, device: str | torch.device) -> HybridPosterior:
        self.cvae.to(device)
        if hasattr(self.apw, "to"):
            self.apw.to(device)
        return self

    @property
    def device(self) -> torch.device:
        return self.cvae.apw_mean.device

    # --- the two halves ---------------------------------------------------------------------
    def sample_apw(self, x: Tensor, m: int | None = None,
                   generator: torch.Generator | None = None) -> Tensor:
        """(m, B, T) decoded arterial pressures in mmHg for PPG windows ``x``."""
        self.check_rows(x)
        ppg = self._as_input(x)
        return self.cvae.sample_apw(ppg, m or self.n_apw, generator,
                                    self.prior_scale)[:, :, 0].cpu()

    def apw_input(self, apw_mmhg: Tensor) -> Tensor:
        """Decoded pressures (..., T) -> the APW posterior's input, normalised as in training."""
        spec = self.apw.input_spec
        flat = apw_mmhg.reshape(-1, 1, apw_mmhg.shape[-1]).cpu().numpy().astype(np.float32)
        return torch.from_numpy(prepare_windows(flat, spec["normalize"], spec.get("stats", {})))

    def _as_input(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x, dtype=torch.float32)
        if x.ndim != 3 or x.shape[1] != 1 or x.shape[2] != self.cvae.length:
            raise SignalError(f"PPG windows must be (B, 1, {self.cvae.length}); got {tuple(x.shape)}")
        return x.to(self.device)

    # --- Posterior API ------------------------------------------------------------------------
    @property
    def x_shape(self) -> tuple[int, ...]:
        return (1, self.cvae.length)

    def ood_features(self, x: Tensor) -> Tensor:
        """The PPG U-Net's bottleneck features, pooled over time (what p(z | PPG) reads): the
        OOD statistics compare them with the real training records' windows."""
        with torch.no_grad():
            return pooled(self.cvae.condition(self._as_input(x))[-1]).cpu()

    def valid_rows(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        return torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)

    @torch.no_grad()
    def _sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        batch, m = len(x), self.n_apw
        per = math.ceil(n / m)
        apw = self.apw_input(self.sample_apw(x, m, generator))            # (m * B, 1 or 3, T)
        draws = self.apw._sample(apw, per, generator).cpu()               # (per, m * B, k)
        draws = draws.reshape(per, m, batch, -1).transpose(0, 1).reshape(per * m, batch, -1)
        order = torch.randperm(per * m, generator=_cpu(generator))[:n]
        return draws[order]

    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        x, _ = self._batched(x)
        generator = torch.Generator(device=self.device).manual_seed(LOG_PROB_SEED)
        m, batch = self.n_apw, len(x)
        apw = self.apw_input(self.sample_apw(x, m, generator))
        theta = torch.as_tensor(theta).repeat(m, 1)
        terms = self.apw.log_prob(theta, apw).reshape(m, batch).cpu()
        return torch.logsumexp(terms, dim=0) - math.log(m)

    # --- serialisation ------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        from cardiosbi.inference.serialization import posterior_payload

        return {
            "cvae": {"config": self.cvae.config.__dict__, "length": self.cvae.length,
                     "weights": {k: v.detach().cpu() for k, v in self.cvae.state_dict().items()}},
            "apw": posterior_payload(self.apw),
            "apw_sha256": self.apw_sha256,
            "n_apw": self.n_apw,
            "prior_scale": self.prior_scale,
            "reject_width90": self.reject_width90,
            "training": self.training,
        }

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> HybridPosterior:
        from cardiosbi.inference.serialization import posterior_from_payload

        apw_payload = state["apw"]
        stored = str(state.get("apw_sha256", ""))
        if stored and payload_sha256(apw_payload) != stored:
            raise ConfigError("the APW posterior embedded in this hybrid file does not match the "
                              "hash it was saved with (the file was altered)")
        saved = state["cvae"]
        cvae = PressureCVAE(int(saved["length"]), CVAEConfig(**saved["config"]))
        cvae.load_state_dict(saved["weights"])
        return cls(cvae, posterior_from_payload(apw_payload), int(state["n_apw"]),
                   state["reject_width90"], state.get("training"), stored,
                   float(state.get("prior_scale", 1.0)))


def _apw_sha256(apw: Posterior) -> str:
    from cardiosbi.inference.serialization import posterior_payload

    return payload_sha256(posterior_payload(apw))


def _cpu(generator: torch.Generator | None) -> torch.Generator | None:
    """A CPU generator for index permutations (seeded from ``generator`` when given)."""
    if generator is None:
        return None
    seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator().manual_seed(seed)
