"""The CV-SBI 2023 study (Wehenkel et al. 2023, "Simulation-based inference for cardiovascular
models"): what each measurement modality says about five biomarkers, at several noise levels.

Subjects are drawn from the prior and simulated ONCE with every channel of ``modalities``
(radial, brachial and digital pressure, digital volume PPG, optical PPG). The measurement model
(beat-to-beat timing, respiration, wander, motion, monitor filter, ADC; ``simulators.measurement``)
turns each beat into an 8-s window at a fixed sensor SNR per noise level; one NPE per modality x
noise level learns the posterior of the biomarkers (HR, CO, SVR, LVET, carotid-femoral PWV:
simulator labels). On held-out subjects:

- widths and calibration per biomarker x modality x noise: 90 % interval width (in units and
  relative to the prior's 5-95 % range), 90 % coverage, ACAUC, contraction = prior SD / posterior SD;
- sub-populations: k-means on each subject's log relative widths (all modalities x biomarkers at
  the lowest noise), each cluster described by the standardized mean of its parameters θ
  (which physiology drives wide vs narrow posteriors);
- global sensitivity (``cardiosbi.diagnostics.sensitivity``): Sobol S1/ST of waveform summaries
  (MAP and pulse pressure of pressure channels, beat period, principal-component scores of the
  normalised beat) over the prior box, beside the NPE's contraction per parameter.

``rows.csv.gz`` holds one row per (modality, noise, subject, biomarker) with the posterior's
median, SD, 90 % interval and F̂ (share of draws below the truth); ``subjects.csv.gz`` every
subject's θ and labels; ``sobol.csv`` the indices. ``from_rows=true`` recomputes every table
and figure from these files without simulating or training.
"""

from __future__ import annotations

import json
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
from sklearn.cluster import KMeans  # noqa: E402

from cardiosbi.datasets.prior import Prior, PriorConfig  # noqa: E402
from cardiosbi.datasets.simulation import SimulatorConfig, make_simulator  # noqa: E402
from cardiosbi.diagnostics.sensitivity import run_sobol  # noqa: E402
from cardiosbi.errors import ConfigError, InputFileError  # noqa: E402
from cardiosbi.inference import NPEConfig, train_npe  # noqa: E402
from cardiosbi.utils.config import to_dataclass  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402
from simulators.measurement import MeasurementConfig, MeasurementModel  # noqa: E402
from simulators.measurement.config import SensorNoise  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
UNITS = {"hr": "bpm", "co": "L/min", "svr": "dyn·s/cm⁵", "lvet": "ms", "pwv_cf": "m/s",
         "sv": "mL", "map": "mmHg"}
NAMES = {"hr": "HR", "co": "CO", "svr": "SVR", "lvet": "LVET", "pwv_cf": "PWV (c-f)", "sv": "SV",
         "map": "MAP"}
# the prior parameter that sets each biomarker most directly (Sobol vs contraction pairs)
DRIVER = {"hr": "hr", "co": "sv", "svr": "pvr", "lvet": "lvet", "pwv_cf": "k3"}
WINDKESSEL_CHANNELS = ["aortic_root/P", "aortic_root/PPG"]


@dataclass
class StudyConfig:
    preset: str = ""
    prior: str = "cardiosbi/conf/prior/wearable.yaml"
    simulator: str = "hemodynamics"
    dx: float = 1e-3
    network: str = "pwdb116"
    modalities: dict[str, str] = field(default_factory=dict)   # study.yaml names the five
    biomarkers: list[str] = field(default_factory=lambda: ["hr", "co", "svr", "lvet", "pwv_cf"])
    noise_snr_db: list[float] = field(default_factory=lambda: [40.0, 20.0, 10.0])
    n_subjects: int = 4096
    test_fraction: float = 0.25
    sampling_rate: float = 62.5
    window_s: float = 8.0
    batch_size: int = 256
    n_samples: int = 500
    max_epochs: int = 80
    patience: int = 8
    embedding_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    embedding_features: int = 32
    clusters: int = 3
    sobol_simulator: str = "hemodynamics"
    sobol_dx: float = 2e-3
    sobol_n: int = 256
    sobol_bounds: dict[str, list[float]] = field(default_factory=dict)
    sobol_pcs: int = 3
    device: str = "cpu"
    from_rows: bool = False
    seed: int = 0
    threads: int = 2
    out: str = "runs/cv_sbi_2023"
    tiny: bool = False


def load_config(argv: list[str]) -> StudyConfig:
    """study.yaml < the ``preset`` overlay < tiny.yaml (``tiny=true``) < ``key=value`` arguments,
    then the value checks; a layer that names ``modalities`` replaces the dict, not adds to it."""
    cfg = load_study_config(StudyConfig, HERE / "study.yaml", argv, replace=["modalities"])
    check_config(cfg)
    return cfg


def check_config(cfg: StudyConfig) -> None:
    """Settings that cannot work end here, before anything is simulated."""
    if not cfg.modalities or not cfg.biomarkers or not cfg.noise_snr_db:
        raise ConfigError("need at least one modality, biomarker and noise level")
    if not 0 < cfg.test_fraction < 1 or cfg.n_subjects * cfg.test_fraction < 10:
        raise ConfigError("test_fraction must lie in (0, 1) and leave at least 10 test subjects")
    if cfg.n_samples < 20:
        raise ConfigError(f"n_samples={cfg.n_samples}: a 90 % interval needs at least 20 draws")
    if cfg.clusters < 2:
        raise ConfigError("clusters must be >= 2")
    unknown = sorted(set(cfg.biomarkers) - set(UNITS))
    if unknown:
        raise ConfigError(f"biomarkers {unknown}: use some of {', '.join(UNITS)}")


def load_prior(path_name: str) -> Prior:
    """A prior file; a ``defaults: [base]`` list (as in wearable.yaml) is merged underneath."""
    path = Path(path_name) if Path(path_name).is_absolute() else REPO / path_name
    if not path.is_file():
        raise InputFileError(f"prior file {path} not found")
    own = OmegaConf.load(path)
    bases = [OmegaConf.load(path.parent / f"{b}.yaml") for b in own.pop("defaults", [])
             if b != "_self_"]
    return Prior(to_dataclass(OmegaConf.merge(*bases, own), PriorConfig, "prior"))


# --- simulations --------------------------------------------------------------------------------
def simulator_for(name: str, channels: list[str], dx: float, cfg: StudyConfig):
    return make_simulator(SimulatorConfig(name=name, channels=channels, dx=dx, network=cfg.network,
                                          dtype="float32" if name == "hemodynamics" else "float64",
                                          batch_size=cfg.batch_size), cfg.device)


def run_batched(simulator, params: dict[str, np.ndarray], batch: int):
    """Beats, period, labels and status of all subjects, simulated ``batch`` at a time."""
    n = len(next(iter(params.values())))
    parts = [simulator.run({k: v[i:i + batch] for k, v in params.items()}) for i in range(0, n, batch)]
    beats = {c: np.concatenate([p.beats[c] for p in parts]) for c in parts[0].beats}
    labels = {k: np.concatenate([p.labels[k] for p in parts]) for k in parts[0].labels}
    return (beats, np.concatenate([p.period for p in parts]), labels,
            np.concatenate([p.status for p in parts]))


def simulate_subjects(prior: Prior, cfg: StudyConfig) -> tuple[pd.DataFrame, dict[str, np.ndarray],
                                                               np.ndarray, float]:
    """Subjects table (θ, labels, split), one beat per channel, periods and the wall time."""
    started = time.perf_counter()
    draws = prior.sample([[cfg.seed, i] for i in range(cfg.n_subjects)]).theta
    params = {n: draws[:, j] for j, n in enumerate(prior.names)}
    params |= {k: np.full(cfg.n_subjects, v) for k, v in prior.fixed.items()}
    simulator = simulator_for(cfg.simulator, list(cfg.modalities.values()), cfg.dx, cfg)
    beats, period, labels, status = run_batched(simulator, params, cfg.batch_size)
    missing = sorted(set(cfg.biomarkers) - set(labels))
    if missing:
        raise ConfigError(f"simulator={cfg.simulator} has no labels {missing}; it has {sorted(labels)}")
    ok = (status == 0) & np.all([np.isfinite(labels[b]) for b in cfg.biomarkers], axis=0)
    ok &= np.all([np.isfinite(b).all(axis=1) for b in beats.values()], axis=0)
    rng = np.random.default_rng([cfg.seed, 1])
    split = np.where(rng.uniform(size=cfg.n_subjects) < cfg.test_fraction, "test", "train")
    subjects = pd.DataFrame({"subject": np.arange(cfg.n_subjects), "split": split, "ok": ok,
                             **{f"theta_{n}": params[n] for n in prior.names},
                             **{f"label_{b}": labels[b] for b in cfg.biomarkers}})
    return subjects, beats, period, time.perf_counter() - started


def windows(beats: np.ndarray, period: np.ndarray, channel: str, snr_db: float, seeds: list,
            cfg: StudyConfig) -> np.ndarray:
    """Measured windows (n, T) of one channel at a fixed sensor SNR (other effects as default)."""
    config = MeasurementConfig(fs=cfg.sampling_rate, window_s=cfg.window_s,
                               noise=SensorNoise(snr_db=[snr_db, snr_db]))
    return MeasurementModel(config).apply({channel: beats}, period, seeds).windows[channel]


# --- inference ----------------------------------------------------------------------------------
def npe_config(cfg: StudyConfig) -> NPEConfig:
    return NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": list(cfg.embedding_channels),
                                "features": cfg.embedding_features},
                  "estimator": {"kind": "nsf", "transforms": 3, "hidden": [64, 64]}},
        "trainer": {"max_epochs": cfg.max_epochs, "patience": cfg.patience, "batch_size": 128,
                    "min_epochs": min(5, cfg.max_epochs), "reject_calibration_rows": 100,
                    "reject_calibration_samples": min(100, cfg.n_samples)},
        "seed": cfg.seed,
    })


def posterior_rows(posterior, x: np.ndarray, truth: np.ndarray, subjects: np.ndarray,
                   cfg: StudyConfig) -> pd.DataFrame:
    """One row per (subject, biomarker): truth, median, SD, 90 % interval and F̂."""
    generator = torch.Generator().manual_seed(cfg.seed)
    x_t = torch.as_tensor(x[:, None], dtype=torch.float32)
    draws = torch.cat([posterior.sample((cfg.n_samples,), x=block, generator=generator)
                       for block in x_t.split(256)], dim=1).double().numpy()   # (S, n, k)
    low, median, high = np.quantile(draws, [0.05, 0.5, 0.95], axis=0)
    k = truth.shape[1]
    return pd.DataFrame({"subject": np.repeat(subjects, k), "biomarker": np.tile(cfg.biomarkers, len(x)),
                         "truth": truth.ravel(), "median": median.ravel(),
                         "sd": draws.std(axis=0).ravel(), "ci90_low": low.ravel(),
                         "ci90_high": high.ravel(), "pit": (draws < truth[None]).mean(0).ravel()})


def sbi_rows(subjects: pd.DataFrame, beats: dict, period: np.ndarray, cfg: StudyConfig
             ) -> tuple[pd.DataFrame, list[dict]]:
    ok = subjects["ok"].to_numpy()
    train = np.flatnonzero(ok & (subjects["split"] == "train").to_numpy())
    test = np.flatnonzero(ok & (subjects["split"] == "test").to_numpy())
    labels = subjects[[f"label_{b}" for b in cfg.biomarkers]].to_numpy()
    # bounds of the NPE's support: the training labels' range with a 5 % margin
    span = labels[train].max(0) - labels[train].min(0)
    low = torch.as_tensor(labels[train].min(0) - 0.05 * span)
    high = torch.as_tensor(labels[train].max(0) + 0.05 * span)
    frames, timings = [], []
    for modality, channel in cfg.modalities.items():
        for level, snr in enumerate(cfg.noise_snr_db):
            started = time.perf_counter()
            seeds = [[cfg.seed, int(i), level] for i in range(len(subjects))]
            x = windows(beats[channel][ok], period[ok], channel, snr, [seeds[i] for i in np.flatnonzero(ok)], cfg)
            full = np.full((len(subjects), x.shape[1]), np.nan, np.float32)
            full[ok] = x
            posterior = train_npe(torch.as_tensor(labels[train], dtype=torch.float32),
                                  torch.as_tensor(full[train][:, None]), cfg.biomarkers, low, high,
                                  npe_config(cfg), units=[UNITS[b] for b in cfg.biomarkers])
            trained = time.perf_counter()
            rows = posterior_rows(posterior, full[test], labels[test], test, cfg)
            frames.append(rows.assign(modality=modality, channel=channel, snr_db=snr))
            timings.append({"modality": modality, "snr_db": snr, "train_s": round(trained - started, 1),
                            "evaluate_s": round(time.perf_counter() - trained, 1)})
            print(json.dumps(timings[-1]), flush=True)
    return pd.concat(frames, ignore_index=True), timings


# --- global sensitivity -------------------------------------------------------------------------
def beat_features(beats: dict[str, np.ndarray], period: np.ndarray, pcs: int) -> dict[str, np.ndarray]:
    """Scalar summaries of each channel's beat: beat period [s]; MAP and pulse pressure [mmHg]
    of pressure channels; scores of the first ``pcs`` principal components of the beat
    normalised to [0, 1] (its shape, the only content of a normalised PPG)."""
    out = {"period": period}
    for channel, beat in beats.items():
        if channel.endswith("/P"):
            out[f"{channel} MAP"] = beat.mean(1)
            out[f"{channel} PP"] = beat.max(1) - beat.min(1)
        shape = (beat - beat.min(1, keepdims=True)) / np.ptp(beat, axis=1, keepdims=True)
        centred = shape - shape.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        for c in range(pcs):
            out[f"{channel} PC{c + 1}"] = centred @ vt[c]
    return out


def sobol_rows(prior: Prior, cfg: StudyConfig) -> tuple[pd.DataFrame, float]:
    """Sobol indices of waveform summaries over the prior's hemodynamic parameters."""
    started = time.perf_counter()
    channels = (list(cfg.modalities.values()) if cfg.sobol_simulator == cfg.simulator
                else WINDKESSEL_CHANNELS)
    simulator = simulator_for(cfg.sobol_simulator, channels, cfg.sobol_dx, cfg)
    names = [n for n in prior.names if n in simulator.hemodynamic_parameters]
    bounds = {n: cfg.sobol_bounds.get(n, [prior.low[j], prior.high[j]])
              for j, n in enumerate(prior.names) if n in names}
    log = [prior.config.parameters[n].dist == "loguniform" for n in names]
    nominal = {n: 0.5 * (prior.low[j] + prior.high[j]) for j, n in enumerate(prior.names)
               if n not in names} | prior.fixed   # skin/sensor parameters held at mid-range

    def model(points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        m = len(next(iter(points.values())))
        params = points | {k: np.full(m, v) for k, v in nominal.items()}
        beats, period, _, status = run_batched(simulator, params, cfg.batch_size)
        if np.any(status != 0):
            raise ConfigError(f"sobol: {np.sum(status != 0)} of {m} design points failed to "
                              "simulate; narrow sobol_bounds")
        return beat_features(beats, period, cfg.sobol_pcs)

    table = run_sobol(names, [bounds[n][0] for n in names], [bounds[n][1] for n in names], log,
                      model, cfg.sobol_n, cfg.seed)
    return table.assign(simulator=cfg.sobol_simulator), time.perf_counter() - started


# --- tables (pure functions of the rows) --------------------------------------------------------
def coverage(truth: np.ndarray, low: np.ndarray, high: np.ndarray) -> float:
    """Share of truths inside their intervals (the empirical coverage of a credible level)."""
    truth, low, high = map(np.asarray, (truth, low, high))
    if truth.size == 0:
        raise ValueError("coverage of no intervals")
    return float(np.mean((truth >= low) & (truth <= high)))


def prior_spread(subjects: pd.DataFrame, biomarkers: list[str]) -> pd.DataFrame:
    """Per biomarker, over the accepted training subjects: SD and 5-95 % range (the prior's)."""
    train = subjects[subjects["ok"] & (subjects["split"] == "train")]
    return pd.DataFrame([{"biomarker": b, "prior_sd": train[f"label_{b}"].std(),
                          "prior_range90": np.subtract(*np.quantile(train[f"label_{b}"], [0.95, 0.05]))}
                         for b in biomarkers]).set_index("biomarker")


def summary(rows: pd.DataFrame, spread: pd.DataFrame) -> pd.DataFrame:
    """Per modality x noise x biomarker: widths, coverage, ACAUC, error, contraction."""
    out = []
    for (modality, snr, biomarker), g in rows.groupby(["modality", "snr_db", "biomarker"], sort=False):
        width = g["ci90_high"] - g["ci90_low"]
        out.append({"modality": modality, "snr_db": snr, "biomarker": biomarker,
                    "unit": UNITS[biomarker], "subjects": len(g),
                    "width90": width.median(),
                    "rel_width90": width.median() / spread.loc[biomarker, "prior_range90"],
                    "cov90": coverage(g["truth"], g["ci90_low"], g["ci90_high"]),
                    "acauc": (2 * g["pit"] - 1).abs().mean() - 0.5,
                    "mae": (g["median"] - g["truth"]).abs().median(),
                    "contraction": spread.loc[biomarker, "prior_sd"] / g["sd"].median()})
    return pd.DataFrame(out)


def width_features(rows: pd.DataFrame, spread: pd.DataFrame) -> pd.DataFrame:
    """Per test subject: log(90 % width / prior 5-95 % range) per modality x biomarker, at the
    lowest noise (highest SNR), where the physiology rather than the sensor sets the width."""
    best = rows[rows["snr_db"] == rows["snr_db"].max()]
    rel = (best["ci90_high"] - best["ci90_low"]) / best["biomarker"].map(spread["prior_range90"])
    wide = best.assign(log_rel_width=np.log(rel.clip(lower=1e-6))).pivot_table(
        index="subject", columns=["modality", "biomarker"], values="log_rel_width")
    return wide.dropna()


def clusters(rows: pd.DataFrame, subjects: pd.DataFrame, spread: pd.DataFrame, k: int, seed: int
             ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """k-means on the standardized width features; per cluster: size, mean relative width per
    biomarker (geometric mean over modalities) and the z-score of each θ's cluster mean."""
    features = width_features(rows, spread)
    z = (features - features.mean()) / features.std().replace(0, 1)
    labels = KMeans(k, n_init=10, random_state=seed).fit_predict(z.to_numpy())
    theta_cols = [c for c in subjects.columns if c.startswith("theta_")]
    theta = subjects.set_index("subject").loc[features.index, theta_cols]
    theta_z = (theta - theta.mean()) / theta.std().replace(0, 1)
    width = np.exp(features.T.groupby(level="biomarker").mean().T)
    assignment = pd.DataFrame({"subject": features.index, "cluster": labels})
    portrait = []
    for c in range(k):
        members = labels == c
        drivers = theta_z[members].mean().sort_values(key=np.abs, ascending=False)
        portrait.append({"cluster": c, "size": int(members.sum()),
                         **{f"rel_width90_{b}": width[members][b].mean() for b in width.columns},
                         **{f"z_{n.removeprefix('theta_')}": v for n, v in theta_z[members].mean().items()},
                         "drivers": ", ".join(f"{n.removeprefix('theta_')} {v:+.2f}" for n, v in drivers.head(3).items())})
    portrait = pd.DataFrame(portrait).sort_values("rel_width90_" + width.columns[0]).reset_index(drop=True)
    return portrait, assignment


def sobol_vs_contraction(sobol: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """Per biomarker: the largest ST of its driving parameter over all waveform summaries, and the
    NPE's contraction per modality at the lowest noise."""
    valid = sobol[sobol["parameter"].notna()]
    best = table[table["snr_db"] == table["snr_db"].max()]
    out = []
    for biomarker, parameter in DRIVER.items():
        part = valid[valid["parameter"] == parameter]
        if part.empty or biomarker not in set(best["biomarker"]):
            continue
        top = part.loc[part["ST"].idxmax()]
        for r in best[best["biomarker"] == biomarker].itertuples():
            out.append({"biomarker": biomarker, "parameter": parameter, "max_ST": top["ST"],
                        "max_S1": part["S1"].max(), "output": top["output"],
                        "modality": r.modality, "contraction": r.contraction})
    return pd.DataFrame(out)


# --- figures ------------------------------------------------------------------------------------
def plot_heatmaps(table: pd.DataFrame, out: Path) -> None:
    modalities = list(dict.fromkeys(table["modality"]))
    biomarkers = list(dict.fromkeys(table["biomarker"]))
    levels = sorted(set(table["snr_db"]), reverse=True)
    fig, axes = plt.subplots(2, len(levels), figsize=(4.2 * len(levels) + 1, 8), squeeze=False)
    for col, snr in enumerate(levels):
        part = table[table["snr_db"] == snr].pivot(index="modality", columns="biomarker")
        for row, (value, label, cmap, vmax) in enumerate(
                [("rel_width90", "90 % width / prior 5-95 % range", "viridis", 1.2),
                 ("cov90", "90 % coverage", "RdBu", 1.0)]):
            grid = part[value].loc[modalities, biomarkers].to_numpy()
            ax = axes[row, col]
            image = ax.imshow(grid, cmap=cmap, vmin=0.8 if value == "cov90" else 0, vmax=vmax)
            for (i, j), v in np.ndenumerate(grid):
                ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=8, color="w" if value == "rel_width90" and v < 0.6 else "k")
            ax.set_xticks(range(len(biomarkers)), [f"{NAMES[b]}\n[{UNITS[b]}]" for b in biomarkers], fontsize=8)
            ax.set_yticks(range(len(modalities)), [m.replace("_", " ") for m in modalities], fontsize=8)
            ax.set_title(f"{label}\nsensor SNR {snr:g} dB", fontsize=9)
            fig.colorbar(image, ax=ax, shrink=0.7, label=label if col == len(levels) - 1 else None)
    fig.suptitle("Posterior width (relative, dimensionless) and 90 % coverage, held-out simulations")
    fig.tight_layout()
    fig.savefig(out / "width_coverage_heatmap.png", dpi=110)
    plt.close(fig)


def plot_sobol_contraction(pairs: pd.DataFrame, sobol: pd.DataFrame, out: Path) -> None:
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    valid = sobol[sobol["parameter"].notna()]
    per_param = valid.groupby("parameter").agg(ST=("ST", "max"), S1=("S1", "max")).sort_values("ST")
    y = np.arange(len(per_param))
    left.barh(y - 0.2, per_param["ST"], 0.4, label="total order ST")
    left.barh(y + 0.2, per_param["S1"], 0.4, label="first order S1")
    left.set_yticks(y, per_param.index)
    left.set_xlabel("largest Sobol index over waveform summaries (share of variance, 1)")
    left.set_title(f"Global sensitivity ({sobol['simulator'].iloc[0]} simulator)")
    left.legend(fontsize=8)
    if not pairs.empty:
        piv = pairs.pivot(index="biomarker", columns="modality", values="contraction")
        x = np.arange(len(piv))
        step = 0.8 / len(piv.columns)
        for i, modality in enumerate(piv.columns):
            right.bar(x + i * step - 0.4 + step / 2, piv[modality], step, label=modality.replace("_", " "))
        right.set_xticks(x, [f"{NAMES[b]} (θ: {DRIVER[b]})" for b in piv.index], fontsize=8)
        right.axhline(1, color="grey", lw=0.8)
        right.set_ylabel("contraction = prior SD / median posterior SD (1)")
        right.set_title("SBI posterior contraction, highest SNR")
        right.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(out / "sobol_vs_contraction.png", dpi=110)
    plt.close(fig)


def plot_clusters(portrait: pd.DataFrame, out: Path) -> None:
    width_cols = [c for c in portrait.columns if c.startswith("rel_width90_")]
    z_cols = [c for c in portrait.columns if c.startswith("z_")]
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 1.2 * len(portrait) + 2.5),
                                      gridspec_kw={"width_ratios": [len(width_cols), len(z_cols)]})
    rows = [f"cluster {r.cluster} (n={r.size})" for r in portrait.itertuples()]
    for ax, cols, cmap, label, vmin, vmax in [
            (left, width_cols, "viridis", "mean 90 % width / prior 5-95 % range (1)", 0, 1.2),
            (right, z_cols, "RdBu_r", "cluster mean of θ, z-score vs test subjects (SD)", -1.5, 1.5)]:
        grid = portrait[cols].to_numpy(dtype=float)
        image = ax.imshow(grid, cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
        for (i, j), v in np.ndenumerate(grid):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=7)
        names = [c.split("_", 1)[1] if c.startswith("z_") else NAMES.get(c.removeprefix("rel_width90_"), c)
                 for c in cols]
        ax.set_xticks(range(len(cols)), names, rotation=45, ha="right", fontsize=8)
        ax.set_yticks(range(len(rows)), rows, fontsize=8)
        fig.colorbar(image, ax=ax, label=label, shrink=0.8)
    left.set_title("Posterior width (highest SNR,\nmean over modalities)")
    right.set_title("Physiology of each cluster")
    fig.tight_layout()
    fig.savefig(out / "cluster_portrait.png", dpi=110)
    plt.close(fig)


def markdown(table: pd.DataFrame, portrait: pd.DataFrame, pairs: pd.DataFrame) -> str:
    lines = ["| modality | SNR dB | biomarker | 90 % width | rel. width | cov90 | ACAUC | MAE | contraction |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.modality} | {r.snr_db:g} | {NAMES[r.biomarker]} | {r.width90:.3g} {r.unit} | "
                     f"{r.rel_width90:.2f} | {r.cov90:.2f} | {r.acauc:+.3f} | {r.mae:.3g} | {r.contraction:.2f} |")
    lines += ["", "Clusters of per-subject posterior widths (highest SNR); drivers = the θ with the "
              "largest |z| of the cluster mean:", "",
              "| cluster | n | " + " | ".join(c.removeprefix("rel_width90_") for c in portrait.columns
                                             if c.startswith("rel_width90_")) + " | drivers |",
              "|---|---|" + "---|" * sum(c.startswith("rel_width90_") for c in portrait.columns) + "---|"]
    for r in portrait.to_dict("records"):
        widths = " | ".join(f"{v:.2f}" for k, v in r.items() if k.startswith("rel_width90_"))
        lines.append(f"| {r['cluster']} | {r['size']} | {widths} | {r['drivers']} |")
    if not pairs.empty:
        lines += ["", "Sobol (largest ST of the driving parameter over waveform summaries) vs SBI "
                  "contraction (highest SNR):", "", "| biomarker | θ | max ST | max S1 | output | modality | contraction |",
                  "|---|---|---|---|---|---|---|"]
        for r in pairs.itertuples():
            lines.append(f"| {NAMES[r.biomarker]} | {r.parameter} | {r.max_ST:.2f} | {r.max_S1:.2f} | "
                         f"{r.output} | {r.modality} | {r.contraction:.2f} |")
    return "\n".join(lines) + "\n"


# --- main ---------------------------------------------------------------------------------------
def collect(cfg: StudyConfig, out: Path) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    files = [out / n for n in ("rows.csv.gz", "subjects.csv.gz", "sobol.csv")]
    if cfg.from_rows:
        absent = [f.name for f in files if not f.is_file()]
        if absent:
            raise InputFileError(f"{absent} not in {out}: run the study once without from_rows=true")
        return (*(pd.read_csv(f) for f in files), json.loads((out / "timings.json").read_text()))
    prior = load_prior(cfg.prior)
    subjects, beats, period, simulate_s = simulate_subjects(prior, cfg)
    print(f"simulated {len(subjects)} subjects ({subjects['ok'].sum()} ok) in {simulate_s:.0f} s", flush=True)
    rows, timings = sbi_rows(subjects, beats, period, cfg)
    sobol, sobol_s = sobol_rows(prior, cfg)
    timing = {"simulate_s": round(simulate_s, 1), "subjects": len(subjects),
              "subjects_ok": int(subjects["ok"].sum()), "sobol_s": round(sobol_s, 1),
              "npe": timings}
    for frame, path in zip((rows, subjects, sobol), files, strict=True):
        frame.to_csv(path, index=False)
    (out / "timings.json").write_text(json.dumps(timing))
    return rows, subjects, sobol, timing


def main(argv: list[str]) -> dict[str, pd.DataFrame]:
    cfg = load_config(argv)
    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    rows, subjects, sobol, timing = collect(cfg, out)
    spread = prior_spread(subjects, cfg.biomarkers)
    table = summary(rows, spread)
    portrait, assignment = clusters(rows, subjects, spread, cfg.clusters, cfg.seed)
    pairs = sobol_vs_contraction(sobol, table)
    table.to_csv(out / "summary.csv", index=False)
    portrait.to_csv(out / "clusters.csv", index=False)
    assignment.to_csv(out / "cluster_assignment.csv", index=False)
    pairs.to_csv(out / "sobol_vs_contraction.csv", index=False)
    plot_heatmaps(table, out)
    plot_sobol_contraction(pairs, sobol, out)
    plot_clusters(portrait, out)
    text = markdown(table, portrait, pairs)
    (out / "results.md").write_text(f"{text}\nTimings: {json.dumps(timing)}\n"
                                    f"Tables and figures in {time.perf_counter() - started:.0f} s.\n")
    print(text)
    return {"summary": table, "clusters": portrait, "sobol": sobol, "pairs": pairs}


if __name__ == "__main__":
    main(sys.argv[1:])
