"""FitzHugh–Nagumo study: regression CNN vs NPE vs NPE ensemble vs FMPE (issue #17).

Setting (after Rudi, Bessac & Lenzi, MSML 2021): infer (θ0, θ1) of the FitzHugh–Nagumo ODE
(``simulators.fhn``) from a 200-sample membrane-potential trace, clean or with AR(1) noise
whose σ, ρ are nuisances drawn from their prior. For each training condition and size, the
same simulations train a regression CNN (point estimate; ``cardiosbi.baselines``), an NPE
(resnet1d + NSF), an NPE ensemble of ``ensemble_size`` members (``model.ensemble_size``) and
an FMPE (flow matching, ``model.estimator.kind=fmpe``). Each is scored on the same clean and
noisy test traces: RMSE of the posterior mean (the CNN's prediction) in θ units, 50 % and
90 % central-interval coverage, mean 90 % width, and training time.

``rows.csv.gz`` keeps one row per (train condition, size, method, test condition, trace,
parameter) with the truth, the mean and the interval bounds, plus the fit's training time and
epochs, so every table and figure can be recomputed with ``from_rows=true``.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from cardiosbi.baselines import RegressionCNNConfig, train_regression_cnn  # noqa: E402
from cardiosbi.errors import ConfigError, InputFileError  # noqa: E402
from cardiosbi.inference import NPEConfig, train_npe  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402
from simulators import fhn  # noqa: E402

HERE = Path(__file__).resolve().parent
METHODS = ("cnn", "npe", "npe_ensemble", "fmpe")
CONDITIONS = ("clean", "noisy")
LABELS = {"cnn": "regression CNN", "npe": "NPE", "npe_ensemble": "NPE ensemble", "fmpe": "FMPE"}
COLORS = {"cnn": "tab:blue", "npe": "tab:orange", "npe_ensemble": "tab:green", "fmpe": "tab:red"}
GROUP = ["train", "n_train", "method", "test"]


@dataclass
class StudyConfig:
    sizes: list[int] = field(default_factory=lambda: [1000, 4000])
    train_conditions: list[str] = field(default_factory=lambda: ["noisy"])
    methods: list[str] = field(default_factory=lambda: list(METHODS))
    ensemble_size: int = 5
    n_test: int = 500
    n_samples: int = 500
    max_epochs: int = 40
    patience: int = 8
    embedding_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    embedding_features: int = 32
    seed: int = 0
    save_model: bool = True
    from_rows: bool = False
    threads: int = 1
    out: str = "runs/fhn"
    tiny: bool = False


def load_config(argv: list[str]) -> StudyConfig:
    """study.yaml < tiny.yaml (``tiny=true``) < ``key=value`` arguments, then the value checks."""
    cfg = load_study_config(StudyConfig, HERE / "study.yaml", argv)
    check_config(cfg)
    return cfg


def check_config(cfg: StudyConfig) -> None:
    """Settings that cannot work end here, before anything is simulated."""
    if not cfg.methods or set(cfg.methods) - set(METHODS):
        raise ConfigError(f"methods {cfg.methods}: use some of {', '.join(METHODS)}")
    if not cfg.train_conditions or set(cfg.train_conditions) - set(CONDITIONS):
        raise ConfigError(f"train_conditions {cfg.train_conditions}: use some of clean, noisy")
    if not cfg.sizes or min(cfg.sizes) < 100 or cfg.n_test < 10:
        raise ConfigError("need sizes >= 100 and n_test >= 10")
    if cfg.n_samples < 20:
        raise ConfigError(f"n_samples={cfg.n_samples}: a 90 % interval needs at least 20 draws")
    if cfg.ensemble_size < 2 and "npe_ensemble" in cfg.methods:
        raise ConfigError("ensemble_size must be >= 2 for npe_ensemble")


# --- simulations and fits -----------------------------------------------------------------------
def fhn_data(n: int, noisy: bool, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """(θ0, θ1) (n, 2) and traces (n, 1, 200); noisy traces draw σ, ρ as nuisances."""
    theta = fhn.sample_prior(n, rng, noisy=noisy)
    x = fhn.simulate(theta if noisy else theta[:, :2], rng)
    return theta[:, :2], x[:, None, :]


def npe_config(cfg: StudyConfig, method: str) -> NPEConfig:
    estimator = {"kind": "fmpe"} if method == "fmpe" else {}
    return NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": cfg.embedding_channels,
                                "features": cfg.embedding_features},
                  "estimator": estimator,
                  "ensemble_size": cfg.ensemble_size if method == "npe_ensemble" else 1},
        "trainer": {"max_epochs": cfg.max_epochs, "patience": cfg.patience, "batch_size": 64,
                    "accelerator": "cpu", "reject_calibration_rows": 200},
        "seed": cfg.seed,
    })


def fit(method: str, theta: np.ndarray, x: np.ndarray, cfg: StudyConfig):
    """(fitted model, epochs trained summed over ensemble members)."""
    if method == "cnn":
        cnn = train_regression_cnn(theta, x, list(fhn.PARAMETERS), RegressionCNNConfig(
            max_epochs=cfg.max_epochs, patience=cfg.patience, seed=cfg.seed))
        return cnn, cnn.training["epochs"]
    low, high = fhn.prior_bounds(noisy=False)
    posterior = train_npe(tensor(theta), tensor(x), list(fhn.PARAMETERS), tensor(low),
                          tensor(high), npe_config(cfg, method))
    members = getattr(posterior, "members", [posterior])
    return posterior, sum(m.training["epochs"] for m in members)


def tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


def estimates(method: str, model, x: np.ndarray, cfg: StudyConfig) -> dict[str, np.ndarray]:
    """Posterior mean and 50/90 % central interval bounds, each (n, 2); NaN bounds for the CNN."""
    if method == "cnn":
        mean = model.predict(tensor(x)).numpy()
        nan = np.full_like(mean, np.nan)
        return {"mean": mean, "lo50": nan, "hi50": nan, "lo90": nan, "hi90": nan}
    draws = model.sample((cfg.n_samples,), x=tensor(x),
                         generator=torch.Generator().manual_seed(cfg.seed)).double().numpy()
    q = np.quantile(draws, [0.05, 0.25, 0.75, 0.95], axis=0)
    return {"mean": draws.mean(axis=0), "lo90": q[0], "lo50": q[1], "hi50": q[2], "hi90": q[3]}


def long_rows(est: dict, theta: np.ndarray, keys: dict) -> pd.DataFrame:
    n = theta.shape[0]
    frame = {"trace": np.repeat(np.arange(n), theta.shape[1]),
             "parameter": np.tile(fhn.PARAMETERS, n), "truth": theta.ravel()}
    frame.update({k: v.ravel() for k, v in est.items()})
    return pd.DataFrame(frame).assign(**keys)


def simulate_rows(cfg: StudyConfig, out: Path) -> pd.DataFrame:
    rng = np.random.default_rng(cfg.seed)
    tests = {cond: fhn_data(cfg.n_test, cond == "noisy", rng) for cond in CONDITIONS}
    # Both pools are always drawn, in this order, so a run over one condition trains on the same
    # data as the full study; smaller sizes are prefixes of the largest.
    pools = {cond: fhn_data(max(cfg.sizes), cond == "noisy", rng) for cond in CONDITIONS}
    frames = []
    for train in cfg.train_conditions:
        for size in sorted(cfg.sizes):
            theta, x = pools[train][0][:size], pools[train][1][:size]
            for method in cfg.methods:
                started = time.perf_counter()
                model, epochs = fit(method, theta, x, cfg)
                train_s = time.perf_counter() - started
                for test, (theta_t, x_t) in tests.items():
                    frames.append(long_rows(estimates(method, model, x_t, cfg), theta_t, {
                        "train": train, "n_train": size, "method": method, "test": test,
                        "epochs": epochs, "train_s": round(train_s, 2)}))
                print(f"{train} n={size} {method}: {epochs} epochs, {train_s:.0f} s", flush=True)
                if cfg.save_model and method == "npe" and train == "clean" and size == max(cfg.sizes):
                    model.save(out / "fhn_npe_clean.pt")
    return pd.concat(frames, ignore_index=True)


def collect_rows(cfg: StudyConfig, out: Path) -> pd.DataFrame:
    path = out / "rows.csv.gz"
    if cfg.from_rows:
        if not path.is_file():
            raise InputFileError(f"{path} not found: run the study once without from_rows=true")
        return pd.read_csv(path)
    rows = simulate_rows(cfg, out)
    partial = path.with_name(path.name + ".partial")
    rows.to_csv(partial, index=False, compression="gzip")
    partial.replace(path)
    return rows


# --- tables and figures -------------------------------------------------------------------------
def metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """Per group: RMSE of the mean, cov50/cov90 and mean 90 % width (averaged over θ0, θ1)."""
    r = rows.assign(sq=(rows["mean"] - rows["truth"]) ** 2,
                    in50=(rows["lo50"] <= rows["truth"]) & (rows["truth"] <= rows["hi50"]),
                    in90=(rows["lo90"] <= rows["truth"]) & (rows["truth"] <= rows["hi90"]),
                    width90=rows["hi90"] - rows["lo90"])
    per_param = r.groupby([*GROUP, "parameter"]).agg(
        rmse=("sq", lambda s: float(np.sqrt(s.mean()))), cov50=("in50", "mean"),
        cov90=("in90", "mean"), width90=("width90", "mean"), epochs=("epochs", "first"),
        train_s=("train_s", "first")).reset_index()
    table = per_param.groupby(GROUP).agg(
        rmse=("rmse", "mean"), cov50=("cov50", "mean"), cov90=("cov90", "mean"),
        width90=("width90", "mean"), epochs=("epochs", "first"), train_s=("train_s", "first"))
    table = table.reset_index()
    interval = table["method"] != "cnn"  # a point estimate has no interval to cover
    table.loc[~interval, ["cov50", "cov90", "width90"]] = np.nan
    order = {m: i for i, m in enumerate(METHODS)}
    return table.sort_values(["train", "test", "n_train", "method"],
                             key=lambda c: c.map(order) if c.name == "method" else c,
                             ignore_index=True)


def markdown(table: pd.DataFrame) -> str:
    columns = ["train", "test", "n_train", "method", "rmse", "cov50", "cov90", "width90",
               "epochs", "train_s"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for _, row in table.iterrows():
        cells = [f"{row[c]:.3f}" if c in ("rmse", "cov50", "cov90", "width90") else str(row[c])
                 for c in columns]
        lines.append("| " + " | ".join("–" if c == "nan" else c for c in cells) + " |")
    return "\n".join(lines)


def plot(table: pd.DataFrame, out: Path) -> None:
    """Per (train, test) panel: RMSE vs size and 90 % coverage vs size, one line per method."""
    panels = table[["train", "test"]].drop_duplicates().itertuples(index=False)
    panels = list(panels)
    fig, axes = plt.subplots(2, len(panels), figsize=(4.2 * len(panels), 7), squeeze=False)
    for j, (train, test) in enumerate(panels):
        sub = table[(table["train"] == train) & (table["test"] == test)]
        for method, part in sub.groupby("method", sort=False):
            style = {"color": COLORS[method], "label": LABELS[method]}
            axes[0, j].plot(part["n_train"], part["rmse"], "o-", **style)
            if method != "cnn":
                axes[1, j].plot(part["n_train"], part["cov90"], "o-", **style)
        axes[0, j].set_title(f"trained {train}, tested {test}")
        axes[0, j].set_ylabel("RMSE of the mean [θ units, prior width 1]")
        axes[1, j].axhline(0.9, color="grey", ls="--", lw=1, label="nominal 0.90")
        axes[1, j].set_ylabel("90 % interval coverage [fraction of traces]")
        for ax in axes[:, j]:
            ax.set_xscale("log")
            ax.set_xlabel("training simulations [count]")
            ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    axes[1, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "fhn_rmse_coverage.png", dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_config(argv)
    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    table = metrics(collect_rows(cfg, out))
    table.to_csv(out / "summary.csv", index=False)
    plot(table, out)
    text = markdown(table)
    elapsed = time.perf_counter() - started
    (out / "results.md").write_text(f"{text}\n\nTotal {elapsed:.0f} s.\n")
    print(text)
    print(f"wrote {out}/rows.csv.gz, summary.csv, results.md, fhn_rmse_coverage.png; {elapsed:.0f} s")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
