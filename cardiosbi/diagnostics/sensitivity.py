"""Variance-based global sensitivity analysis (Sobol indices) of a simulator's summary outputs.

The classical alternative to SBI that Wehenkel et al. (2023) contrast it with: Saltelli/Sobol'
sampling of the prior box (SALib), one simulator call per sample, then first-order (S1) and
total (ST) indices of each scalar output. S1 is the share of an output's variance explained by
one parameter alone, ST the share that involves it at all (interactions included). The indices
describe the population average; they cannot show that a parameter is identifiable for some
subjects and not for others, which is the point the paper makes with per-subject posteriors.

Log-uniform prior dimensions are sampled uniformly in log space, so the indices refer to the
prior's own measure.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from SALib.analyze import sobol as sobol_analyze
from SALib.sample import sobol as sobol_sample

from cardiosbi.errors import ConfigError


def sobol_design(names: Sequence[str], low: Sequence[float], high: Sequence[float],
                 log: Sequence[bool], n: int, seed: int) -> tuple[dict, np.ndarray]:
    """The SALib problem and its N·(2D + 2) Saltelli points in parameter units, (M, D).

    ``n`` must be a power of two (Sobol' sequences lose their balance otherwise)."""
    if n < 2 or n & (n - 1):
        raise ConfigError(f"sobol n={n}: use a power of two >= 2")
    low, high, log = (np.asarray(v) for v in (low, high, log))
    if np.any(high <= low) or np.any(log & (low <= 0)):
        raise ConfigError("sobol bounds: need high > low, and low > 0 for log-uniform parameters")
    box = np.stack([low, high], 1).astype(np.float64)
    bounds = np.where(log[:, None], np.log(np.where(log[:, None], box, 1.0)), box)
    problem = {"num_vars": len(names), "names": list(names), "bounds": bounds.tolist()}
    unit = sobol_sample.sample(problem, n, calc_second_order=False, seed=seed)
    return problem, np.where(log, np.exp(unit), unit)


def sobol_indices(problem: dict, outputs: Mapping[str, np.ndarray], seed: int) -> pd.DataFrame:
    """S1 and ST (with 95 % bootstrap half-widths) per (output, parameter); ``outputs`` maps an
    output name to its values at the design points. An output that is constant (no variance to
    share) or not finite everywhere is rejected with a reason instead of giving NaN indices."""
    rows = []
    for output, y in outputs.items():
        y = np.asarray(y, dtype=np.float64)
        if not np.all(np.isfinite(y)):
            raise ConfigError(f"sobol output {output!r}: {np.sum(~np.isfinite(y))} non-finite "
                              "values; every design point must be simulated")
        if np.std(y) == 0:
            rows.append({"output": output, "parameter": None, "reason": "constant output"})
            continue
        result = sobol_analyze.analyze(problem, y, calc_second_order=False, seed=seed)
        for j, name in enumerate(problem["names"]):
            rows.append({"output": output, "parameter": name, "S1": result["S1"][j],
                         "S1_conf": result["S1_conf"][j], "ST": result["ST"][j],
                         "ST_conf": result["ST_conf"][j], "reason": ""})
    return pd.DataFrame(rows)


def run_sobol(names: Sequence[str], low, high, log, model: Callable[[dict[str, np.ndarray]],
              Mapping[str, np.ndarray]], n: int, seed: int) -> pd.DataFrame:
    """Design, one ``model`` call on all points (name -> (M,) values in, output -> (M,) out),
    indices."""
    problem, points = sobol_design(names, low, high, log, n, seed)
    outputs = model({name: points[:, j] for j, name in enumerate(names)})
    return sobol_indices(problem, outputs, seed)
