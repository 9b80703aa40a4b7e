"""Why does HAI under-cover? Small diagnostics on a seed the study does not use.

On one diagnostic seed (default 7; the study runs 0 and 1), with the study's sizes, this asks:

* the NPE itself: 90 % coverage and MAPE of the simulation-only NPE on *simulated* test windows
  (its own world): if it under-covers there, HAI inherits it;
* the flow p(x_sim | x_obs): its 90 % interval coverage, per feature, of fresh simulations at
  the θ of fresh labelled-like windows (not the test windows), and its held-out log-likelihood
  at the best and at the last training epoch (is 300 full-batch epochs on 100 pairs over-fitted?);
* HAI's θ coverage on the test windows for: more x_sim draws per window (16 -> 128); more
  simulations per labelled window in the flow's pairs (1 -> ``pairs``); epochs chosen by early
  stopping on 20 % of the labelled windows; both.

Run: ``python experiments/hai/coverage_diagnostics.py [key=value ...]`` (study settings plus
``diagnostic_seed``, ``pairs``, ``out``, default runs/hai_diagnostics). Writes ``rows.csv`` (one row per variant, condition and
parameter), ``flow_coverage.csv`` and ``flow_early_stopping.csv`` under ``out``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study  # noqa: E402  (sibling module of this script)

from cardiosbi.hai import fit_misspecification  # noqa: E402
from cardiosbi.inference import train_npe  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

FEATURES = [f"{kind}_{int(w)}" for w in study.WAVELENGTHS for kind in ("log_dc", "log_pi")]


@dataclass
class DiagnosticConfig(study.StudyConfig):
    diagnostic_seed: int = 7
    pairs: int = 10           # simulations per labelled window in the "more pairs" variants
    n_flow_check: int = 300   # fresh labelled-like windows for the flow's own coverage


OUT = "runs/hai_diagnostics"  # not the study's out (study.yaml would set it): an out= argument wins


VARIANTS = {  # name: (pairs_per_label, flow_val_fraction, n_sim_draws)
    "before (1 pair, 300 epochs, 16 draws)": (1, 0.0, 16),
    "128 x_sim draws": (1, 0.0, 128),
    "early stopping": (1, 0.2, 16),
    "K pairs per label": (None, 0.0, 16),
    "K pairs + early stopping": (None, 0.2, 16),
}


def flow_coverage(flow, world, cfg, generator) -> list[dict]:
    """90 % coverage per feature of fresh x_sim given x_obs, on fresh (θ, x_obs) pairs."""
    theta = study.draw_theta(cfg.n_flow_check, generator)
    x_obs, x_sim = study.features(theta, world, generator), study.simulate(theta, generator)
    draws = flow.sample(x_obs, 400, generator)
    lo, hi = draws.quantile(0.05, 0), draws.quantile(0.95, 0)
    inside = ((x_sim >= lo) & (x_sim <= hi)).float().mean(0)
    return [{"feature": f, "coverage90": float(c)} for f, c in zip(FEATURES, inside, strict=True)]


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_study_config(DiagnosticConfig, study.HERE / "study.yaml", [f"out={OUT}", *argv])
    torch.set_num_threads(1)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    start, seed = time.time(), cfg.diagnostic_seed
    generator = torch.Generator().manual_seed(seed)
    theta_sim = study.draw_theta(cfg.n_sim, generator)
    npe = train_npe(theta_sim, study.simulate(theta_sim, generator), study.NAMES, study.LOW,
                    study.HIGH, study.npe_config(cfg, seed), units=study.UNITS)
    theta_check = study.draw_theta(cfg.n_test, generator)
    rows = [{"variant": "NPE on simulated windows", "condition": "simulator", **r}
            for r in study.metrics(npe.sample((cfg.n_draws,), x=study.simulate(theta_check, generator),
                                              generator=generator).float(), theta_check)]
    flow_rows, curves = [], []
    for condition in cfg.conditions:
        world = study.WORLDS[condition]
        theta_lab, theta_test = study.draw_theta(cfg.n_labelled, generator), study.draw_theta(cfg.n_test, generator)
        x_lab, x_test = study.features(theta_lab, world, generator), study.features(theta_test, world, generator)
        for variant, (pairs, val_fraction, draws) in VARIANTS.items():
            settings = replace(cfg, pairs_per_label=pairs or cfg.pairs,
                               flow_val_fraction=val_fraction, n_sim_draws=draws)
            variant = variant.replace("K pairs", f"{settings.pairs_per_label} pairs")
            hai = study.hai_posterior(settings, npe, theta_lab, x_lab, generator, seed)
            sample = hai.sample((cfg.n_draws,), x=x_test, generator=generator).float()
            rows += [{"variant": variant, "condition": condition, **hai.training, **r}
                     for r in study.metrics(sample, theta_test)]
            flow_rows += [{"variant": variant, "condition": condition, **r}
                          for r in flow_coverage(hai.misspec, world, cfg, generator)]
        curves.append(early_stopping_report(cfg, theta_lab, x_lab, generator, seed, condition))
    table = pd.DataFrame(rows)
    table.to_csv(out / "rows.csv", index=False)
    pd.DataFrame(flow_rows).to_csv(out / "flow_coverage.csv", index=False)
    pd.concat(curves).to_csv(out / "flow_early_stopping.csv", index=False)
    summary = table.groupby(["condition", "variant"], sort=False)[
        ["pearson_r", "mape_pct", "coverage90", "width90"]].mean().round(3)
    print(summary.to_string())
    print(pd.DataFrame(flow_rows).groupby(["condition", "variant"], sort=False).coverage90.mean()
          .round(3).to_string())
    print(f"wall time {time.time() - start:.0f} s")
    return summary


def early_stopping_report(cfg, theta_lab, x_lab, generator, seed, condition) -> pd.DataFrame:
    """Best vs last-epoch held-out NLL of the 1-pair flow (80/20 split of the labelled windows)."""
    x_sim = study.simulate(theta_lab, generator)
    flow = fit_misspecification(x_lab, x_sim, epochs=cfg.flow_epochs, seed=seed, val_fraction=0.2)
    report = flow.fit_report
    return pd.DataFrame([{"condition": condition, **report}])


if __name__ == "__main__":
    main(sys.argv[1:])
