"""Which quantities a design keeps identifiable: one NPE per design, judged on held-out
subjects by the width of its 90 % intervals relative to the prior and by their coverage.

A quantity counts as *identifiable* in a cell (design x skin tone x perfusion x noise) when the
median 90 % interval is at most ``max_relative_width`` of the prior's 5-95 % range AND the
intervals cover at least ``min_coverage`` of the truths; a narrow interval that misses the truth
is overconfidence, not identifiability.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch

from cardiosbi import registry
from cardiosbi.datasets.prior import Prior
from cardiosbi.inference import NPEConfig, train_npe
from cardiosbi.inference.posterior import Posterior
from cardiosbi.sensor_design.windows import PRODUCTS, TARGETS, DesignWindows

CELL = ["design", "skin_tone", "perfusion", "noise_floor", "target"]
SAMPLE_BATCH = 256


@dataclass
class TrainSettings:
    """The per-design NPE: a small resnet1d embedding and a coupling spline flow. It needs
    long training: at 40 epochs a 4,000-subject red/IR pilot's SpO2 interval was 2.4x wider
    than at 150 (early-stopped), where its error matched a scalars-only network's."""

    max_epochs: int = 150
    patience: int = 15
    batch_size: int = 256
    embedding_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    embedding_features: int = 32
    transforms: int = 3


@dataclass
class Thresholds:
    max_relative_width: float = 0.5
    min_coverage: float = 0.8


def npe_config(settings: TrainSettings, n_scalars: int, seed: int) -> NPEConfig:
    """``n_scalars``: the window's trailing per-window constants (log AC/DC and log DC per
    LED, log noise floor)."""
    return NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": list(settings.embedding_channels),
                                "features": settings.embedding_features,
                                "scalar_channels": n_scalars},
                  "estimator": {"kind": "nsf", "transforms": settings.transforms}},
        "trainer": {"max_epochs": settings.max_epochs, "patience": settings.patience,
                    "batch_size": settings.batch_size},
        "seed": seed,
    })


def target_bounds(prior: Prior) -> tuple[torch.Tensor, torch.Tensor]:
    """Prior support of :data:`TARGETS` (the flow's box); a product's is the product of its
    factors' supports (all factors are positive)."""
    def bound(name: str, side: str) -> float:
        factors = PRODUCTS.get(name, (name,))
        return float(np.prod([getattr(prior.config.parameters[f], side) for f in factors]))

    return tuple(torch.tensor([bound(n, side) for n in TARGETS], dtype=torch.float32)
                 for side in ("low", "high"))


def train_design(windows: DesignWindows, prior: Prior, settings: TrainSettings, seed: int) -> Posterior:
    """An NPE over :data:`TARGETS` from the design's training windows (failed subjects dropped)."""
    low, high = target_bounds(prior)
    units = [registry.get(name).unit for name in TARGETS]
    return train_npe(torch.as_tensor(windows.theta, dtype=torch.float32), torch.as_tensor(windows.x),
                     list(TARGETS), low, high,
                     npe_config(settings, 2 * len(windows.design.wavelengths_nm) + 1, seed),
                     status=torch.as_tensor((~windows.ok).astype(np.int64)), units=units)


def posterior_rows(posterior: Posterior, windows: DesignWindows, n_draws: int, seed: int) -> pd.DataFrame:
    """One row per (window, target): truth, posterior median, SD, 5 % and 95 % quantiles,
    with the window's strata, noise floor and SNRs; failed subjects are left out."""
    keep = np.flatnonzero(windows.ok)
    generator = torch.Generator().manual_seed(seed)
    quantiles = torch.tensor([0.05, 0.5, 0.95])
    summaries = []
    with torch.no_grad():
        for start in range(0, len(keep), SAMPLE_BATCH):
            x = torch.as_tensor(windows.x[keep[start:start + SAMPLE_BATCH]])
            draws = posterior.sample((n_draws,), x=x, generator=generator).double()  # (n, B, k)
            summaries.append(torch.cat([torch.quantile(draws, quantiles.double(), dim=0),
                                        draws.std(dim=0)[None]]).numpy())
    stats = np.concatenate(summaries, axis=1)  # (4, B, k): q05, median, q95, sd
    per_window = windows.table.iloc[keep].reset_index(drop=True).drop(columns=["ok", "reason"])
    frames = []
    for j, name in enumerate(TARGETS):
        frames.append(per_window.assign(
            design=windows.design.name, window=keep, target=name, truth=windows.theta[keep, j],
            median=stats[1, :, j], sd=stats[3, :, j], lo90=stats[0, :, j], hi90=stats[2, :, j]))
    return pd.concat(frames, ignore_index=True)


def prior_widths(theta: np.ndarray) -> dict[str, float]:
    """5-95 % range of each target over prior draws (the training subjects)."""
    low, high = np.percentile(theta, [5, 95], axis=0)
    return {name: float(high[j] - low[j]) for j, name in enumerate(TARGETS)}


def identifiability_table(rows: pd.DataFrame, widths: dict[str, float], thresholds: Thresholds) -> pd.DataFrame:
    """Per cell: windows, median relative 90 % width, 90 % coverage, normalised RMSE of the
    median (over the prior 5-95 % range) and the identifiable verdict."""
    rows = rows.assign(
        relative_width=(rows["hi90"] - rows["lo90"]) / rows["target"].map(widths),
        covered=(rows["lo90"] <= rows["truth"]) & (rows["truth"] <= rows["hi90"]),
        squared_error=((rows["median"] - rows["truth"]) / rows["target"].map(widths)) ** 2)
    table = rows.groupby(CELL, sort=False).agg(
        windows=("truth", "size"), relative_width=("relative_width", "median"),
        coverage90=("covered", "mean"), squared_error=("squared_error", "mean")).reset_index()
    table["nrmse"] = np.sqrt(table.pop("squared_error"))
    table["identifiable"] = ((table["relative_width"] <= thresholds.max_relative_width)
                             & (table["coverage90"] >= thresholds.min_coverage))
    return table
