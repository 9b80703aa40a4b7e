"""RoPE pendulum study: LPP and ACAUC versus calibration-set size, RoPE against baselines.

Design (paper's task C): θ = (ω0, A) ~ U([0, 3] × [0.5, 10]); the simulator observes
A·cos(ω0 t + φ) + noise (200 samples over 10 s, random phase); the "real" process damps it by
e^(−αt), α ~ U[0, 1]. Methods (see :mod:`study`), all on the same test set of `n_test` real
pairs per seed, plus SBI: the NPE on simulations *of the test labels* (the ceiling).

Writes `results.csv` (tidy: seed, size, method, lpp, acauc), `lpp_acauc.png` and prints the
summary table. Output folder: `out` in `pendulum.yaml` (overrides: key=value).
"""

from __future__ import annotations

import math
import sys
import time
from pathlib import Path

import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study  # noqa: E402  (sibling module of this script)

from cardiosbi.inference import train_npe  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402
from simulators import pendulum  # noqa: E402

HERE = Path(__file__).resolve().parent


def simulator(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    return pendulum.simulate(theta.cpu(), generator)


def seed_data(cfg: study.StudyConfig, seed: int) -> tuple[study.SeedData, torch.Tensor]:
    """The seed's real test pairs, reference sims, calibration pool, and the test labels' sims."""
    generator = torch.Generator().manual_seed(1000 + seed)
    theta_test = pendulum.sample_prior(cfg.n_test, generator)
    x_test = pendulum.simulate(theta_test, generator, damped=True)
    x_test_sim = pendulum.simulate(theta_test, generator)  # SBI ceiling: same labels, simulated
    theta_ref = pendulum.sample_prior(cfg.n_test, generator)
    x_ref = pendulum.simulate(theta_ref, generator)
    pool_theta = pendulum.sample_prior(max(cfg.calibration_sizes), generator)
    pool_x = pendulum.simulate(pool_theta, generator, damped=True)
    return study.SeedData(theta_test, x_test, theta_ref, x_ref, pool_theta, pool_x), x_test_sim


def run(cfg: study.StudyConfig) -> pd.DataFrame:
    """Train the NPE, run every seed, write results.csv and the figure into ``cfg.out``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    generator = torch.Generator().manual_seed(cfg.seed)
    theta_sim = pendulum.sample_prior(cfg.n_train, generator)
    x_sim = pendulum.simulate(theta_sim, generator)
    npe = train_npe(theta_sim, x_sim, list(pendulum.PARAMETER_NAMES), pendulum.LOW,
                    pendulum.HIGH, study.npe_config(cfg))
    print(f"NPE trained in {time.perf_counter() - started:.0f} s: {npe.training}")
    prior_lpp = -math.log(3.0) - math.log(9.5)
    rows = []
    for seed in cfg.seeds:
        data, x_test_sim = seed_data(cfg, seed)
        ceiling = study.evaluate(npe, data.theta_test, x_test_sim, cfg.n_samples,
                                 torch.Generator().manual_seed(seed))
        fixed = {"prior": (prior_lpp, 0.0), "SBI": ceiling}
        rows += study.run_seed(cfg, npe, theta_sim, x_sim, data, simulator, seed, fixed)
        pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
    table = pd.DataFrame(rows)
    study.plot(table, out / "lpp_acauc.png", "RoPE pendulum study")
    print(study.summary(table).round(3).to_string())
    print(f"total {time.perf_counter() - started:.0f} s; results in {out}")
    return table


def main(argv: list[str]) -> None:
    run(load_study_config(study.StudyConfig, HERE / "pendulum.yaml", argv))


if __name__ == "__main__":
    main(sys.argv[1:])
