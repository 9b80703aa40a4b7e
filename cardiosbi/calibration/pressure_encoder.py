"""The RoPE real-data encoder of a hybrid posterior: PPG window -> decoded pressure -> h.

RoPE calibrates an NPE by mapping real observations into the embedding space of its
simulations. For the hybrid model the NPE is the embedded APW posterior and the real data are
PPG windows, so the encoder g is the composition

    g(PPG) = h'(normalise(decode(PPG, z = mean of p(z | PPG))))

with ``decode`` the hybrid's CVAE (its conditional prior's mean latent: g is deterministic, as
RoPE's transport needs one embedding per window), ``normalise`` the APW posterior's input
normalisation written in torch (the formula of
:func:`cardiosbi.datasets.reader.prepare_windows`, so gradients reach the CVAE) and h' a copy
of the APW posterior's embedding net. Fine-tuning trains g as a whole.

The encoder owns its input check (PPG windows, not APW ones) and describes its architecture as
plain data (:meth:`DecodedPressureEncoder.spec`), so a RoPE file rebuilds it without pickles.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import Tensor, nn

from cardiosbi.datasets.reader import NORMALIZATIONS
from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.hybrid.model import CVAEConfig, PressureCVAE
from cardiosbi.inference.npe_posterior import NPEPosterior
from cardiosbi.signals.normalize import FLAT_STD

KIND = "decoded_pressure"
_STATS = ("level_mean", "level_std", "spread_mean", "spread_std")
# the normalisations of arterial-pressure posteriors (window+logspread serves optical densities)
PRESSURE_NORMALIZATIONS = tuple(n for n in NORMALIZATIONS if n != "window+logspread")


def normalize_torch(x: Tensor, normalize: str, stats: dict) -> Tensor:
    """(B, C, T) windows -> model input, as ``prepare_windows`` but differentiable."""
    if normalize == "none":
        return x
    if normalize not in PRESSURE_NORMALIZATIONS:
        raise ConfigError(f"unsupported window normalisation {normalize!r}; "
                          f"supported: {', '.join(PRESSURE_NORMALIZATIONS)}")
    mean = x.mean(dim=-1, keepdim=True)
    std = x.std(dim=-1, keepdim=True, unbiased=False)
    # a flat channel becomes zeros, as in normalize_window (not amplified rounding noise)
    z = torch.where(std < FLAT_STD, torch.zeros_like(x), (x - mean) / std.clamp_min(FLAT_STD))
    if normalize == "window":
        return z
    level = (mean - stats["level_mean"]) / stats["level_std"].clamp_min(1e-8)
    spread = (std - stats["spread_mean"]) / stats["spread_std"].clamp_min(1e-8)
    return torch.cat([z, level.expand_as(x), spread.expand_as(x)], dim=1)


class DecodedPressureEncoder(nn.Module):
    """g for PPG windows (B, 1, T): the CVAE's mean decode, normalised, embedded by h'."""

    def __init__(self, cvae: PressureCVAE, embedding_net: nn.Module, normalize: str,
                 stats: dict, input_spec: dict) -> None:
        super().__init__()
        if normalize not in PRESSURE_NORMALIZATIONS:
            raise ConfigError(f"the APW posterior's windows were normalised with {normalize!r}; "
                              f"supported: {', '.join(PRESSURE_NORMALIZATIONS)}")
        missing = [key for key in _STATS if key not in stats]
        if normalize == "window+level" and missing:
            raise ConfigError(f"the APW posterior's input spec lacks the level statistics {missing}")
        self.cvae, self.embedding = cvae, embedding_net
        self.normalize = normalize
        self.input_spec = dict(input_spec)
        # Buffers (one value per channel, shaped to broadcast over (B, 1, 1)), so the
        # statistics travel with the state dict and follow the module's device.
        for key in _STATS:
            value = torch.as_tensor(stats.get(key, [0.0]), dtype=torch.float32).reshape(1, -1, 1)
            self.register_buffer(key, value)

    def forward(self, ppg: Tensor) -> Tensor:
        return self.embedding(normalize_torch(self.decode(ppg), self.normalize,
                                              {key: getattr(self, key) for key in _STATS}))

    def decode(self, ppg: Tensor) -> Tensor:
        """(B, 1, T) pressure in mmHg at the conditional prior's mean latent."""
        features = self.cvae.condition(ppg)
        z = self.cvae.prior(features).mean if self.cvae.latent_dim else None
        return self.cvae.to_mmhg(self.cvae.decode(features, z))

    # --- the real side's input --------------------------------------------------------------
    def as_input(self, x: Tensor) -> Tensor:
        """PPG windows as float32 on the encoder's device, checked against the CVAE's length."""
        x = torch.as_tensor(x, dtype=torch.float32)
        length = self.cvae.length
        if x.ndim != 3 or tuple(x.shape[1:]) != (1, length):
            raise SignalError(f"PPG windows must be (B, 1, {length}); got {tuple(x.shape)}")
        return x.to(self.cvae.apw_mean.device)

    @property
    def reads_gaps(self) -> bool:
        # The CVAE decodes complete PPG windows: it has no mask channel for gaps.
        return False

    def valid_rows(self, x: Tensor) -> Tensor:
        x = torch.as_tensor(x)
        return torch.isfinite(x.reshape(x.shape[0], -1)).all(dim=1)

    # --- plain-data description ---------------------------------------------------------------
    def spec(self) -> dict[str, Any]:
        """What rebuilds this architecture (weights go with the state dict)."""
        return {"kind": KIND, "cvae": {"config": dict(vars(self.cvae.config)),
                                       "length": self.cvae.length},
                "normalize": self.normalize,
                "stats": {key: getattr(self, key).flatten().tolist() for key in _STATS},
                "input_spec": dict(self.input_spec)}

    @classmethod
    def from_spec(cls, spec: dict[str, Any], npe: NPEPosterior) -> DecodedPressureEncoder:
        """An encoder of ``spec``'s architecture around a copy of ``npe``'s embedding net;
        load the saved state dict into it for the trained weights."""
        if spec.get("kind") != KIND:
            raise ConfigError(f"unknown RoPE encoder kind {spec.get('kind')!r}; known: {KIND}")
        saved = spec["cvae"]
        cvae = PressureCVAE(int(saved["length"]), CVAEConfig(**saved["config"]))
        return cls(cvae, copy.deepcopy(npe.embedding_net), spec["normalize"], spec["stats"],
                   spec["input_spec"])


def hybrid_encoder(hybrid) -> DecodedPressureEncoder:
    """The initial g of a :class:`~cardiosbi.hybrid.HybridPosterior` (copies, on the CPU: the
    hybrid itself is left unchanged)."""
    apw = hybrid.apw
    if not isinstance(apw, NPEPosterior):
        raise ConfigError("RoPE calibrates a single NPE posterior; the APW posterior embedded in "
                          f"this hybrid is a '{apw.kind}' posterior")
    spec = apw.input_spec
    return DecodedPressureEncoder(copy.deepcopy(hybrid.cvae).cpu(),
                                  copy.deepcopy(apw.embedding_net).cpu(), spec["normalize"],
                                  spec.get("stats", {}), hybrid.input_spec).eval()
