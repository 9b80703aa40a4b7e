"""One entry point that runs every diagnostic and writes plots plus tidy CSV files.

``diagnose_samples`` works on plain arrays (any estimator, any simulator); ``run_diagnostics``
draws the samples from a :class:`~cardiosbi.inference.Posterior` first.

Files written to ``out_dir``: ``summary.csv`` (one row per parameter, plus a ``joint`` row for
the joint diagnostics), ``coverage.csv``, ``sbc_ranks.csv``, ``tarp.csv``, ``rejection.csv``,
``ppc.csv`` (with a simulator), and ``coverage.png``, ``sbc.png``, ``tarp.png``,
``rejection.png``, ``ppc.png``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cardiosbi.diagnostics import plots
from cardiosbi.diagnostics._arrays import as_numpy, check_samples
from cardiosbi.diagnostics.accuracy import contraction, point_metrics
from cardiosbi.diagnostics.coverage import (
    DEFAULT_LEVELS,
    calibration_error,
    central_credibility,
    expected_coverage,
    hpd_credibility_from_density,
    marginal_hpd_credibility,
)
from cardiosbi.diagnostics.ppc import Simulator, posterior_predictive, predictive_checks
from cardiosbi.diagnostics.rejection import rejection_curves
from cardiosbi.diagnostics.sbc import rank_uniformity, sbc_ranks
from cardiosbi.diagnostics.tarp import tarp
from cardiosbi.utils.seeding import torch_generator

log = logging.getLogger(__name__)


@dataclass
class DiagnosticsReport:
    """What :func:`diagnose_samples` computed; every table is also written as CSV."""

    summary: pd.DataFrame
    coverage: pd.DataFrame
    rejection: pd.DataFrame
    tarp: pd.DataFrame
    ppc: pd.DataFrame | None = None
    files: list[Path] = field(default_factory=list)


def diagnose_samples(
    samples,
    theta,
    names: list[str],
    out_dir: str | Path,
    *,
    joint_log_density: tuple[np.ndarray, np.ndarray] | None = None,
    prior_std=None,
    x_obs=None,
    simulator: Simulator | None = None,
    n_replicates: int = 100,
    levels=DEFAULT_LEVELS,
    seed: int = 0,
) -> DiagnosticsReport:
    """Run all diagnostics on ``samples`` (n, B, k) versus ``theta`` (B, k).

    ``joint_log_density`` = (log q of the draws (m, B), log q of the truth (B,)) adds the joint
    HPD coverage (the draws used may be the first m ≤ n). ``prior_std`` (k,) defaults to the
    spread of the test θ, which were drawn from the prior. Give ``x_obs`` and ``simulator``
    (θ (M, k), rng → x (M, ...)) for posterior predictive checks.
    """
    samples, theta = check_samples(samples, theta)
    if len(names) != theta.shape[1]:
        raise ValueError(f"{len(names)} names for {theta.shape[1]} parameters")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    levels = np.asarray(levels, float)
    n_draws, n_cases = samples.shape[:2]

    credibility = {
        "central": central_credibility(samples, theta),
        "hpd": marginal_hpd_credibility(samples, theta, seed=seed),
    }
    coverage = _coverage_table(credibility, names, levels)
    ranks = sbc_ranks(samples, theta, seed=seed)
    tarp_result = tarp(samples, theta, levels=levels, seed=seed)
    rejection = rejection_curves(samples, theta, names)
    summary = _summary(samples, theta, names, credibility, ranks, prior_std)

    joint = {"parameter": "joint", "tarp_atc": tarp_result.atc,
             "tarp_abs_area": tarp_result.abs_area, "tarp_ks_pvalue": tarp_result.ks_pvalue}
    if joint_log_density is not None:
        cred = hpd_credibility_from_density(*joint_log_density)
        coverage = pd.concat([coverage, _coverage_table({"joint_hpd": cred[:, None]}, ["joint"], levels)])
        signed, absolute = calibration_error(cred)
        joint.update(calib_bias_joint_hpd=signed[0], calib_error_joint_hpd=absolute[0])
    summary = pd.concat([summary, pd.DataFrame([joint])], ignore_index=True)

    tarp_table = pd.DataFrame({"level": levels, "ecp": tarp_result.ecp})
    rank_table = pd.DataFrame(
        [{"case": b, "parameter": name, "rank": int(ranks[b, j]), "n_draws": n_draws}
         for j, name in enumerate(names) for b in range(n_cases)]
    )
    report = DiagnosticsReport(summary, coverage, rejection, tarp_table)
    tables = {"summary": summary, "coverage": coverage, "sbc_ranks": rank_table,
              "tarp": tarp_table, "rejection": rejection}
    report.files += [
        plots.plot_coverage(coverage, n_cases, out / "coverage.png"),
        plots.plot_sbc(ranks, n_draws, names, out / "sbc.png"),
        plots.plot_tarp(levels, tarp_result.ecp, n_cases, out / "tarp.png"),
        plots.plot_rejection(rejection, out / "rejection.png"),
    ]
    if simulator is not None:
        if x_obs is None:
            raise ValueError("posterior predictive checks need x_obs with the simulator")
        x_obs = as_numpy(x_obs)
        replicates = posterior_predictive(samples, x_obs, simulator,
                                          n_replicates=min(n_replicates, n_draws), seed=seed)
        report.ppc = predictive_checks(replicates, x_obs)
        tables["ppc"] = report.ppc
        report.files.append(plots.plot_ppc(replicates, x_obs, out / "ppc.png"))
    for name, table in tables.items():
        table.to_csv(out / f"{name}.csv", index=False)
        report.files.append(out / f"{name}.csv")
    return report


def _coverage_table(credibility: dict[str, np.ndarray], names: list[str], levels) -> pd.DataFrame:
    frames = []
    for kind, cred in credibility.items():
        cov = expected_coverage(cred, levels)  # (L, k)
        for j, name in enumerate(names):
            frames.append(pd.DataFrame({"parameter": name, "kind": kind, "level": levels,
                                        "coverage": cov[:, j]}))
    return pd.concat(frames, ignore_index=True)


def _summary(samples, theta, names, credibility, ranks, prior_std) -> pd.DataFrame:
    n_draws = samples.shape[0]
    if prior_std is None:
        prior_std = theta.std(axis=0)
    metrics = point_metrics(samples.mean(axis=0), theta)
    metrics.update(contraction(samples, theta, prior_std))
    for kind, cred in credibility.items():
        signed, absolute = calibration_error(cred)
        metrics[f"calib_bias_{kind}"] = signed
        metrics[f"calib_error_{kind}"] = absolute
    for level in (0.5, 0.9, 0.95):
        metrics[f"coverage{int(level * 100)}"] = (credibility["central"] <= level).mean(axis=0)
    tests = [rank_uniformity(ranks[:, j], n_draws) for j in range(len(names))]
    metrics["sbc_chi2_pvalue"] = np.array([t.chi2_pvalue for t in tests])
    metrics["sbc_ks_pvalue"] = np.array([t.ks_pvalue for t in tests])
    table = pd.DataFrame({key: np.asarray(value, float) for key, value in metrics.items()})
    table.insert(0, "parameter", names)
    return table


def run_diagnostics(
    posterior,
    theta_test,
    x_test,
    out_dir: str | Path,
    *,
    n_samples: int = 1000,
    joint_hpd_draws: int = 100,
    simulator: Simulator | None = None,
    batch_size: int = 256,
    seed: int = 0,
    **kwargs,
) -> DiagnosticsReport:
    """Sample ``posterior`` on every test observation and run :func:`diagnose_samples`.

    ``posterior`` follows the Posterior contract (``sample``, ``log_prob``,
    ``parameter_names``). The joint HPD coverage uses the posterior's own density on the first
    ``joint_hpd_draws`` draws (0 skips it: each draw costs one log_prob pass over the test set).
    """
    theta_test = torch.as_tensor(as_numpy(theta_test), dtype=torch.float32)
    x_test = torch.as_tensor(as_numpy(x_test), dtype=torch.float32)
    generator = torch_generator(seed)
    chunks, logq_draws, logq_truth = [], [], []
    with torch.no_grad():
        for start in range(0, len(x_test), batch_size):
            x = x_test[start:start + batch_size]
            draws = posterior.sample((n_samples,), x=x, generator=generator)
            chunks.append(draws.detach().cpu())
            if joint_hpd_draws > 0:
                t = theta_test[start:start + batch_size]
                logq_truth.append(posterior.log_prob(t, x).cpu())
                m = min(joint_hpd_draws, n_samples)
                logq_draws.append(torch.stack([posterior.log_prob(draws[i], x).cpu() for i in range(m)]))
    samples = torch.cat(chunks, dim=1)
    joint = None
    if joint_hpd_draws > 0:
        joint = (torch.cat(logq_draws, dim=1).numpy(), torch.cat(logq_truth).numpy())
    log.info("diagnostics on %d cases with %d draws each", samples.shape[1], n_samples)
    return diagnose_samples(
        samples, theta_test, list(posterior.parameter_names), out_dir,
        joint_log_density=joint, x_obs=x_test if simulator is not None else None,
        simulator=simulator, seed=seed, **kwargs,
    )
