"""Fixtures of the hybrid tests: the shipped APW posterior, tiny CVAEs, synthetic PPG/APW pairs.

Every network here is tiny (two U-Net levels of 4 and 8 channels) so the folder runs in seconds
on one CPU core; torch runs single-threaded inside each module (restored afterwards), which on a
shared 2-core machine is several times faster than fighting over threads.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

import cardiosbi
from cardiosbi.hybrid import CVAEConfig, HybridPosterior, PairSet, PressureCVAE
from cardiosbi.hybrid.posterior import payload_sha256
from cardiosbi.inference import load_posterior
from cardiosbi.inference.serialization import posterior_payload

APW_FILE = Path(cardiosbi.__file__).parent / "assets" / "models" / "apw.pt"
FS = 125.0          # the shipped APW posterior's rate and window: 8 s at 125 Hz
LENGTH = 1000
TINY = {"channels": [4, 8], "latent_dim": 2, "hidden": 16}


@pytest.fixture(autouse=True, scope="module")
def _single_thread(one_torch_thread):
    """Every hybrid test module runs single-threaded (see tests/conftest.py)."""


@pytest.fixture(scope="session")
def apw():
    """The shipped APW posterior (radial pressure, 'window+level' input, 8 s at 125 Hz)."""
    return load_posterior(APW_FILE)


def tiny_cvae(latent_dim: int = 2, length: int = LENGTH, apw_mean: float = 90.0,
              apw_std: float = 30.0, seed: int = 0) -> PressureCVAE:
    """An untrained tiny CVAE; its decodes already carry the PPG's beat timing (U-Net skips)."""
    torch.manual_seed(seed)
    config = CVAEConfig(**{**TINY, "latent_dim": latent_dim})
    return PressureCVAE(length, config, apw_mean, apw_std).eval()


@pytest.fixture
def make_hybrid(apw):
    """HybridPosterior factory on the shipped APW posterior, hash of the embedded APW set."""

    def make(latent_dim: int = 2, n_apw: int = 4, seed: int = 0, **options) -> HybridPosterior:
        return HybridPosterior(tiny_cvae(latent_dim, seed=seed), apw, n_apw,
                               apw_sha256=payload_sha256(posterior_payload(apw)), **options)

    return make


def pulse(hr: float, length: int = LENGTH, fs: float = FS, phase: float = 0.0) -> torch.Tensor:
    """A pulse wave (systolic peak + reflected wave) at ``hr`` bpm, z-scored: (length,)."""
    t = torch.arange(length, dtype=torch.float64) / fs
    beat = (t * hr / 60.0 + phase) % 1.0
    wave = torch.exp(-(((beat - 0.15) / 0.07) ** 2)) + 0.4 * torch.exp(-(((beat - 0.45) / 0.1) ** 2))
    return ((wave - wave.mean()) / wave.std()).float()


def ppg_batch(hrs=(60.0, 110.0, 80.0)) -> torch.Tensor:
    """(B, 1, T) z-scored PPG windows, one heart rate each (distinct windows)."""
    return torch.stack([pulse(hr, phase=0.3 * i) for i, hr in enumerate(hrs)])[:, None]


def pressure(hr: float, level: float, amplitude: float = 12.0) -> torch.Tensor:
    """An arterial pressure window in mmHg: ``level`` (its mean) + amplitude * pulse."""
    return level + amplitude * pulse(hr)


def synthetic_pairs(n: int, length: int = 64, records: int = 4, level_sd: float = 10.0,
                    level_of_frequency: float = 0.0, seed: int = 0) -> tuple[PairSet, np.ndarray]:
    """Pairs with APW = level + 20 * PPG, PPG a z-scored two-harmonic wave of random frequency.

    level = 90 + ``level_of_frequency`` * (f - 3.5) / 3 + ``level_sd`` * N(0, 1): the part set by
    the frequency is carried by the PPG, the rest is not. Returns the pairs and the conditional
    mean level of each pair (what the PPG determines).
    """
    rng = np.random.default_rng(seed)
    t = np.arange(length) / length
    f = 2.0 + 3.0 * rng.random((n, 1))
    phase = 2 * math.pi * rng.random((n, 1))
    wave = np.sin(2 * math.pi * f * t + phase) + 0.3 * np.sin(4 * math.pi * f * t + 2 * phase)
    ppg = (wave - wave.mean(1, keepdims=True)) / wave.std(1, keepdims=True)
    mean_level = 90.0 + level_of_frequency * (f[:, 0] - 3.5) / 3.0
    level = mean_level + level_sd * rng.standard_normal(n)
    apw = level[:, None] + 20.0 * ppg
    table = pd.DataFrame({"record": [f"r{i % records}" for i in range(n)],
                          "start_s": np.arange(n, dtype=float)})
    return PairSet(ppg.astype(np.float32), apw.astype(np.float32), table), mean_level
