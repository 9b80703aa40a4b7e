"""Missing data in amortised NPE: a mask channel vs zero-fill vs rejecting windows with gaps.

Setting (after Wang et al. 2024, "Missing data in amortized simulation-based neural posterior
estimation", and Schälte et al.'s missing-data NPE): the 0D three-element Windkessel
(``simulators.windkessel``) through the package's measurement model (beat-to-beat timing,
respiration, noise, wander, motion bursts, monitor filter, ADC) gives 8-s arterial pressure
windows in mmHg; θ is a subset of its parameters (the others are nuisance, drawn from the same
prior). Gaps are contiguous stretches of random length, up to ``max_stretches`` per window:
``dropout`` (samples lost: NaN) or ``clipped`` (the sensor held at its upper rail, here the
window's maximum). Clipped stretches are found as in the quality code — runs of samples at the
window maximum — and marked missing, so every strategy sees the same missing mask.

Strategies (models trained per seed on the same simulations):
- ``mask``: trained on windows with gaps; NaN kept, the embedding turns them into 0 plus an
  observed/missing indicator channel (``model.embedding.missing_mask=true``);
- ``zero_fill``: trained on the same gaps, missing samples set to the training mean (0 after the
  embedding's standardisation, i.e. the mask model without its indicator);
- ``interpolate``: the gap-free model (trained without gaps) on linearly interpolated windows
  (``fill_gaps``, what ``cardiosbi infer`` does with the gaps it lets through);
- ``reject``: ``interpolate`` under today's quality rule: windows with more than
  ``reject_above`` missing get no estimate.

Test windows get exactly ``fraction`` of their samples missing (per pattern and fraction, the
same clean test windows). Metrics per strategy, pattern and fraction: the median over windows of
|posterior median − θ| / prior width, 90 % coverage, ACAUC (mean |2F̂ − 1| − 0.5 over windows,
0 = calibrated, > 0 overconfident), the share of windows that get an estimate, and the share
that get one and are not flagged by the model's interval-width rule. ``rows.csv.gz`` keeps one
row per (seed, pattern, fraction, strategy, window, parameter) with F̂ (the share of draws below
θ), so every table here can be recomputed with ``from_rows=true``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
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
from omegaconf import OmegaConf  # noqa: E402

from cardiosbi.datasets.prior import Prior, PriorConfig  # noqa: E402
from cardiosbi.errors import ConfigError, InputFileError  # noqa: E402
from cardiosbi.inference import NPEConfig, train_npe  # noqa: E402
from cardiosbi.signals.filters import fill_gaps  # noqa: E402
from cardiosbi.utils.config import to_dataclass  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402
from simulators import windkessel  # noqa: E402
from simulators.measurement import MeasurementConfig, MeasurementModel  # noqa: E402
from simulators.measurement.gaps import PATTERNS, detect_missing, gap_mask, with_gaps  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
MMHG = 133.322
CHANNEL = "aortic_root/P"
STRATEGIES = ("mask", "zero_fill", "interpolate", "reject")
LABELS = {"hr": "HR", "sv": "SV", "lvet": "LVET", "pft": "PFT", "pvr": "PVR",
          "pvc_scale": "compliance scale", "k3": "k3", "diameter_scale": "aortic diameter scale"}
GROUP = ["strategy", "pattern", "fraction", "parameter"]


@dataclass
class StudyConfig:
    prior: str = "cardiosbi/conf/prior/adult.yaml"
    parameters: list[str] = field(default_factory=lambda: ["hr", "sv", "lvet", "pvr", "pvc_scale"])
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    n_train: int = 8000
    n_test: int = 400
    sampling_rate: float = 62.5
    window_s: float = 8.0
    fractions: list[float] = field(default_factory=lambda: [0.0, 0.02, 0.05, 0.1, 0.2, 0.3])
    patterns: list[str] = field(default_factory=lambda: list(PATTERNS))
    max_stretches: int = 3
    min_stretch_s: float = 0.25
    clip_min_run_s: float = 0.1
    train_gap_probability: float = 0.75
    train_max_fraction: float = 0.4
    reject_above: float = 0.02
    n_samples: int = 500
    max_epochs: int = 60
    patience: int = 8
    embedding_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    embedding_features: int = 32
    coverage_band: list[float] = field(default_factory=lambda: [0.85, 0.95])
    max_coverage_drop: float = 0.05
    error_tolerance: float = 0.10
    from_rows: bool = False
    threads: int = 2
    out: str = "runs/missing_data"
    tiny: bool = False


def load_config(argv: list[str]) -> StudyConfig:
    """study.yaml < tiny.yaml (``tiny=true``) < ``key=value`` arguments, then the value checks."""
    cfg = load_study_config(StudyConfig, HERE / "study.yaml", argv)
    check_config(cfg)
    return cfg


def check_config(cfg: StudyConfig) -> None:
    """Settings that cannot work end here, before anything is simulated."""
    unknown = sorted(set(cfg.patterns) - set(PATTERNS))
    if unknown or not cfg.patterns:
        raise ConfigError(f"patterns {cfg.patterns}: use some of {', '.join(PATTERNS)}")
    if not cfg.fractions or 0.0 not in cfg.fractions:
        raise ConfigError("fractions must include 0.0 (the gap-free reference)")
    if not all(0.0 <= f < 0.9 for f in cfg.fractions) or not 0 < cfg.train_max_fraction < 0.9:
        raise ConfigError("missing fractions must lie in [0, 0.9)")
    if cfg.n_samples < 20:
        raise ConfigError(f"n_samples={cfg.n_samples}: a 90 % interval needs at least 20 draws")
    if cfg.n_train < 100 or cfg.n_test < 10 or not cfg.seeds:
        raise ConfigError("need n_train >= 100, n_test >= 10 and at least one seed")
    low, high = cfg.coverage_band
    if not 0 < low < 0.9 < high < 1:
        raise ConfigError(f"coverage_band {cfg.coverage_band} must bracket 0.9 inside (0, 1)")
    if not (cfg.error_tolerance > 0 and 0 <= cfg.max_coverage_drop < 1):
        raise ConfigError("error_tolerance must be > 0 and max_coverage_drop in [0, 1)")


# --- simulations --------------------------------------------------------------------------------
def windkessel_prior(cfg: StudyConfig) -> Prior:
    """The prior file restricted to the Windkessel's parameters (``height`` has no role there)."""
    path = Path(cfg.prior) if Path(cfg.prior).is_absolute() else REPO / cfg.prior
    if not path.is_file():
        raise InputFileError(f"prior file {path} not found")
    config = to_dataclass(OmegaConf.load(path), PriorConfig, "prior")
    config.parameters = {k: v for k, v in config.parameters.items() if k in windkessel.PARAMETERS}
    prior = Prior(config)
    missing = sorted(set(cfg.parameters) - set(prior.names))
    if missing:
        raise ConfigError(f"parameters {missing} are not sampled by {path.name}; sampled: "
                          f"{', '.join(prior.names)}")
    return prior


def simulate(prior: Prior, n: int, seed: int, cfg: StudyConfig) -> tuple[np.ndarray, np.ndarray]:
    """θ (n, k) of ``cfg.parameters`` and gap-free pressure windows (n, T) in mmHg."""
    seeds = [[seed, i] for i in range(n)]
    draws = prior.sample(seeds)
    params = {name: draws.theta[:, j] for j, name in enumerate(prior.names)} | prior.fixed
    result = windkessel.simulate(params, n_phase=256)
    beat = (result.waveforms["aortic_root"]["P"] / MMHG).numpy()
    model = MeasurementModel(MeasurementConfig(fs=cfg.sampling_rate, window_s=cfg.window_s))
    x = model.apply({CHANNEL: beat}, result.period.numpy(), seeds).windows[CHANNEL]
    ok = result.status.numpy() == 0
    columns = [prior.names.index(p) for p in cfg.parameters]
    return draws.theta[ok][:, columns], x[ok].astype(np.float64)


# --- gaps (simulators.measurement.gaps places, loses and detects them) -----------------------
def training_gaps(x: np.ndarray, seed: int, cfg: StudyConfig) -> np.ndarray:
    """Training windows for the gap-aware models: a share ``train_gap_probability`` gets
    a missing fraction ~ U(0, train_max_fraction) of a random pattern; NaN where missing."""
    rng = np.random.default_rng([seed, 7])
    out = x.copy()
    for i in range(len(x)):
        if rng.uniform() < cfg.train_gap_probability:
            mask = gap_mask(x.shape[1], rng.uniform(0, cfg.train_max_fraction), rng,
                            cfg.max_stretches, samples(cfg.min_stretch_s, cfg))
            gapped = with_gaps(x[i], mask, str(rng.choice(cfg.patterns)))
            out[i] = np.where(detect_missing(gapped, samples(cfg.clip_min_run_s, cfg)), np.nan, gapped)
    return out


def test_gaps(x: np.ndarray, pattern: str, fraction: float, seed: int, cfg: StudyConfig
              ) -> tuple[np.ndarray, np.ndarray]:
    """Test windows with exactly ``fraction`` missing: (windows with NaN where the quality
    code finds samples missing, detected missing fraction per window)."""
    rng = np.random.default_rng([seed, PATTERNS.index(pattern), int(round(1e4 * fraction))])
    out = np.empty_like(x)
    for i in range(len(x)):
        mask = gap_mask(x.shape[1], fraction, rng, cfg.max_stretches, samples(cfg.min_stretch_s, cfg))
        gapped = with_gaps(x[i], mask, pattern)
        out[i] = np.where(detect_missing(gapped, samples(cfg.clip_min_run_s, cfg)), np.nan, gapped)
    return out, np.isnan(out).mean(axis=1)


def samples(seconds: float, cfg: StudyConfig) -> int:
    return max(1, int(round(seconds * cfg.sampling_rate)))


def strategy_input(strategy: str, x: np.ndarray, fill_value: float) -> np.ndarray:
    """What a strategy's model reads from windows ``x`` with NaN where samples are missing."""
    if strategy == "mask":
        return x
    if strategy == "zero_fill":
        return np.where(np.isnan(x), fill_value, x)
    return np.stack([fill_gaps(row) for row in x])


# --- models -------------------------------------------------------------------------------------
def npe_config(cfg: StudyConfig, seed: int, mask: bool) -> NPEConfig:
    return NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": list(cfg.embedding_channels),
                                "features": cfg.embedding_features, "missing_mask": mask},
                  "estimator": {"kind": "nsf", "transforms": 3, "hidden": [64, 64]}},
        "trainer": {"max_epochs": cfg.max_epochs, "patience": cfg.patience, "batch_size": 128,
                    "min_epochs": min(5, cfg.max_epochs), "reject_calibration_rows": 300,
                    "reject_calibration_samples": min(200, cfg.n_samples)},
        "seed": seed,
    })


def train_models(theta: np.ndarray, x: np.ndarray, prior: Prior, seed: int, cfg: StudyConfig
                 ) -> tuple[dict, float]:
    """The three models of one seed (``reject`` reuses ``interpolate``'s gap-free model), and
    the zero-fill value (the training mean, 0 after standardisation)."""
    columns = [prior.names.index(p) for p in cfg.parameters]
    low, high = (torch.as_tensor(b[columns]) for b in (prior.low, prior.high))
    units = [prior.units[j] for j in columns]
    theta_t = torch.as_tensor(theta, dtype=torch.float32)
    gapped = training_gaps(x, seed, cfg)
    fill_value = float(np.nanmean(gapped))

    def fit(windows: np.ndarray, mask: bool):
        x_t = torch.as_tensor(windows[:, None], dtype=torch.float32)
        return train_npe(theta_t, x_t, cfg.parameters, low, high, npe_config(cfg, seed, mask),
                         units=units)

    clean = fit(x, False)
    models = {"mask": fit(gapped, True),
              "zero_fill": fit(np.where(np.isnan(gapped), fill_value, gapped), False),
              "interpolate": clean}
    return models, fill_value


# --- evaluation ---------------------------------------------------------------------------------
def posterior_rows(posterior, x: np.ndarray, theta: np.ndarray, cfg: StudyConfig, seed: int
                   ) -> pd.DataFrame:
    """One row per (window, parameter): truth, median, 90 % interval, F̂ and the width flag."""
    generator = torch.Generator().manual_seed(seed)
    x_t = torch.as_tensor(x[:, None], dtype=torch.float32)
    with torch.no_grad():
        draws = torch.cat([posterior.sample((cfg.n_samples,), x=block, generator=generator)
                           for block in x_t.split(256)], dim=1).double().numpy()  # (n, B, k)
    low90, median, high90 = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    pit = (draws < theta[None]).mean(axis=0)
    width = high90 - low90
    threshold = posterior.reject_width90.numpy()
    with np.errstate(invalid="ignore"):
        flagged = np.where(np.isnan(threshold), False, width > threshold)
    k = theta.shape[1]
    return pd.DataFrame({"window": np.repeat(np.arange(len(x)), k),
                         "parameter": np.tile(cfg.parameters, len(x)),
                         "truth": theta.ravel(), "median": median.ravel(),
                         "ci90_low": low90.ravel(), "ci90_high": high90.ravel(),
                         "pit": pit.ravel(), "width_flag": flagged.ravel()})


def run_seed(seed: int, prior: Prior, cfg: StudyConfig) -> tuple[pd.DataFrame, dict]:
    started = time.perf_counter()
    theta, x = simulate(prior, cfg.n_train + cfg.n_test, seed, cfg)
    train, test = slice(0, len(x) - cfg.n_test), slice(len(x) - cfg.n_test, len(x))
    theta_test, x_test = theta[test], x[test]
    simulated = time.perf_counter()
    models, fill_value = train_models(theta[train], x[train], prior, seed, cfg)
    trained = time.perf_counter()
    frames = []
    for pattern in cfg.patterns:
        for fraction in cfg.fractions:
            gapped, detected = test_gaps(x_test, pattern, fraction, seed, cfg)
            found = np.repeat(detected, theta.shape[1])
            for strategy in ("mask", "zero_fill", "interpolate"):
                inputs = strategy_input(strategy, gapped, fill_value)
                rows = posterior_rows(models[strategy], inputs, theta_test, cfg, seed).assign(
                    strategy=strategy, estimated=True, detected_fraction=found)
                frames.append(rows.assign(seed=seed, pattern=pattern, fraction=fraction))
            # reject: the interpolate estimates under today's rule (no estimate above the limit)
            frames.append(frames[-1].assign(strategy="reject", estimated=found <= cfg.reject_above))
    timing = {"seed": seed, "train_windows": len(x) - len(x_test), "test_windows": len(x_test),
              "simulate_s": round(simulated - started, 1), "train_s": round(trained - simulated, 1),
              "evaluate_s": round(time.perf_counter() - trained, 1)}
    return pd.concat(frames, ignore_index=True), timing


def prior_widths(cfg: StudyConfig) -> dict[str, float]:
    prior = windkessel_prior(cfg)
    return {p: float(prior.high[prior.names.index(p)] - prior.low[prior.names.index(p)])
            for p in cfg.parameters}


# --- tables -------------------------------------------------------------------------------------
def metrics(rows: pd.DataFrame, widths: dict[str, float]) -> pd.DataFrame:
    """Per seed, strategy, pattern, fraction and parameter (accuracy and calibration over the
    windows that get an estimate)."""
    rows = rows.assign(width=rows["parameter"].map(widths))
    out = []
    for key, g in rows.groupby(["seed", *GROUP], sort=False):
        used = g[g["estimated"]]
        error = (used["median"] - used["truth"]).abs() / used["width"]
        inside = (used["truth"] >= used["ci90_low"]) & (used["truth"] <= used["ci90_high"])
        out.append(dict(zip(["seed", *GROUP], key, strict=True)) | {
            "windows": len(g), "estimated_fraction": len(used) / len(g),
            "usable_fraction": (g["estimated"] & ~g["width_flag"]).mean(),
            "nmae": error.median() if len(used) else np.nan,
            "cov90": inside.mean() if len(used) else np.nan,
            "acauc": (2 * used["pit"] - 1).abs().mean() - 0.5 if len(used) else np.nan,
            "width90": ((used["ci90_high"] - used["ci90_low"]) / used["width"]).median()
            if len(used) else np.nan,
            "detected_fraction": g["detected_fraction"].mean()})
    return pd.DataFrame(out)


def summary(per_seed: pd.DataFrame) -> pd.DataFrame:
    """Mean and SD over seeds per strategy, pattern, fraction and parameter; plus 'all', the
    mean over parameters (coverage range over parameters in cov90_min / cov90_max)."""
    values = ["nmae", "cov90", "acauc", "width90", "estimated_fraction", "usable_fraction"]
    overall = per_seed.groupby(["seed", *GROUP[:-1]], sort=False).agg(
        **{v: (v, "mean") for v in values}, cov90_min=("cov90", "min"),
        cov90_max=("cov90", "max")).reset_index().assign(parameter="all")
    both = pd.concat([per_seed, overall], ignore_index=True)
    table = both.groupby(GROUP, sort=False).agg(
        seeds=("seed", "nunique"),
        **{f"{v}_{s}": (v, s) for v in values for s in ("mean", "std")},
        cov90_min=("cov90_min", "mean"), cov90_max=("cov90_max", "mean")).reset_index()
    return table


def safe_fraction(table: pd.DataFrame, cfg: StudyConfig) -> tuple[float, pd.DataFrame]:
    """The largest tested fraction up to which (every smaller fraction included, every
    pattern) the mask model's seed-mean 90 % coverage, averaged over parameters, stays inside
    ``coverage_band``, no parameter's coverage falls more than ``max_coverage_drop`` below its
    own on gap-free windows, and the error averaged over parameters stays within
    ``error_tolerance`` (relative) of the gap-free model on gap-free windows. The band is not
    asked of every parameter: a single NPE misses it for some parameter even without gaps (the
    gap-free model too), which is not the gaps' doing. Also returns the per-fraction checks."""
    low, high = cfg.coverage_band
    reference = table[(table["strategy"] == "interpolate") & (table["fraction"] == 0.0)
                      & (table["parameter"] == "all")]["nmae_mean"].mean()
    mask = table[table["strategy"] == "mask"]
    params = mask[mask["parameter"] != "all"]
    gap_free = params[params["fraction"] == 0.0].groupby("parameter")["cov90_mean"].mean()
    checks = []
    for (pattern, fraction), g in mask.groupby(["pattern", "fraction"], sort=True):
        coverage = g[g["parameter"] != "all"].set_index("parameter")["cov90_mean"]
        overall = g[g["parameter"] == "all"].iloc[0]
        drop = float((gap_free.reindex(coverage.index) - coverage).max())
        checks.append({"pattern": pattern, "fraction": fraction,
                       "cov90": overall["cov90_mean"], "cov90_min": coverage.min(),
                       "cov90_max": coverage.max(), "cov90_drop": drop,
                       "nmae": overall["nmae_mean"],
                       "nmae_ratio": overall["nmae_mean"] / reference,
                       "coverage_ok": bool(low <= overall["cov90_mean"] <= high
                                           and drop <= cfg.max_coverage_drop),
                       "error_ok": bool(overall["nmae_mean"]
                                        <= (1 + cfg.error_tolerance) * reference)})
    checks = pd.DataFrame(checks)
    checks["ok"] = checks["coverage_ok"] & checks["error_ok"]
    passing = checks.groupby("fraction")["ok"].all().sort_index()
    failed = passing.index[~passing.to_numpy()]
    safe = passing.index[passing.index < failed.min()] if len(failed) else passing.index
    return (float(safe.max()) if len(safe) else float("nan")), checks


# --- figures and text ---------------------------------------------------------------------------
STYLE = {"mask": ("tab:blue", "o", "mask channel (trained with gaps)"),
         "zero_fill": ("tab:orange", "s", "zero-fill, no mask (trained with gaps)"),
         "interpolate": ("tab:green", "^", "gap-free model, linear interpolation"),
         "reject": ("tab:red", "x", "reject windows > 2 % missing (today)")}


def plot_overview(table: pd.DataFrame, cfg: StudyConfig, out: Path) -> None:
    panels = [("nmae", "median |error| / prior width"), ("cov90", "90 % coverage"),
              ("acauc", "ACAUC (0 = calibrated)"), ("usable_fraction", "windows usable")]
    fig, axes = plt.subplots(len(cfg.patterns), len(panels), figsize=(16, 3.8 * len(cfg.patterns)),
                             squeeze=False)
    overall = table[table["parameter"] == "all"]
    for row, pattern in zip(axes, cfg.patterns, strict=True):
        for ax, (value, label) in zip(row, panels, strict=True):
            for strategy, (color, marker, name) in STYLE.items():
                g = overall[(overall["pattern"] == pattern) & (overall["strategy"] == strategy)]
                ax.errorbar(100 * g["fraction"], g[f"{value}_mean"], yerr=g[f"{value}_std"],
                            color=color, marker=marker, label=name, capsize=3)
            if value == "cov90":
                ax.axhspan(*cfg.coverage_band, color="grey", alpha=0.15)
            ax.set_xlabel(f"missing samples per window [%] ({pattern})")
            ax.set_ylabel(label)
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("Windkessel pressure windows with gaps: mean over parameters, ± SD over seeds")
    fig.tight_layout()
    fig.savefig(out / "missing_data_overview.png", dpi=110)
    plt.close(fig)


def plot_parameters(table: pd.DataFrame, cfg: StudyConfig, out: Path) -> None:
    pattern = cfg.patterns[0]
    fig, axes = plt.subplots(2, len(cfg.parameters), figsize=(3.6 * len(cfg.parameters), 7),
                             squeeze=False)
    for j, parameter in enumerate(cfg.parameters):
        part = table[(table["parameter"] == parameter) & (table["pattern"] == pattern)]
        for strategy, (color, marker, name) in STYLE.items():
            if strategy == "reject":
                continue
            g = part[part["strategy"] == strategy]
            for i, value in enumerate(("nmae", "cov90")):
                axes[i, j].errorbar(100 * g["fraction"], g[f"{value}_mean"], yerr=g[f"{value}_std"],
                                    color=color, marker=marker, label=name, capsize=3)
        axes[0, j].set_title(LABELS.get(parameter, parameter))
        axes[0, j].set_ylabel("median |error| / prior width")
        axes[1, j].axhspan(*cfg.coverage_band, color="grey", alpha=0.15)
        axes[1, j].set_ylabel("90 % coverage")
        axes[1, j].set_xlabel(f"missing samples per window [%] ({pattern})")
    axes[0, 0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "missing_data_parameters.png", dpi=110)
    plt.close(fig)


def markdown(table: pd.DataFrame, checks: pd.DataFrame, safe: float, cfg: StudyConfig) -> str:
    overall = table[table["parameter"] == "all"]
    lines = ["Mean over parameters (± SD over seeds); nmae = median |error| / prior width; "
             "cov90 range over parameters in brackets.", "",
             "| pattern | missing % | strategy | nmae | cov90 [min–max] | ACAUC | usable |",
             "|---|---|---|---|---|---|---|"]
    for r in overall.sort_values(["pattern", "fraction"]).itertuples():
        lines.append(f"| {r.pattern} | {100 * r.fraction:.0f} | {r.strategy} | "
                     f"{r.nmae_mean:.3f} ± {r.nmae_std:.3f} | {r.cov90_mean:.3f} "
                     f"[{r.cov90_min:.2f}–{r.cov90_max:.2f}] | {r.acauc_mean:+.3f} | "
                     f"{r.usable_fraction_mean:.2f} |")
    verdict = "none" if math.isnan(safe) else f"{100 * safe:.0f} %"
    lines += ["", f"Safe fraction for the mask model (mean cov90 in {cfg.coverage_band}, no "
              f"parameter's cov90 more than {cfg.max_coverage_drop} below its gap-free value, "
              f"error within {100 * cfg.error_tolerance:.0f} % of the gap-free model on gap-free "
              f"windows; at this and every smaller fraction, every pattern): **{verdict}**", "",
              "| pattern | missing % | cov90 | cov90 min | cov90 max | largest drop | "
              "nmae / gap-free | ok |", "|---|---|---|---|---|---|---|---|"]
    for r in checks.itertuples():
        lines.append(f"| {r.pattern} | {100 * r.fraction:.0f} | {r.cov90:.3f} | "
                     f"{r.cov90_min:.3f} | {r.cov90_max:.3f} | {r.cov90_drop:+.3f} | "
                     f"{r.nmae_ratio:.3f} | {'yes' if r.ok else 'no'} |")
    return "\n".join(lines) + "\n"


# --- main ---------------------------------------------------------------------------------------
def seed_rows(seed: int, prior: Prior, cfg: StudyConfig, out: Path) -> tuple[pd.DataFrame, dict]:
    """One seed's rows, reused from ``out/seeds/`` when an earlier run with the same settings
    finished that seed (a killed run resumes at the next seed); written atomically."""
    settings = {k: v for k, v in dataclasses.asdict(cfg).items()
                if k not in ("seeds", "from_rows", "threads", "out")}
    key = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]
    path = out / "seeds" / f"seed{seed}_{key}.csv.gz"
    timing_path = path.with_suffix(".json")
    if path.is_file() and timing_path.is_file():
        return pd.read_csv(path), {**json.loads(timing_path.read_text()), "reused": True}
    rows, timing = run_seed(seed, prior, cfg)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    rows.to_csv(partial, index=False, compression="gzip")
    partial.replace(path)
    timing_path.write_text(json.dumps(timing))
    return rows, timing


def collect_rows(cfg: StudyConfig, out: Path) -> tuple[pd.DataFrame, list[dict]]:
    if cfg.from_rows:
        path = out / "rows.csv.gz"
        if not path.is_file():
            raise InputFileError(f"{path} not found: run the study once without from_rows=true")
        return pd.read_csv(path), []
    prior = windkessel_prior(cfg)
    frames, timings = [], []
    for seed in cfg.seeds:
        rows, timing = seed_rows(seed, prior, cfg, out)
        frames.append(rows)
        timings.append(timing)
        print(json.dumps(timing))
    rows = pd.concat(frames, ignore_index=True)
    rows.to_csv(out / "rows.csv.gz", index=False)
    return rows, timings


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_config(argv)
    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, timings = collect_rows(cfg, out)
    per_seed = metrics(rows, prior_widths(cfg))
    table = summary(per_seed)
    safe, checks = safe_fraction(table, cfg)
    per_seed.to_csv(out / "metrics_per_seed.csv", index=False)
    table.to_csv(out / "summary.csv", index=False)
    checks.to_csv(out / "safe_fraction.csv", index=False)
    plot_overview(table, cfg, out)
    plot_parameters(table, cfg, out)
    text = markdown(table, checks, safe, cfg)
    elapsed = time.perf_counter() - started
    (out / "results.md").write_text(f"{text}\nTimings per seed: {json.dumps(timings)}\n"
                                    f"Total {elapsed:.0f} s.\n")
    print(text)
    print(f"wrote {out}/rows.csv.gz, metrics_per_seed.csv, summary.csv, safe_fraction.csv, "
          f"figures; {elapsed:.0f} s")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
