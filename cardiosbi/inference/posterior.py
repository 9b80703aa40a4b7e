"""The :class:`Posterior` base class shared by every estimator (NPE, ensemble, RoPE, hybrid).

A subclass implements ``_sample``, ``log_prob``, ``valid_rows`` and the two halves of
serialisation (``state`` / ``from_state``); the sbi-style ``sample((n,), x=x)``, ``summarize``
and ``save`` come from here. ``summarize`` says of every number whether it can be trusted:
interval too wide, median pinned at a prior bound, input outside the training distribution
(:mod:`.ood`), and the biomarker's validation status on real data (:mod:`.validity`).
"""

from __future__ import annotations

import math
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from cardiosbi import registry
from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.inference.ood import EmbeddingOOD
from cardiosbi.inference.validity import Validity, derived_validity, validity_of

# A median within this fraction of the prior range from a bound is "pinned" there: the
# posterior is piled against the edge of what was simulated, so the true value may lie beyond.
BOUND_FRACTION = 0.02


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
    # Per biomarker {"status", "note"} from the model card (see :mod:`.validity`); None: not
    # validated on real data. Out-of-distribution statistics of the embedding (:mod:`.ood`).
    validation: dict[str, dict[str, str]] | None = None
    ood: EmbeddingOOD | None = None

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
    def _sample(self, x: Tensor, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` draws per row of the batch ``x``: Tensor (n, B, k) in physical units."""

    @abstractmethod
    def log_prob(self, theta: Tensor, x: Tensor) -> Tensor:
        """log q(theta_b | x_b) as a density in physical units: Tensor (B,)."""

    @abstractmethod
    def valid_rows(self, x: Tensor) -> Tensor:
        """Bool (B,): rows of ``x`` this posterior can condition on (e.g. no NaN/inf)."""

    @property
    def reads_gaps(self) -> bool:
        """True when missing samples (NaN) in a window are model input (a missing-data mask),
        so real windows keep their gaps instead of being interpolated or rejected."""
        return False

    @abstractmethod
    def state(self) -> dict[str, Any]:
        """Plain data (tensors, numbers, strings, lists, dicts) that rebuilds the posterior."""

    @classmethod
    @abstractmethod
    def from_state(cls, state: dict[str, Any]) -> Posterior:
        """Inverse of :meth:`state`."""

    # --- shared behaviour ------------------------------------------------------------------
    @property
    def x_shape(self) -> tuple[int, ...] | None:
        """Shape of one window (e.g. (channels, samples)); None when not fixed."""
        return None

    def sample(self, sample_shape: int | Sequence[int] | Tensor = (), x: Tensor | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """Draws of q(theta | x) in physical units, as sbi: ``sample((n,), x=x)``.

        ``x`` is one window (shape :attr:`x_shape`) -> (*sample_shape, k), or a batch ->
        (*sample_shape, B, k). The old order ``sample(x, n)`` still works, with a warning.
        """
        if isinstance(sample_shape, Tensor | np.ndarray):
            warnings.warn("Posterior.sample(x, n) is deprecated; use sample((n,), x=x)",
                          DeprecationWarning, stacklevel=2)
            sample_shape, x = (int(x),), sample_shape
        if x is None:
            raise ConfigError("sample needs the observation: posterior.sample((n,), x=x)")
        shape = torch.Size([sample_shape] if isinstance(sample_shape, int) else sample_shape)
        x, single = self._batched(x)
        draws = self._sample(x, math.prod(shape), generator)
        draws = draws[:, 0] if single else draws
        return draws.reshape(*shape, *draws.shape[1:])

    def _batched(self, x: Tensor) -> tuple[Tensor, bool]:
        """(``x`` with a batch dimension, whether it was one window)."""
        x = torch.as_tensor(x)
        single = self.x_shape is not None and x.ndim == len(self.x_shape)
        return (x[None] if single else x), single

    @property
    def num_parameters(self) -> int:
        return len(self.parameter_names)

    def ood_features(self, x: Tensor) -> Tensor | None:
        """Features (B, E) the out-of-distribution score reads (the embedding); None if none."""
        return None

    def ood_scores(self, x: Tensor) -> Tensor:
        """(B,) out-of-distribution score of each row (NaN without OOD statistics)."""
        features = self.ood_features(x) if self.ood is not None else None
        if features is None:
            return torch.full((len(x),), float("nan"), dtype=torch.float64)
        return self.ood.score(features)

    def validity(self) -> dict[str, Validity]:
        """Validation status on real data of every parameter (see :mod:`.validity`)."""
        return {name: validity_of(self.validation, name) for name in self.parameter_names}

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
        ``ci{level}_low/high`` for each level and for 0.9, ``width90`` and ``reject``.

        ``derived`` quantities whose inputs are all inferred get rows of their own, computed
        from the same draws; such a row is rejected when any of its inputs is.
        Windows the posterior cannot use (NaN/inf without a missing-data mask) get NaN
        statistics and ``reject = True`` instead of stopping the whole batch.

        Every rejected row says why in ``reject_reason``; ``at_bound``, ``ood_score``/``ood``,
        ``validity``/``validity_note`` and ``status`` (ok | rejected | unvalidated) tell a
        reader which numbers are sound (see the module docstring).
        """
        x = torch.as_tensor(x)
        valid = self.valid_rows(x).cpu()
        extra = [d for d in derived if set(d.inputs) <= set(self.parameter_names)
                 and d.name not in self.parameter_names]
        k, windows = self.num_parameters + len(extra), x.shape[0]
        all_levels = sorted(set(levels) | {0.9})
        quantiles = [0.5] + [q for lv in all_levels for q in ((1 - lv) / 2, (1 + lv) / 2)]
        stats = np.full((windows, k, 2 + len(quantiles)), np.nan)
        ood_score = np.full(windows, np.nan)
        rows = valid.nonzero().flatten()
        for start in range(0, len(rows), batch_size):
            index = rows[start : start + batch_size]
            batch = x[index.to(x.device)]
            with torch.no_grad():
                draws = self._sample(batch, n, generator).double().cpu()
                ood_score[index.numpy()] = self.ood_scores(batch).cpu().numpy()
            draws = self._with_derived(draws, extra)
            q = torch.quantile(draws, torch.tensor(quantiles, dtype=torch.float64), dim=0)
            block = torch.cat([draws.mean(0)[None], draws.std(0)[None], q], dim=0)
            stats[index.numpy()] = block.permute(1, 2, 0).numpy()
        table = self._table(stats, levels, all_levels, extra)
        return self._judge(table, stats[:, :, 2], ood_score, valid.numpy(), extra)

    def _with_derived(self, draws: Tensor, extra: Sequence[Derived]) -> Tensor:
        """(n, B, k) draws -> (n, B, k + len(extra)) with the derived quantities appended."""
        if not extra:
            return draws
        column = {name: draws[..., i] for i, name in enumerate(self.parameter_names)}
        values = [d.function(*(column[name] for name in d.inputs)) for d in extra]
        return torch.cat([draws, torch.stack(values, dim=-1)], dim=-1)

    def _table(self, stats: np.ndarray, levels, all_levels,
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
        for i, level in enumerate(all_levels):  # the 90 % interval always: the reject rule reads it
            if level in levels or level == 0.9:
                table[f"{level_name(level)}_low"] = stats[:, :, 3 + 2 * i].ravel()
                table[f"{level_name(level)}_high"] = stats[:, :, 4 + 2 * i].ravel()
        i90 = all_levels.index(0.9)
        width90 = stats[:, :, 4 + 2 * i90] - stats[:, :, 3 + 2 * i90]
        table["width90"] = width90.ravel()
        return table

    def _judge(self, table: pd.DataFrame, median: np.ndarray, ood_score: np.ndarray,
               valid: np.ndarray, extra: Sequence[Derived]) -> pd.DataFrame:
        """Add the reject flag with its reasons, and the validity columns, to ``table``."""
        windows, base = median.shape[0], self.num_parameters
        width90 = table["width90"].to_numpy().reshape(windows, -1)[:, :base]
        limit = self.ood.threshold if self.ood is not None else np.inf
        ood = np.nan_to_num(ood_score, nan=-np.inf) > limit
        reasons, at_bound = self._reasons(median[:, :base], width90, valid, ood_score, ood)
        # a derived row (CO) is as sound as its inputs
        for d in extra:
            inputs = [self.parameter_names.index(name) for name in d.inputs]
            reasons = np.concatenate([reasons, _joined(reasons[:, inputs], d.inputs)], axis=1)
            at_bound = np.concatenate([at_bound, at_bound[:, inputs].any(1, keepdims=True)], 1)
        k = reasons.shape[1]
        table["reject"] = (reasons != "").ravel()
        table["reject_reason"] = reasons.ravel()
        table["at_bound"] = at_bound.ravel()
        table["ood_score"] = np.repeat(ood_score, k)
        table["ood"] = np.repeat(ood, k)
        validity = self.validity()
        validity.update({d.name: derived_validity(d.inputs, validity) for d in extra})
        names = self.parameter_names + [d.name for d in extra]
        table["validity"] = np.tile([validity[n].status for n in names], windows)
        table["validity_note"] = np.tile([validity[n].note for n in names], windows)
        table["status"] = np.where(table["reject"], "rejected",
                                   np.where(table["validity"] == "validated", "ok", "unvalidated"))
        return table

    def _reasons(self, median: np.ndarray, width90: np.ndarray, valid: np.ndarray,
                 ood_score: np.ndarray, ood: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(windows, k) strings saying why each estimate is rejected ('' when it is not; several
        reasons joined by "; ", which no single reason contains), and (windows, k) bool: median
        pinned at a prior bound."""
        threshold = self.reject_width90.numpy()
        low, high = self.low.numpy(), self.high.numpy()
        margin = BOUND_FRACTION * (high - low)
        with np.errstate(invalid="ignore"):
            too_wide = np.where(np.isnan(threshold), False, width90 > threshold)
            at_low, at_high = median <= low + margin, median >= high - margin
        out = np.full(median.shape, "", dtype=object)
        for i, j in zip(*np.nonzero(~valid[:, None] | np.isnan(width90) | too_wide | at_low
                                    | at_high | ood[:, None]), strict=True):
            unit = f" {self.units[j]}" if self.units[j] else ""
            why = []
            if not valid[i]:
                why.append("window has NaN/inf values this model cannot read")
            elif np.isnan(width90[i, j]):
                why.append("no valid posterior draws (the window lies outside the prior box)")
            if too_wide[i, j]:
                why.append(f"interval too wide (90% width {width90[i, j]:.3g} > "
                           f"{threshold[j]:.3g}{unit})")
            if at_low[i, j] or at_high[i, j]:
                side, bound = ("lower", low[j]) if at_low[i, j] else ("upper", high[j])
                why.append(f"at prior bound (median near the {side} bound {bound:.4g}{unit}, "
                           "the value may lie beyond what was simulated)")
            if ood[i]:
                why.append(f"input outside the training distribution (score {ood_score[i]:.3g} "
                           f"> {self.ood.threshold:.3g})")
            out[i, j] = "; ".join(why)
        return out, at_low | at_high

    def save(self, path) -> None:
        """Write this posterior to one self-describing file (see :mod:`.serialization`)."""
        from cardiosbi.inference.serialization import save_posterior

        save_posterior(self, path)


def _joined(reasons: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """(windows, 1): the inputs' reasons, each prefixed with its input's name."""
    rows = ["; ".join(f"{name}: {why}" for name, why in zip(names, row, strict=True) if why)
            for row in reasons]
    return np.array(rows, dtype=object).reshape(-1, 1)


def default_unit(name: str) -> str:
    """The registry unit of ``name``; '' for names outside the registry (toy tasks)."""
    quantity = registry.REGISTRY.get(name)
    return quantity.unit if quantity is not None else ""
