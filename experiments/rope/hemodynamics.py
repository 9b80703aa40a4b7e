"""RoPE hemodynamics study (issue #7): θ = (SV, LVET) from a normalised radial pressure window.

Data: our own 1D simulator (PWDB-116 arterial tree, adult prior, default measurement model:
8-s windows at 125 Hz with noise, wander, HRV, respiration, motion, random start). The
"simulator" keeps height at 170 cm, so arterial lengths are fixed; the "real" data draw height
~ U[150, 200] cm and scale the lengths with it. Heart rate, stiffness, resistance, compliance,
diameters (and, for real data, height) are nuisances. Files (git-ignored, see hemodynamics.yaml
for how they were simulated): ``sim_path`` (NPE training set + reference simulations n_s) and
``real_path`` (labelled "real" test and calibration pairs, re-split per seed).

Fine-tuning has no simulator at hand: :class:`NearestSimulation` returns the pre-computed
simulation with the nearest (SV, LVET) in box-scaled units (its nuisances are other prior
draws, as an on-the-fly simulation's would be). There is no SBI ceiling (no fixed-height
simulation at the test labels exists). Prior lines: the uniform box, and a Gaussian KDE of the
simulated (SV, LVET) — the constraints (CO, MAP, systolic fraction) make the effective prior
non-uniform. Methods and metrics: :mod:`study`.
"""

from __future__ import annotations

import itertools
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import OmegaConf
from scipy.stats import gaussian_kde

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study  # noqa: E402  (sibling module of this script)

from cardiosbi.calibration import NearestSimulation, acauc, lpp  # noqa: E402
from cardiosbi.errors import ConfigError  # noqa: E402
from cardiosbi.inference import train_npe  # noqa: E402
from cardiosbi.signals import normalize_window  # noqa: E402
from cardiosbi.utils.paths import existing_path  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PARAMETERS = ("sv", "lvet")
CHANNEL = "x_radial_P"
LPP_AXIS = (-11.0, -8.0)  # the prior lies near −10; the calibration-only MLP falls far below


@dataclass
class HemodynamicsConfig(study.StudyConfig):
    sim_path: str = "data/studies/rope_hemodynamics/sim_height_fixed.npz"
    real_path: str = "data/studies/rope_hemodynamics/real_height_scaled.npz"
    prior: str = "cardiosbi/conf/prior/adult.yaml"
    reference: str = "held_out"  # held_out: sims not used to train the NPE (n_s = N − n_train);
    #                              all: every sim, the NPE's training ones included (larger n_s)


def load(path: str) -> tuple[torch.Tensor, torch.Tensor]:
    """(θ (N, 2) = SV [mL], LVET [ms]; x (N, 1, 1000) per-window z-scored) of the ok subjects."""
    data = np.load(existing_path(REPO / path, "study data file"))
    names = list(data["theta_names"])
    ok = data["status"] == 0
    theta = data["theta"][ok][:, [names.index(p) for p in PARAMETERS]]
    x = normalize_window(data[CHANNEL][ok].astype(np.float32))[:, None, :]
    return torch.from_numpy(theta.astype(np.float32)), torch.from_numpy(x)


def prior_box(cfg: HemodynamicsConfig) -> tuple[torch.Tensor, torch.Tensor]:
    """Low and high of the uniform prior of (SV, LVET) before the constraints."""
    parameters = OmegaConf.load(REPO / cfg.prior).parameters
    low = torch.tensor([float(parameters[p].low) for p in PARAMETERS])
    high = torch.tensor([float(parameters[p].high) for p in PARAMETERS])
    return low, high


def prior_rows(theta_sim, theta_test, low, high, n_samples, seed) -> dict:
    """(LPP, ACAUC) of the uniform box and of a KDE of the simulated (constrained) prior."""
    generator = torch.Generator().manual_seed(seed)
    box_lpp = -float(torch.log(high - low).sum())
    box_draws = low + (high - low) * torch.rand((n_samples, *theta_test.shape),
                                                generator=generator)
    kde_lpp = lpp(reflected_kde_logpdf(theta_sim, theta_test, low, high))
    which = torch.randint(len(theta_sim), (n_samples, len(theta_test)), generator=generator)
    return {"prior (box)": (box_lpp, acauc(box_draws, theta_test)),
            "prior (KDE)": (kde_lpp, acauc(theta_sim[which], theta_test))}


def reflected_kde_logpdf(theta_fit, theta_eval, low, high) -> torch.Tensor:
    """Log density of a Gaussian KDE with reflection at the box edges (no mass leaks out).

    A plain KDE puts mass outside the box and underestimates the density near its edges, which
    would rank the effective prior below the uniform box it is a constrained version of."""
    kde = gaussian_kde(theta_fit.double().numpy().T)
    points = theta_eval.double().numpy().T  # (k, B)
    lo, hi = low.double().numpy()[:, None], high.double().numpy()[:, None]
    images_per_dim = [(p, 2 * a - p, 2 * b - p) for p, a, b in zip(points, lo, hi, strict=True)]
    density = sum(kde.pdf(np.stack(image)) for image in itertools.product(*images_per_dim))
    return torch.from_numpy(np.log(density))


def seed_data(cfg, theta_real, x_real, theta_ref, x_ref, seed) -> study.SeedData:
    """The seed's split of the real data into test pairs and a calibration pool."""
    n_pool = max(cfg.calibration_sizes)
    if cfg.n_test + n_pool > len(theta_real):
        raise ConfigError(f"n_test + max(calibration_sizes) = {cfg.n_test + n_pool} exceeds the "
                          f"{len(theta_real)} real subjects; lower n_test")
    order = torch.randperm(len(theta_real), generator=torch.Generator().manual_seed(1000 + seed))
    test, pool = order[:cfg.n_test], order[cfg.n_test:cfg.n_test + n_pool]
    return study.SeedData(theta_real[test], x_real[test], theta_ref, x_ref,
                          theta_real[pool], x_real[pool])


def run(cfg: HemodynamicsConfig) -> pd.DataFrame:
    """Train the NPE, run every seed, write results.csv and the figure into ``cfg.out``."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    theta_all, x_all = load(cfg.sim_path)
    theta_real, x_real = load(cfg.real_path)
    if cfg.n_train >= len(theta_all):
        raise ConfigError(f"n_train = {cfg.n_train} leaves no reference simulations out of "
                          f"{len(theta_all)}; lower n_train")
    order = torch.randperm(len(theta_all), generator=torch.Generator().manual_seed(cfg.seed))
    train, reference = order[:cfg.n_train], order[cfg.n_train:]
    if cfg.reference not in ("held_out", "all"):
        raise ConfigError(f"reference={cfg.reference!r}; valid: held_out, all")
    if cfg.reference == "all":
        reference = order
    low, high = prior_box(cfg)
    npe = train_npe(theta_all[train], x_all[train], list(PARAMETERS), low, high,
                    study.npe_config(cfg), units=["mL", "ms"])
    print(f"NPE trained in {time.perf_counter() - started:.0f} s on {len(train)} simulations "
          f"({len(reference)} reference simulations): {npe.training}", flush=True)
    simulator = NearestSimulation(theta_all, x_all, low, high)
    rows = []
    for seed in cfg.seeds:
        data = seed_data(cfg, theta_real, x_real, theta_all[reference], x_all[reference], seed)
        fixed = prior_rows(theta_all, data.theta_test, low, high, cfg.n_samples, seed)
        rows += study.run_seed(cfg, npe, theta_all[train], x_all[train], data, simulator, seed,
                               fixed)
        pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
        print(f"seed {seed} done at {time.perf_counter() - started:.0f} s", flush=True)
    table = pd.DataFrame(rows)
    study.plot(table, out / "lpp_acauc.png", "RoPE hemodynamics study: (SV, LVET)",
               lpp_limits=LPP_AXIS)
    print(study.summary(table).round(3).to_string())
    print(f"total {time.perf_counter() - started:.0f} s; results in {out}")
    return table


def main(argv: list[str]) -> None:
    run(load_study_config(HemodynamicsConfig, HERE / "hemodynamics.yaml", argv))


if __name__ == "__main__":
    main(sys.argv[1:])
