"""The :class:`Posterior` base class shared by every estimator (NPE, ensemble, RoPE, hybrid).

A subclass implements ``sample``, ``log_prob``, ``valid_rows`` and the two halves of
serialisation (``state`` / ``from_state``); ``summarize`` and ``save`` come from here.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from cardiosbi import registry
from cardiosbi.errors import SignalError


def level_name(level: float) -> str:
    """Column stem for a central interval level: 0.9 -> 'ci90', 0.975 -> 'ci97.5'."""
    return f"ci{100 * level:g}"


@dataclass(frozen=True)
class Derived:
    """A quantity computed draw by draw from inferred ones, e.g. CO = HR * SV / 1000.

    Summarising per draw keeps exact relations exact: training a flow on a deterministic
    function of its other outputs would ask it for a degenerate density.
    """

    name: str
    unit: str
    inputs: tuple[str, ...]
    function: Callable[..., Tensor]


class Posterior(ABC):
    """An amortised posterior over named parameters in physical units.

    Attributes: ``parameter_names``, ``units``, ``low``/``high`` (k,) prior bounds, and
    ``reject_width90`` (k,): a window is flagged for a parameter when its 90 % interval is wider
    than this threshold (calibrated on validation simulations; NaN = never flag).
    ``input_spec``: how its windows were made (channels, sampling_rate, window_s, normalize)
    when it was trained on a simulated store; None for tensor data. ``cardiosbi infer`` reads it.
    """

    input_spec: dict[str, Any] | None = None

    kind: ClassVar[str] = ""

    def __init__(
        self,
        parameter_names: Sequence[str],
        low: Tensor,
        high: Tensor,
        units: Sequence[str] | None = None,
        reject_width90: Tensor | None = None,
    ) -> None:
        self.parameter_names = list(parameter_names)
        self.low = torch.as_tensor(low, dtype=torch.float64).cpu()
        self.high = torch.as_tensor(high, dtype=torch.float64).cpu()
        self.units = list(units) if units is not None else [default_unit(n) for n in parameter_names]
        k = len(self.parameter_names)
        self.reject_width90 = (
            torch.full((k,), float("nan"), dtype=torch.float64)
            if reject_width90 is None
            else torch.as_tensor(reject_width90, dtype=torch.float64).cpu()
        )

    # --- what every estimator implements -------------------------------------------------
    @abstractmethod
    def sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws per row of ``x``: Tensor (n, B, k) in physical units."""

    @abstractmethod
    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        """log q(theta_b | x_b) as a density in physical units: Tensor (B,)."""

    @abstractmethod
    def valid_rows(self, x: Tensor) -> Tensor:
        """Bool (B,): rows of ``x`` this posterior can condition on (e.g. no NaN/inf)."""

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Plain data (tensors, numbers, strings, lists, dicts) that rebuilds the posterior."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Posterior:
        """Inverse of :meth:`state`."""

    # --- shared behaviour ------------------------------------------------------------------
    @property
    def num_parameters(self) -> int:
        return len(self.parameter_names)

    def check_rows(self, x: Tensor) -> None:
        """Raise :class:`SignalError` naming the first row this posterior cannot use."""
        bad = (~self.valid_rows(x)).nonzero()
        if len(bad):
            raise SignalError(
                f"x row {int(bad[0])} has NaN/inf values and this posterior has no missing-data "
                "mask; drop the row or train with model.embedding.missing_mask=true"
            )

    def summarize(
        self,
        x: Tensor,
        levels: Sequence[float] = (0.5, 0.9, 0.95),
        n: int = 1000,
        generator: torch.Generator | None = None,
        batch_size: int = 256,
        derived: Sequence[Derived] = (),
    ) -> pd.DataFrame:
        """Tidy table, one row per (window, parameter): mean, median, std, central intervals
        ``ci{level}_low/high`` for each level, ``width90`` and ``reject``.

        ``derived`` quantities whose inputs are all inferred get rows of their own, computed
        from the same draws; such a row is rejected when any of its inputs is.
        Windows the posterior cannot use (NaN/inf without a missing-data mask) get NaN
        statistics and ``reject = True`` instead of stopping the whole batch.
        """
        x = torch.as_tensor(x)
        valid = self.valid_rows(x).cpu()
        extra = [d for d in derived if set(d.inputs) <= set(self.parameter_names)
                 and d.name not in self.parameter_names]
        k, windows = self.num_parameters + len(extra), x.shape[0]
        all_levels = sorted(set(levels) | {0.9})
        quantiles = [0.5] + [q for lv in all_levels for q in ((1 - lv) / 2, (1 + lv) / 2)]
        stats = np.full((windows, k, 2 + len(quantiles)), np.nan)
        rows = valid.nonzero().flatten()
        for start in range(0, len(rows), batch_size):
            index = rows[start : start + batch_size]
            with torch.no_grad():
                draws = self.sample(x[index.to(x.device)], n, generator=generator).double().cpu()
            draws = self._with_derived(draws, extra)
            q = torch.quantile(draws, torch.tensor(quantiles, dtype=torch.float64), dim=0)
            block = torch.cat([draws.mean(0)[None], draws.std(0)[None], q], dim=0)
            stats[index.numpy()] = block.permute(1, 2, 0).numpy()
        return self._table(stats, levels, all_levels, valid.numpy(), extra)

    def _with_derived(self, draws: Tensor, extra: Sequence[Derived]) -> Tensor:
        """(n, B, k) draws -> (n, B, k + len(extra)) with the derived quantities appended."""
        if not extra:
            return draws
        column = {name: draws[..., i] for i, name in enumerate(self.parameter_names)}
        values = [d.function(*(column[name] for name in d.inputs)) for d in extra]
        return torch.cat([draws, torch.stack(values, dim=-1)], dim=-1)

    def _table(self, stats: np.ndarray, levels, all_levels, valid: np.ndarray,
               extra: Sequence[Derived] = ()) -> pd.DataFrame:
        windows, k, _ = stats.shape
        table = pd.DataFrame({
            "window": np.repeat(np.arange(windows), k),
            "parameter": np.tile(self.parameter_names + [d.name for d in extra], windows),
            "unit": np.tile(self.units + [d.unit for d in extra], windows),
            "mean": stats[:, :, 0].ravel(),
            "median": stats[:, :, 2].ravel(),
            "std": stats[:, :, 1].ravel(),
        })
        for i, level in enumerate(all_levels):
            if level in levels:
                table[f"{level_name(level)}_low"] = stats[:, :, 3 + 2 * i].ravel()
                table[f"{level_name(level)}_high"] = stats[:, :, 4 + 2 * i].ravel()
        i90 = all_levels.index(0.9)
        width90 = stats[:, :, 4 + 2 * i90] - stats[:, :, 3 + 2 * i90]
        table["width90"] = width90.ravel()
        base = self.num_parameters
        threshold = self.reject_width90.numpy()[None, :]
        with np.errstate(invalid="ignore"):
            too_wide = np.where(np.isnan(threshold), False, width90[:, :base] > threshold)
        # NaN draws: a window the posterior could not sample (see NPEPosterior's truncation).
        too_wide |= np.isnan(width90[:, :base])
        inputs = [[self.parameter_names.index(name) for name in d.inputs] for d in extra]
        too_wide = np.concatenate([too_wide, *(too_wide[:, i].any(axis=1, keepdims=True)
                                               for i in inputs)], axis=1)
        table["reject"] = (too_wide | ~valid[:, None]).ravel()
        return table

    def save(self, path) -> None:
        """Write this posterior to one self-describing file (see :mod:`.serialization`)."""
        from cardiosbi.inference.serialization import save_posterior

        save_posterior(self, path)


def default_unit(name: str) -> str:
    """The registry unit of ``name``; '' for names outside the registry (toy tasks)."""
    quantity = registry.REGISTRY.get(name)
    return quantity.unit if quantity is not None else ""
