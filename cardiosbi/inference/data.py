"""Training data for NPE: row cleaning and an in-memory LightningDataModule.

:class:`NPEDataModule` is what :func:`~cardiosbi.inference.training.fit_posterior` needs from
any data module (the in-memory one here; the Zarr one of the simulated-dataset store).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import lightning
import torch
from torch import Tensor
from torch.utils.data import DataLoader, TensorDataset

from cardiosbi.errors import ConfigError
from cardiosbi.utils.seeding import torch_generator

log = logging.getLogger(__name__)


class NPEDataModule(Protocol):
    """A LightningDataModule whose loaders yield ``(theta (B, k) float32 in physical units,
    x float32 (B, D) or (B, C, T))`` with only usable rows, plus these attributes."""

    parameter_names: list[str]
    low: Tensor  # (k,) prior box; +-inf for unbounded dimensions
    high: Tensor
    x_shape: tuple[int, ...]  # per-row shape of x
    rows_used: int
    rows_dropped: dict[str, int]  # reason -> count of rows kept out of training

    def normalization_sample(self) -> tuple[Tensor, Tensor]:
        """(theta, x) training rows for fitting the standardisation (a bounded subset)."""
        ...

    def validation_tensors(self) -> tuple[Tensor, Tensor]:
        """(theta, x) validation rows (used to calibrate the reject threshold)."""
        ...


@dataclass(frozen=True)
class RowFilter:
    """Which rows may reach training, and how many were dropped for each reason."""

    keep: Tensor
    counts: dict[str, int]

    def message(self) -> str:
        dropped = {k: v for k, v in self.counts.items() if v}
        total = int((~self.keep).sum())
        if not total:
            return f"all {len(self.keep)} rows usable"
        details = ", ".join(f"{k}: {v}" for k, v in dropped.items())
        return f"dropped {total} of {len(self.keep)} rows before training ({details})"


def filter_rows(
    theta: Tensor,
    x: Tensor,
    low: Tensor,
    high: Tensor,
    status: Tensor | None = None,
    allow_missing_x: bool = False,
) -> RowFilter:
    """Mark rows that must never reach training, with a count per reason.

    Reasons: failed simulation (status != 0), non-finite theta, theta outside the open box
    (low, high) where the logit is infinite, inf in x, and NaN in x unless the embedding has a
    missing-data mask (then NaN means 'missing' and is kept, but an all-NaN row is dropped).
    """
    n = theta.shape[0]
    flat_x = x.reshape(n, -1)
    reasons = {
        "failed_simulation": (status != 0) if status is not None else torch.zeros(n, dtype=torch.bool),
        "theta_not_finite": ~torch.isfinite(theta).all(dim=1),
        "theta_out_of_bounds": ((theta <= low) | (theta >= high)).any(dim=1),
        "x_inf": torch.isinf(flat_x).any(dim=1),
        "x_nan": torch.isnan(flat_x).all(dim=1) if allow_missing_x else torch.isnan(flat_x).any(dim=1),
    }
    bad = torch.zeros(n, dtype=torch.bool)
    counts = {}
    for name, mask in reasons.items():
        counts[name] = int((mask & ~bad).sum())  # each row counted once, under its first reason
        bad |= mask
    return RowFilter(keep=~bad, counts=counts)


class TensorDataModule(lightning.LightningDataModule):
    """In-memory (theta, x) with cleaning and a seeded train/validation split."""

    def __init__(
        self,
        theta: Tensor,
        x: Tensor,
        parameter_names: Sequence[str],
        low: Tensor,
        high: Tensor,
        status: Tensor | None = None,
        val_fraction: float = 0.1,
        batch_size: int = 256,
        seed: int = 0,
        allow_missing_x: bool = False,
        num_workers: int = 0,
        units: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        theta = torch.as_tensor(theta, dtype=torch.float64)
        x = torch.as_tensor(x, dtype=torch.float32)
        low = torch.as_tensor(low, dtype=torch.float64).flatten()
        high = torch.as_tensor(high, dtype=torch.float64).flatten()
        _check_shapes(theta, x, parameter_names, low, high, status)
        self.parameter_names = list(parameter_names)
        self.units = list(units) if units is not None else None
        self.low, self.high = low, high
        self.row_filter = filter_rows(theta, x, low, high, _as_status(status), allow_missing_x)
        dropped = not bool(self.row_filter.keep.all())
        log.log(logging.WARNING if dropped else logging.INFO, self.row_filter.message())
        keep = self.row_filter.keep
        self.theta, self.x = theta[keep].float(), x[keep]
        self.x_shape = tuple(x.shape[1:])
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.train_index, self.val_index = _split(len(self.theta), val_fraction, seed)

    @property
    def rows_used(self) -> int:
        return int(self.row_filter.keep.sum())

    @property
    def rows_dropped(self) -> dict[str, int]:
        return dict(self.row_filter.counts)

    def train_dataloader(self) -> DataLoader:
        data = TensorDataset(self.theta[self.train_index], self.x[self.train_index])
        return DataLoader(data, batch_size=self.batch_size, shuffle=True,
                          generator=torch_generator(self.seed), num_workers=self.num_workers)

    def val_dataloader(self) -> DataLoader:
        data = TensorDataset(*self.validation_tensors())
        return DataLoader(data, batch_size=self.batch_size, num_workers=self.num_workers)

    def normalization_sample(self, limit: int = 100_000) -> tuple[Tensor, Tensor]:
        """Training rows used to fit the theta/x standardisation."""
        index = self.train_index[:limit]
        return self.theta[index], self.x[index]

    def validation_tensors(self) -> tuple[Tensor, Tensor]:
        return self.theta[self.val_index], self.x[self.val_index]


def _as_status(status) -> Tensor | None:
    return None if status is None else torch.as_tensor(status).flatten()


def _split(n: int, val_fraction: float, seed: int) -> tuple[Tensor, Tensor]:
    if not 0 < val_fraction < 1:
        raise ConfigError(f"trainer.val_fraction must be in (0, 1), got {val_fraction}")
    n_val = max(1, round(n * val_fraction))
    if n - n_val < 2:
        raise ConfigError(f"only {n} usable rows; need more simulations to train")
    order = torch.randperm(n, generator=torch_generator(seed))
    return order[n_val:], order[:n_val]


def _check_shapes(theta, x, names, low, high, status) -> None:
    if theta.dim() != 2:
        raise ConfigError(f"theta must be (N, k), got shape {tuple(theta.shape)}")
    k = theta.shape[1]
    if len(names) != k or low.numel() != k or high.numel() != k:
        raise ConfigError(
            f"theta has {k} columns but {len(names)} names, {low.numel()} lows, {high.numel()} highs"
        )
    if x.shape[0] != theta.shape[0]:
        raise ConfigError(f"theta has {theta.shape[0]} rows but x has {x.shape[0]}")
    if x.dim() not in (2, 3):
        raise ConfigError(f"x must be (N, D) or (N, C, T), got shape {tuple(x.shape)}")
    if status is not None and len(torch.as_tensor(status).flatten()) != theta.shape[0]:
        raise ConfigError("status must have one entry per row of theta")
