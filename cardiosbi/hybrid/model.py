"""The conditional VAE from PPG to arterial pressure: q(z | APW, PPG), p(z | PPG), p(APW | z, PPG).

A 1-D U-Net carries the PPG's beat timing to the decoded pressure through its skip connections;
the global latent ``z`` carries what the PPG does not determine (the pressure level and pulse
pressure above all: a monitor PPG is auto-gained, so its z-scored shape says little of MAP).
``z`` modulates every decoder level by FiLM, so it cannot be ignored by a skip path.
With ``latent_dim = 0`` the same network is a deterministic PPG→APW map (the PPG2ABP-style
baseline): no encoder, no prior, a point decode.

Pressure is decoded standardised by the training pairs' mean and SD (``apw_mean``/``apw_std``
buffers), so the output in mmHg keeps its absolute level.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, Independent, Normal

from cardiosbi.errors import ConfigError
from cardiosbi.nn.resnet1d import ResidualBlock1d

# Latent scales are kept inside [exp(-7), exp(2)]: a collapsed or exploding scale then stays
# trainable instead of producing inf/NaN KL terms.
_LOG_SCALE_RANGE = (-7.0, 2.0)


@dataclass
class CVAEConfig:
    """Architecture of the CVAE (hydra key ``cvae`` of ``train_hybrid``)."""

    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    kernel_size: int = 7
    latent_dim: int = 16      # 0: deterministic PPG -> APW map (no latent)
    hidden: int = 128         # width of the prior / encoder heads

    def check(self) -> None:
        if not self.channels or min(self.channels) < 1:
            raise ConfigError(f"cvae.channels must be positive widths, got {self.channels}")
        if self.kernel_size < 1 or self.kernel_size % 2 == 0:
            raise ConfigError(f"cvae.kernel_size must be odd and >= 1, got {self.kernel_size}")
        if self.latent_dim < 0 or self.hidden < 1:
            raise ConfigError("cvae.latent_dim must be >= 0 and cvae.hidden >= 1")


class _Down(nn.Module):
    """Stem + one strided residual block per level; returns every level's features."""

    def __init__(self, in_channels: int, config: CVAEConfig) -> None:
        super().__init__()
        k = config.kernel_size
        self.stem = nn.Sequential(nn.Conv1d(in_channels, config.channels[0], k, padding=k // 2),
                                  nn.GELU())
        widths = [config.channels[0], *config.channels]
        self.levels = nn.ModuleList(ResidualBlock1d(a, b, k, stride=2)
                                    for a, b in zip(widths[:-1], widths[1:], strict=True))

    def forward(self, x: Tensor) -> list[Tensor]:
        features = [self.stem(x)]
        for level in self.levels:
            features.append(level(features[-1]))
        return features


def pooled(h: Tensor) -> Tensor:
    """(B, C, T) features -> (B, 2C): mean and max over time."""
    return torch.cat([h.mean(dim=-1), h.amax(dim=-1)], dim=-1)


class _GaussianHead(nn.Module):
    """Pooled features -> a diagonal Gaussian over ``z``."""

    def __init__(self, in_features: int, hidden: int, latent_dim: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(in_features, hidden), nn.GELU(),
                                 nn.Linear(hidden, 2 * latent_dim))

    def forward(self, summary: Tensor) -> Distribution:
        loc, log_scale = self.net(summary).chunk(2, dim=-1)
        return Independent(Normal(loc, log_scale.clamp(*_LOG_SCALE_RANGE).exp()), 1)


class _Up(nn.Module):
    """Upsample, add the PPG skip features, FiLM by ``z``, one residual block."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int, film: int,
                 kernel_size: int) -> None:
        super().__init__()
        self.block = ResidualBlock1d(in_channels + skip_channels, out_channels, kernel_size, 1)
        self.film = nn.Linear(film, 2 * out_channels) if film else None

    def forward(self, h: Tensor, skip: Tensor, z: Tensor | None) -> Tensor:
        h = nn.functional.interpolate(h, size=skip.shape[-1], mode="linear", align_corners=False)
        h = self.block(torch.cat([h, skip], dim=1))
        if self.film is not None and z is not None:
            scale, shift = self.film(z).unsqueeze(-1).chunk(2, dim=1)
            h = h * (1 + scale) + shift
        return h


class PressureCVAE(nn.Module):
    """CVAE over (B, 1, T) standardised APW given (B, 1, T) z-scored PPG windows."""

    def __init__(self, length: int, config: CVAEConfig, apw_mean: float = 0.0,
                 apw_std: float = 1.0) -> None:
        super().__init__()
        config.check()
        self.length, self.config = int(length), config
        if self.length < 2 ** len(config.channels):
            raise ConfigError(f"windows of {length} samples are too short for "
                              f"{len(config.channels)} U-Net levels")
        widths, latent = config.channels, config.latent_dim
        self.register_buffer("apw_mean", torch.tensor(float(apw_mean)))
        self.register_buffer("apw_std", torch.tensor(float(apw_std)))
        # log of the decoder's per-sample SD on standardised pressure (learned: a proper ELBO).
        self.log_noise = nn.Parameter(torch.tensor(-1.0))
        self.ppg_down = _Down(1, config)
        ups, width = [], widths[-1]
        skips = [widths[0], *widths][:-1]
        for skip in reversed(skips):
            ups.append(_Up(width, skip, skip, latent, config.kernel_size))
            width = skip
        self.ups = nn.ModuleList(ups)
        self.out = nn.Conv1d(width, 1, 1)
        if latent:
            self.prior_head = _GaussianHead(2 * widths[-1], config.hidden, latent)
            self.pair_down = _Down(2, config)
            self.encoder_head = _GaussianHead(2 * widths[-1], config.hidden, latent)
            self.bottleneck_film = nn.Linear(latent, 2 * widths[-1])

    @property
    def latent_dim(self) -> int:
        return self.config.latent_dim

    # --- the three distributions ------------------------------------------------------------
    def condition(self, ppg: Tensor) -> list[Tensor]:
        """The PPG's U-Net features (one tensor per level); computed once per window."""
        return self.ppg_down(ppg)

    def prior(self, features: list[Tensor]) -> Distribution:
        """p(z | PPG)."""
        return self.prior_head(pooled(features[-1]))

    def encoder(self, apw_std: Tensor, ppg: Tensor) -> Distribution:
        """q(z | APW, PPG) on standardised pressure."""
        return self.encoder_head(pooled(self.pair_down(torch.cat([apw_std, ppg], dim=1))[-1]))

    def decode(self, features: list[Tensor], z: Tensor | None) -> Tensor:
        """Mean of p(APW | z, PPG), standardised, (B, 1, T)."""
        h = features[-1]
        if z is not None:
            scale, shift = self.bottleneck_film(z).unsqueeze(-1).chunk(2, dim=1)
            h = h * (1 + scale) + shift
        for up, skip in zip(self.ups, reversed(features[:-1]), strict=True):
            h = up(h, skip, z)
        return self.out(h)

    # --- units ------------------------------------------------------------------------------
    def standardize(self, apw_mmhg: Tensor) -> Tensor:
        return (apw_mmhg - self.apw_mean) / self.apw_std

    def to_mmhg(self, apw_std: Tensor) -> Tensor:
        return apw_std * self.apw_std + self.apw_mean

    # --- training objective ------------------------------------------------------------------
    def loss_terms(self, ppg: Tensor, apw_mmhg: Tensor) -> dict[str, Tensor]:
        """Per-window negative log-likelihood (nats per window) and KL; their sum is -ELBO."""
        target = self.standardize(apw_mmhg)
        features = self.condition(ppg)
        kl = torch.zeros(len(ppg), device=ppg.device)
        z = None
        if self.latent_dim:
            posterior = self.encoder(target, ppg)
            z = posterior.rsample()
            kl = torch.distributions.kl_divergence(posterior, self.prior(features))
        mean = self.decode(features, z)
        noise = Normal(mean, self.log_noise.clamp(-5.0, 2.0).exp())
        nll = -noise.log_prob(target).sum(dim=(1, 2))
        # in mmHg, for monitoring: RMSE of the reconstruction
        rmse = ((mean - target) ** 2).mean(dim=(1, 2)).sqrt() * self.apw_std
        return {"nll": nll, "kl": kl, "rmse": rmse}

    @torch.no_grad()
    def sample_apw(self, ppg: Tensor, m: int, generator: torch.Generator | None = None,
                   prior_scale: float = 1.0) -> Tensor:
        """(m, B, 1, T) decoded pressures in mmHg, z ~ p(z | PPG) with its SD times
        ``prior_scale`` (a record-level recalibration, see :mod:`cardiosbi.hybrid.fit`); a
        deterministic map repeats its one decode."""
        features = self.condition(ppg)
        if not self.latent_dim:
            return self.to_mmhg(self.decode(features, None)).expand(m, *ppg.shape)
        prior = self.prior(features)
        eps = torch.randn((m, *prior.mean.shape), generator=generator,
                          device=generator.device if generator is not None else ppg.device)
        z = prior.mean + prior_scale * prior.stddev * eps.to(ppg.device)
        repeated = [f.repeat(m, 1, 1) for f in features]
        decoded = self.decode(repeated, z.reshape(-1, self.latent_dim))
        return self.to_mmhg(decoded).reshape(m, *ppg.shape)
