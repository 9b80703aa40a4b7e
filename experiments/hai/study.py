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

Methods, on the same test windows and the same labelled set per condition and seed:

* ``simulation_only``: an NPE trained on simulations (``train_npe``) with an MLP embedding of the
  6 features. The same NPE is the core of HAI and RoPE (RoPE needs a learned embedding to
  fine-tune; an identity embedding has nothing to calibrate).
* ``hai``: the NPE composed with a conditional flow p(x_sim | x_obs) fitted on the labelled set
  (``pairs_per_label`` simulations per labelled window, epochs by early stopping on a held-out
  share of the labelled windows; ``flow_val_fraction=0`` restores a fixed ``flow_epochs``).
* ``rope``: ``cardiosbi.calibration.calibrate`` with the labelled set as calibration set: the
  embedding fine-tuned on it against fresh simulations at its θ, entropic OT onto
  ``n_reference`` reference simulations (not the NPE's training ones), γ chosen from
  ``gamma_grid`` by held-out LPP on the calibration split; batch mode (the test windows of a
  condition are solved together, as in the RoPE paper).
* ``real_only``: quadratic ridge regression on the labelled set only, Gaussian intervals.

Label-count sweep (issue #18 item 6): ``n_labelled`` is one size or a list of sizes, e.g.
``n_labelled=[10,25,50,100]``. Per seed and condition the labelled windows are drawn once at the
largest size and each smaller set is a prefix of it (nested: the 10 are the first 10 of the 25
...), and the test windows are the same for every size. The label-using methods (hai, rope,
real_only) run once per size; simulation_only uses no labels, runs once per seed and condition,
and its rows are repeated under every size (identical numbers), so every (condition, n_labelled)
group of the table has all methods. Random streams: the NPE, its training simulations and RoPE's
reference simulations come from the seed; each condition's labelled/test windows from (seed,
condition); each method's draws from (seed, condition, size, method), so neither the windows nor
a method's numbers depend on which other methods or sizes were run.
Figures: estimate_vs_truth.png (the largest size) and mape_vs_labels.png (MAPE and 90 %
coverage against the number of labelled windows).

Run: ``python experiments/hai/study.py [key=value ...]``, e.g. ``tiny=true out=/tmp/hai``.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from sklearn.linear_model import RidgeCV
from sklearn.model_selection import cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from cardiosbi.calibration import FineTuneConfig, TransportConfig, calibrate
from cardiosbi.errors import ConfigError
from cardiosbi.hai import HAIPosterior, fit_misspecification
from cardiosbi.inference import NPEConfig, train_npe
from cardiosbi.utils.study_config import load_study_config
from simulators.ppg.optical import SkinParameters, optical_ppg

HERE = Path(__file__).resolve().parent
METHODS = ("hai", "rope", "simulation_only", "real_only")
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


@dataclass
class StudyConfig:
    seeds: list[int] = field(default_factory=lambda: [0, 1])
    n_sim: int = 3000
    # one size or a list of sizes (load_config turns it into a sorted list); None here so that
    # the key-type check accepts both (the value comes from study.yaml)
    n_labelled: Any = None
    n_test: int = 300
    n_draws: int = 400
    npe_epochs: int = 40
    embedding_features: int = 16
    embedding_hidden: list[int] = field(default_factory=lambda: [64, 64])
    n_sim_draws: int = 16
    pairs_per_label: int = 10
    flow_epochs: int = 300
    flow_val_fraction: float = 0.2
    n_reference: int = 1000
    fine_tune_steps: int = 500
    fine_tune_lr: float = 1e-3
    gamma_grid: list[float] = field(default_factory=lambda: [0.05, 0.1, 0.2, 0.5, 1.0])
    conditions: list[str] = field(default_factory=lambda: ["ideal", "sensor", "sensor_skin"])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    out: str = "runs/hai"
    tiny: bool = False


def load_config(argv: list[str]) -> StudyConfig:
    cfg = load_study_config(StudyConfig, HERE / "study.yaml", argv)
    unknown = sorted(set(cfg.conditions) - set(WORLDS)) + sorted(set(cfg.methods) - set(METHODS))
    if unknown:
        raise ConfigError(f"unknown condition(s)/method(s) {unknown}; conditions: "
                          f"{', '.join(WORLDS)}; methods: {', '.join(METHODS)}")
    cfg.n_labelled = label_sizes(cfg.n_labelled)
    return cfg


MIN_LABELLED = 4  # HAI holds out 2 labelled windows and fits on >= 2; real-only needs >= 2 folds


def label_sizes(value: Any) -> list[int]:
    """``n_labelled`` as a sorted list of distinct sizes (a single int is a one-size sweep)."""
    sizes = value if isinstance(value, list | tuple) else [value]
    if not sizes or not all(isinstance(n, int) and not isinstance(n, bool) for n in sizes):
        raise ConfigError(f"n_labelled must be an integer or a list of integers, got {value!r}")
    if min(sizes) < MIN_LABELLED:
        raise ConfigError(f"n_labelled sizes must be >= {MIN_LABELLED}, got {value!r}")
    return sorted(set(sizes))


def child_generator(seed: int, *keys: int) -> torch.Generator:
    """A generator seeded from (seed, *keys): independent, reproducible streams."""
    state = np.random.SeedSequence([seed, *keys]).generate_state(2, dtype=np.uint32)
    return torch.Generator().manual_seed(int(state[0]) << 31 | int(state[1]) >> 1)


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


def npe_config(cfg: StudyConfig, seed: int) -> NPEConfig:
    return NPEConfig.from_dict({"model": {"embedding": {"kind": "mlp",
                                                        "features": cfg.embedding_features,
                                                        "hidden": list(cfg.embedding_hidden)},
                                          "estimator": {"kind": "nsf", "hidden": [64, 64],
                                                        "transforms": 3}},
                                "trainer": {"max_epochs": cfg.npe_epochs, "batch_size": 256,
                                            "reject_calibration_samples": 50,
                                            "reject_calibration_rows": 100},
                                "seed": seed})


def simulate(theta: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The simulator as RoPE's fine-tuning calls it: one fresh simulation per θ row."""
    return features(theta, SIM_WORLD, generator)


def hai_posterior(cfg: StudyConfig, npe, theta_lab, x_lab, generator, seed) -> HAIPosterior:
    """HAI: ``pairs_per_label`` fresh simulations at each labelled θ, flow on the pairs."""
    k = cfg.pairs_per_label
    x_sim = simulate(theta_lab.repeat_interleave(k, 0), generator).reshape(len(theta_lab), k, -1)
    flow = fit_misspecification(x_lab, x_sim, epochs=cfg.flow_epochs, seed=seed,
                                val_fraction=flow_val_fraction(cfg.flow_val_fraction, len(x_lab)))
    return HAIPosterior(flow, npe, n_sim=cfg.n_sim_draws, training=flow.fit_report)


def flow_val_fraction(fraction: float, n: int) -> float:
    """The held-out share for HAI's early stopping on ``n`` labelled windows: at least 2 windows
    (fit_misspecification holds out max(1, round(fraction * n)); one window is too noisy an
    epoch choice, e.g. 0.2 of 8 -> 2 but 0.2 of 5 -> 1), and at least 2 left to fit on; below
    that (n < 4) the fixed ``flow_epochs`` (fraction 0)."""
    if fraction <= 0:
        return 0.0
    n_val = max(2, round(fraction * n))
    if n - n_val < 2:
        return 0.0
    return n_val / n  # round(n_val / n * n) == n_val in fit_misspecification


def rope_posterior(cfg: StudyConfig, npe, theta_lab, x_lab, x_reference, seed):
    """RoPE through the package's API, the labelled set as its calibration set."""
    tune = FineTuneConfig(learning_rate=cfg.fine_tune_lr, max_steps=cfg.fine_tune_steps,
                          batch_size=min(100, len(theta_lab)), seed=seed)
    return calibrate(npe, theta_lab, x_lab, x_reference, simulator=simulate, fine_tune=tune,
                     transport=TransportConfig(), gamma_grid=cfg.gamma_grid or None)


def real_only(x_lab, theta_lab, x_test, n_draws, generator):
    """Quadratic ridge regression per parameter with Gaussian intervals whose SD is that of the
    5-fold cross-validated residuals (in-sample residuals would understate it). With fewer than
    10 labelled windows the folds are n // 2 (>= 2 windows per fold; 2 folds at n = 4, 5 folds
    from n = 10 on); RidgeCV picks its α by leave-one-out inside each fold at any n."""
    model = make_pipeline(StandardScaler(), PolynomialFeatures(2), RidgeCV(np.logspace(-3, 3, 13)))
    folds = max(2, min(5, len(x_lab) // 2))
    held_out = cross_val_predict(model, x_lab.numpy(), theta_lab.numpy(), cv=folds)
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


def run_seed(cfg: StudyConfig, seed: int) -> tuple[list[dict], list[dict]]:
    generator = torch.Generator().manual_seed(seed)
    theta_sim = draw_theta(cfg.n_sim, generator)
    npe = train_npe(theta_sim, simulate(theta_sim, generator), NAMES, LOW, HIGH,
                    npe_config(cfg, seed), units=UNITS)
    x_reference = simulate(draw_theta(cfg.n_reference, generator), generator)
    sizes = label_sizes(cfg.n_labelled)
    rows, points = [], []
    for condition in cfg.conditions:
        c = list(WORLDS).index(condition)
        world, data = WORLDS[condition], child_generator(seed, c)
        # the largest labelled set once; smaller sets are its prefixes (nested); one test set
        theta_lab, theta_test = draw_theta(sizes[-1], data), draw_theta(cfg.n_test, data)
        x_lab, x_test = features(theta_lab, world, data), features(theta_test, world, data)
        shared = {}  # methods that use no labels: computed once, reported under every size
        for n in sizes:
            start = time.time()
            draws = method_draws(cfg, npe, theta_lab[:n], x_lab[:n], x_test, x_reference, seed,
                                 (c, n), shared)
            for method, (d, detail) in draws.items():
                d = d.float()
                for row in metrics(d, theta_test):
                    rows.append({"seed": seed, "condition": condition, "method": method,
                                 "n_labelled": n, **row, **detail})
                mean = d.mean(0)
                for i in range(len(theta_test)):
                    for j, name in enumerate(NAMES):
                        points.append({"seed": seed, "condition": condition, "method": method,
                                       "n_labelled": n, "window": i, "parameter": name,
                                       "truth": float(theta_test[i, j]),
                                       "estimate": float(mean[i, j])})
            print(f"seed {seed} {condition} n_labelled={n}: {time.time() - start:.0f} s",
                  flush=True)
    return rows, points


def method_draws(cfg: StudyConfig, npe, theta_lab, x_lab, x_test, x_reference, seed,
                 stream: tuple[int, int], shared: dict) -> dict[str, tuple[torch.Tensor, dict]]:
    """Per configured method: (n_draws, n_test, k) posterior draws on the test windows and what
    the method chose on the labelled set (HAI's flow epochs, RoPE's γ) for the rows. Each
    method draws from its own generator, seeded by (seed, condition, size, method) (size 0 for
    simulation_only, which is computed once and kept in ``shared``)."""
    n, draws = cfg.n_draws, {}
    c, size = stream
    for method in cfg.methods:
        generator = child_generator(seed, c, 0 if method == "simulation_only" else size,
                                    METHODS.index(method))
        if method == "hai":
            posterior = hai_posterior(cfg, npe, theta_lab, x_lab, generator, seed)
            draws[method] = (posterior.sample((n,), x=x_test, generator=generator),
                             {"flow_epochs": posterior.training["epochs"]})
        elif method == "rope":
            posterior = rope_posterior(cfg, npe, theta_lab, x_lab, x_reference, seed)
            draws[method] = (posterior.sample((n,), x=x_test, generator=generator),
                             {"rope_gamma": posterior.transport.gamma})
        elif method == "simulation_only":
            if method not in shared:
                shared[method] = (npe.sample((n,), x=x_test, generator=generator), {})
            draws[method] = shared[method]
        else:
            draws[method] = (real_only(x_lab, theta_lab, x_test, n, generator), {})
    return draws


def summary_table(rows: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds and parameters per condition, labelled-set size and method (rebuildable
    from rows.csv)."""
    return (rows.groupby(["condition", "n_labelled", "method"])
            [["pearson_r", "mape_pct", "coverage90", "width90"]].mean().round(3).reset_index())


def figure(points: pd.DataFrame, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    points = points[points.n_labelled == points.n_labelled.max()]  # the largest labelled set
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
            ax.set_title(f"{condition}: {name} ({int(points.n_labelled.max())} labels)",
                         fontsize=9)
            ax.set_xlabel("true (volume fraction)" if name != "spo2" else "true SpO2 (fraction)")
            ax.set_ylabel("posterior mean (same unit)")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


LABELS = {"hai": "HAI", "rope": "RoPE", "simulation_only": "simulation-only (no labels)",
          "real_only": "real-only (quadratic ridge)"}
COLOURS = {"hai": "C0", "rope": "C1", "simulation_only": "C2", "real_only": "C3"}


def label_figure(rows: pd.DataFrame, path: Path) -> None:
    """MAPE (%) and 90 % coverage against the number of labelled windows (log x), one column per
    condition; mean over parameters, line = mean over seeds, band = seed range; simulation-only
    (no labels) as a horizontal line."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    per_seed = (rows.groupby(["condition", "method", "n_labelled", "seed"])
                [["mape_pct", "coverage90"]].mean().reset_index())
    conditions = list(dict.fromkeys(rows.condition))
    sizes = sorted(rows.n_labelled.unique())
    fig, axes = plt.subplots(2, len(conditions), figsize=(max(8.0, 4.2 * len(conditions)), 6.8),
                             squeeze=False, sharex=True)
    panels = (("mape_pct", "MAPE (%, mean over 4 parameters)"),
              ("coverage90", "90 % interval coverage (fraction)"))
    for col, condition in enumerate(conditions):
        for row, (metric, ylabel) in enumerate(panels):
            ax = axes[row, col]
            for method in dict.fromkeys(rows.method):
                sel = per_seed[(per_seed.condition == condition) & (per_seed.method == method)]
                stats = sel.groupby("n_labelled")[metric].agg(["mean", "min", "max"])
                style = {"color": COLOURS.get(method), "label": LABELS.get(method, method)}
                if method == "simulation_only":
                    value = stats["mean"].mean()  # the same at every size
                    ax.axhline(value, ls="--", lw=1.5, **style)
                    ax.axhspan(stats["min"].min(), stats["max"].max(), alpha=0.1,
                               color=style["color"])
                else:
                    ax.plot(stats.index, stats["mean"], marker="o", lw=1.5, **style)
                    ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15,
                                    color=style["color"])
            if metric == "coverage90":
                ax.axhline(0.9, color="k", lw=0.8, ls=":", label="nominal 0.9")
                ax.set_xlabel("labelled real windows (count, log scale)")
            ax.set_xscale("log")
            ax.set_xticks(sizes, [str(n) for n in sizes])
            ax.minorticks_off()
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(f"condition: {condition}")
    handles, names = axes[1, 0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=len(names), fontsize=8)
    fig.suptitle(f"Accuracy and calibration vs labelled windows (line: mean over "
                 f"{rows.seed.nunique()} seed(s); band: seed range)", fontsize=10)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_config(argv)
    torch.set_num_threads(1)
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    start, rows, points = time.time(), [], []
    for seed in cfg.seeds:
        seed_rows, seed_points = run_seed(cfg, seed)
        rows += seed_rows
        points += seed_points
    rows_df, points_df = pd.DataFrame(rows), pd.DataFrame(points)
    rows_df.to_csv(out / "rows.csv", index=False)
    points_df.to_csv(out / "points.csv", index=False)
    table = summary_table(rows_df)
    table.to_csv(out / "table.csv", index=False)
    figure(points_df, out / "estimate_vs_truth.png")
    label_figure(rows_df, out / "mape_vs_labels.png")
    print(table.to_string(index=False))
    print(f"wall time {time.time() - start:.0f} s")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
