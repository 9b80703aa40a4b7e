"""HAI study: infer optical tissue properties from 530/660/940 nm reflectance PPG features.

Features per wavelength: log DC and log perfusion index (6 numbers). Simulator: the package's
optical model (``simulators.ppg.optical``) with a fixed drive (a half-cosine pulse; DC and AC
depend on the drive only through its range). "Real" worlds, stated exactly:

* ``ideal``: the simulator itself, same 2 % log-normal feature noise.
* ``sensor``: LED centres shifted +12 nm (530->542, 660->672, 940->952), source-detector
  distance 3.6 mm instead of 3.0, detector non-linearity I**0.93, per-window gain U(0.6, 1.4)
  (simulation: U(0.8, 1.2)), feature noise 4 %.
* ``sensor_skin``: ``sensor`` plus a different skin: dermis 2.2 mm (1.5), epidermis 0.15 mm
  (0.1), water 0.55 (0.65), 30 % of the pulsatile blood in the subcutis (0), subcutis blood
  0.02 (0.01).

Methods: simulation-only NPE (``train_npe``), HAI (NPE + conditional flow p(x_sim | x_obs)
fitted on the labelled set), real-only (quadratic ridge regression with Gaussian residual
intervals, fitted on the labelled set only). RoPE is not in this version (see report).

Run: ``python experiments/hai/study.py [--tiny] [--out runs/hai]``.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from cardiosbi.hai import HAIPosterior, fit_misspecification
from cardiosbi.inference import NPEConfig, train_npe
from simulators.ppg.optical import SkinParameters, optical_ppg

NAMES = ["blood_fraction", "melanin", "spo2", "pulsatile_fraction"]
UNITS = ["1", "1", "1", "1"]
LOW = torch.tensor([0.005, 0.01, 0.70, 0.02])
HIGH = torch.tensor([0.05, 0.25, 1.00, 0.10])
WAVELENGTHS = (530.0, 660.0, 940.0)
DRIVE = (0.5 - 0.5 * torch.cos(torch.linspace(0, 2 * math.pi, 17)))[None]
SIM_WORLD = {"shift_nm": 0.0, "distance_mm": 3.0, "exponent": 1.0, "gain": (0.8, 1.2),
             "noise": 0.02, "skin": {}}
WORLDS = {
    "ideal": SIM_WORLD,
    "sensor": {**SIM_WORLD, "shift_nm": 12.0, "distance_mm": 3.6, "exponent": 0.93,
               "gain": (0.6, 1.4), "noise": 0.04},
    "sensor_skin": {**SIM_WORLD, "shift_nm": 12.0, "distance_mm": 3.6, "exponent": 0.93,
                    "gain": (0.6, 1.4), "noise": 0.04,
                    "skin": {"dermis_mm": 2.2, "epidermis_mm": 0.15, "water_fraction": 0.55,
                             "deep_pulsatile_share": 0.3, "subcutis_blood_fraction": 0.02}},
}


def draw_theta(n: int, generator: torch.Generator) -> torch.Tensor:
    return LOW + (HIGH - LOW) * torch.rand(n, len(NAMES), generator=generator)


def features(theta: torch.Tensor, world: dict, generator: torch.Generator) -> torch.Tensor:
    """(N, 6) log DC and log perfusion index per wavelength, measured in ``world``."""
    n = len(theta)
    tissue_sat = 0.6 + 0.2 * torch.rand(n, generator=generator)   # nuisance, fresh per call
    lo, hi = world["gain"]
    gain = lo + (hi - lo) * torch.rand(n, generator=generator)
    columns = []
    for wavelength in WAVELENGTHS:
        skin = SkinParameters(wavelength_nm=wavelength + world["shift_nm"],
                              blood_fraction=theta[:, 0], melanin=theta[:, 1], spo2=theta[:, 2],
                              pulsatile_fraction=theta[:, 3], tissue_saturation=tissue_sat,
                              distance_mm=world["distance_mm"], **world["skin"])
        intensity = (gain[:, None] * optical_ppg(DRIVE.expand(n, -1), skin).intensity
                     ) ** world["exponent"]
        dc = intensity.mean(1)
        pi = (intensity.amax(1) - intensity.amin(1)) / dc
        columns += [dc.log(), pi.log()]
    x = torch.stack(columns, 1).float()
    return x + world["noise"] * torch.randn(x.shape, generator=generator)


def npe_config(epochs: int, seed: int) -> NPEConfig:
    return NPEConfig.from_dict({"model": {"estimator": {"kind": "nsf", "hidden": [64, 64],
                                                        "transforms": 3}},
                                "trainer": {"max_epochs": epochs, "batch_size": 256,
                                            "reject_calibration_samples": 50,
                                            "reject_calibration_rows": 100},
                                "seed": seed})


def real_only(x_lab, theta_lab, x_test, n_draws, generator):
    """Quadratic ridge regression per parameter with Gaussian intervals whose SD is that of the
    5-fold cross-validated residuals (in-sample residuals would understate it)."""
    model = make_pipeline(StandardScaler(), PolynomialFeatures(2), RidgeCV(np.logspace(-3, 3, 13)))
    held_out = cross_val_predict(model, x_lab.numpy(), theta_lab.numpy(), cv=5)
    residual_sd = (held_out - theta_lab.numpy()).std(0)
    model.fit(x_lab.numpy(), theta_lab.numpy())
    mean = torch.as_tensor(model.predict(x_test.numpy()), dtype=torch.float32)
    noise = torch.randn(n_draws, *mean.shape, generator=generator)
    return mean + noise * torch.as_tensor(residual_sd, dtype=torch.float32)


def metrics(draws: torch.Tensor, theta: torch.Tensor) -> list[dict]:
    mean = draws.mean(0)
    lo, hi = draws.quantile(0.05, dim=0), draws.quantile(0.95, dim=0)
    rows = []
    for j, name in enumerate(NAMES):
        t, m = theta[:, j].numpy(), mean[:, j].numpy()
        rows.append({"parameter": name, "pearson_r": float(np.corrcoef(t, m)[0, 1]),
                     "mape_pct": float(100 * np.mean(np.abs(m - t) / np.abs(t))),
                     "coverage90": float(((theta[:, j] >= lo[:, j]) & (theta[:, j] <= hi[:, j]))
                                         .float().mean()),
                     "width90": float((hi[:, j] - lo[:, j]).mean())})
    return rows


def run_seed(cfg: dict, seed: int) -> tuple[list[dict], list[dict]]:
    generator = torch.Generator().manual_seed(seed)
    theta_sim = draw_theta(cfg["n_sim"], generator)
    npe = train_npe(theta_sim, features(theta_sim, SIM_WORLD, generator), NAMES, LOW, HIGH,
                    npe_config(cfg["npe_epochs"], seed), units=UNITS)
    rows, points = [], []
    for condition in cfg["conditions"]:
        world = WORLDS[condition]
        theta_lab, theta_test = draw_theta(cfg["n_labelled"], generator), draw_theta(cfg["n_test"], generator)
        x_lab, x_test = features(theta_lab, world, generator), features(theta_test, world, generator)
        flow = fit_misspecification(x_lab, features(theta_lab, SIM_WORLD, generator),
                                    epochs=cfg["flow_epochs"], seed=seed)
        hai = HAIPosterior(flow, npe, n_sim=cfg["n_sim_draws"])
        n = cfg["n_draws"]
        draws = {"hai": hai.sample((n,), x=x_test, generator=generator),
                 "simulation_only": npe.sample((n,), x=x_test, generator=generator),
                 "real_only": real_only(x_lab, theta_lab, x_test, n, generator)}
        for method, d in draws.items():
            d = d.float()
            for row in metrics(d, theta_test):
                rows.append({"seed": seed, "condition": condition, "method": method,
                             "n_labelled": cfg["n_labelled"], **row})
            mean = d.mean(0)
            for i in range(len(theta_test)):
                for j, name in enumerate(NAMES):
                    points.append({"seed": seed, "condition": condition, "method": method,
                                   "parameter": name, "truth": float(theta_test[i, j]),
                                   "estimate": float(mean[i, j])})
    return rows, points


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and parameters per condition and method (rebuildable from rows.csv)."""
    return (rows.groupby(["condition", "method"])[["pearson_r", "mape_pct", "coverage90", "width90"]]
            .mean().round(3).reset_index())


def figure(points: pd.DataFrame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    conditions, methods = points.condition.unique(), points.method.unique()
    fig, axes = plt.subplots(len(conditions), len(NAMES), figsize=(3.2 * len(NAMES), 3 * len(conditions)),
                             squeeze=False)
    for r, condition in enumerate(conditions):
        for c, name in enumerate(NAMES):
            ax = axes[r, c]
            for method in methods:
                sel = points[(points.condition == condition) & (points.parameter == name)
                             & (points.method == method)]
                ax.scatter(sel.truth, sel.estimate, s=4, alpha=0.5, label=method)
            j = NAMES.index(name)
            ax.plot([LOW[j], HIGH[j]], [LOW[j], HIGH[j]], "k--", lw=0.8)
            ax.set_title(f"{condition}: {name}", fontsize=9)
            ax.set_xlabel("true (volume fraction)" if name != "spo2" else "true SpO2 (fraction)")
            ax.set_ylabel("posterior mean (same unit)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true")
    parser.add_argument("--out", default="runs/hai")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    cfg = yaml.safe_load((Path(__file__).with_name("study.yaml")).read_text())
    cfg = {**cfg, **cfg.pop("tiny")} if args.tiny else {k: v for k, v in cfg.items() if k != "tiny"}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    start, rows, points = time.time(), [], []
    for seed in cfg["seeds"]:
        seed_rows, seed_points = run_seed(cfg, seed)
        rows += seed_rows
        points += seed_points
    rows_df, points_df = pd.DataFrame(rows), pd.DataFrame(points)
    rows_df.to_csv(out / "rows.csv", index=False)
    points_df.to_csv(out / "points.csv", index=False)
    table = summary_table(rows_df)
    table.to_csv(out / "table.csv", index=False)
    figure(points_df, out / "estimate_vs_truth.png")
    print(table.to_string(index=False))
    print(f"wall time {time.time() - start:.0f} s")
    return table


if __name__ == "__main__":
    main()
