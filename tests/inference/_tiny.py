"""Tiny training set-ups shared by the inference tests (seconds on one CPU core)."""

from __future__ import annotations

import math

import torch

from cardiosbi.inference import NPEConfig, train_npe
from cardiosbi.inference.tasks import LinearGaussianTask

# Each case: estimator kind, extra model settings, task shape, whether x has gaps.
CASES = {
    "nsf": ("nsf", {}, {}, False),
    "maf": ("maf", {}, {}, False),
    "fmpe": ("fmpe", {}, {}, False),
    "nsf-ensemble": ("nsf", {"ensemble_size": 2}, {}, False),
    "nsf-resnet1d": ("nsf", {"embedding": {"channels": [8, 16], "features": 16}}, {"series_length": 64}, False),
    "maf-transformer": (
        "maf", {"embedding": {"kind": "transformer", "channels": [16], "features": 16, "patch": 16}},
        {"series_length": 64}, False,
    ),
    "fmpe-tcn-mask": (
        "fmpe",
        {"embedding": {"kind": "tcn", "channels": [8, 8, 8], "features": 16, "missing_mask": True}},
        {"series_length": 64},
        True,
    ),
}


def tiny_config(kind: str, model: dict | None = None, epochs: int = 3, seed: int = 0, **trainer) -> NPEConfig:
    model = dict(model or {})
    estimator = {"kind": kind, "hidden": [32, 32], "transforms": 2, **model.get("estimator", {})}
    return NPEConfig.from_dict({
        "model": {**model, "estimator": estimator},
        "trainer": {"max_epochs": epochs, "batch_size": 128, "reject_calibration_samples": 50,
                    "reject_calibration_rows": 100, **trainer},
        "seed": seed,
    })


def tiny_task(**shape) -> LinearGaussianTask:
    return LinearGaussianTask(dim=2, prior="uniform", prior_scale=2.0, noise_scale=0.5, **shape)


def with_gaps(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Blank a random stretch of 16 samples in every other window (missing data)."""
    x = x.clone()
    starts = torch.randint(0, x.shape[-1] - 16, (x.shape[0],), generator=generator)
    for i in range(0, x.shape[0], 2):
        x[i, ..., int(starts[i]) : int(starts[i]) + 16] = math.nan
    return x


def train_case(name: str, n: int = 400, seed: int = 0, model: dict | None = None):
    """Train the case ``name`` (``model`` adds settings); returns (posterior, task, x_test)."""
    kind, case_model, shape, gaps = CASES[name]
    model = {**case_model, **(model or {})}
    task = tiny_task(**shape)
    generator = torch.Generator().manual_seed(seed)
    theta, x = task.sample_joint(n + 4, generator)
    if gaps:
        x = with_gaps(x, generator)
    low, high = task.bounds()
    posterior = train_npe(theta[:n], x[:n], task.names, low, high, tiny_config(kind, model))
    return posterior, task, x[n:]
