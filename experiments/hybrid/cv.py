"""The hybrid PPG model and its baselines, side by side, by record-level cross-validation.

Data: every record of ``records`` is cut by the same window and quality code as
``cardiosbi infer`` into aligned PPG/ABP pairs (8 s at the APW posterior's 125 Hz). Training
pairs overlap (``train_hop_s``); test windows do not (hop = window). Records are split into
``folds``; all models of a fold are trained on the other folds' records only (the CVAE,
the deterministic map and the supervised regressor also hold out 15 % of their training
records for early stopping). CinC 2015 records carry no patient id: alarms of one patient may
sit in two records, so a record split can still leak a patient.

Methods (per test window, from its PPG alone unless stated):
- ``hybrid_m{M}``: the CVAE's M decoded pressures composed with the shipped ``apw`` posterior;
- ``deterministic``: a PPG→APW U-Net without latent (PPG2ABP-style), composed with ``apw``;
- ``direct_ppg``: the shipped ``ppg`` NPE (simulation-trained on PPG);
- ``supervised``: a CNN on the same embedding trained on real labels (HR, MAP, SBP, DBP) with a
  Gaussian head;
- ``population``: the training folds' mean (interval: their 5-95 % range) — the floor;
- ``apw_invasive``: the ``apw`` posterior on the measured arterial pressure (not a PPG method:
  the ceiling the hybrid stands in for, and the reference for SV, CO, SVR and LVET).

References: HR from the ECG R-peaks, MAP/SBP/DBP from the arterial line (quality table);
SV, CO, SVR and LVET have no real reference here, so the hybrid is compared with
``apw_invasive`` on the same beats. Writes ``rows.csv`` (window × method × biomarker),
``waveforms.csv`` (window × waveform method), ``metrics.csv``, ``rejection.csv``, figures and
``results.md`` into ``out``.
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from scipy.signal import find_peaks  # noqa: E402

from cardiosbi.baselines.supervised import SupervisedConfig, train_supervised  # noqa: E402
from cardiosbi.biomarkers import DERIVED  # noqa: E402
from cardiosbi.default_models import load_default_posterior  # noqa: E402
from cardiosbi.diagnostics.trending import (  # noqa: E402
    concordance,
    per_record_correlation,
    record_changes,
)
from cardiosbi.estimate import model_input  # noqa: E402
from cardiosbi.hybrid import CVAEConfig, HybridPosterior, HybridTrainerConfig, PairSet  # noqa: E402
from cardiosbi.hybrid.fit import (  # noqa: E402
    TrainHybridConfig,
    calibrate_prior_scale,
    gather_pairs,
    reject_threshold,
)
from cardiosbi.hybrid.training import fit_cvae, split_records  # noqa: E402
from cardiosbi.utils.progress import progress  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

# posterior parameter -> quality-table reference column (HR from ECG, pressures from the line)
REAL_REFERENCES = {"hr": "hr_ecg", "map_radial": "map_abp", "sbp_radial": "sbp_abp",
                   "dbp_radial": "dbp_abp"}
INVASIVE_ONLY = ["sv", "co", "svr", "lvet"]   # reference: the apw posterior on measured pressure
VITALS = list(REAL_REFERENCES)


@dataclass
class CVConfig:
    records: list[str] = field(default_factory=list)
    folds: int = 5
    seed: int = 0
    train_hop_s: float = 4.0
    n_samples: int = 1000
    components: list[int] = field(default_factory=lambda: [1, 8, 32])
    decode_draws: int = 8
    max_epochs: int = 40
    patience: int = 8
    latent_dim: int = 16
    channels: list[int] = field(default_factory=lambda: [16, 32, 64, 64])
    hidden: int = 128
    supervised_features: int = 64
    reject_windows: int = 512
    reject_draws: int = 256
    calibrate_prior_scale: bool = True
    exclusion_relative: float = 0.10
    exclusion_relative_vitals: float = 0.05
    min_gap_s: float = 40.0
    workers: int = 2
    out: str = "runs/hybrid_cv"
    tiny: bool = False


def load_config(argv: list[str]) -> CVConfig:
    """cv.yaml < tiny.yaml (``tiny=true``) < ``key=value`` arguments."""
    return load_study_config(CVConfig, Path(__file__).resolve().parent / "cv.yaml", argv)


# --- data --------------------------------------------------------------------------------------
def cut(cfg: CVConfig, apw, hop_s: float, name: str) -> PairSet:
    settings = TrainHybridConfig(records=list(cfg.records), out=str(Path(cfg.out) / name))
    settings.pairs.workers, settings.pairs.min_pairs, settings.pairs.min_records = cfg.workers, 20, 2
    pairs, counts = gather_pairs(settings.records, Path(settings.out), apw, settings, hop_s)
    print(f"{name}: {counts['pairs']} pairs from {counts['records_with_pairs']}/"
          f"{counts['records']} records ({counts['records_failed']} records failed)")
    return pairs


def assign_folds(records: np.ndarray, folds: int, seed: int) -> dict[str, int]:
    unique = np.random.default_rng(seed).permutation(np.unique(records))
    return {str(r): i % folds for i, r in enumerate(unique)}


# --- models of one fold -------------------------------------------------------------------------
def trainer_config(cfg: CVConfig) -> HybridTrainerConfig:
    return HybridTrainerConfig(max_epochs=cfg.max_epochs, min_epochs=min(5, cfg.max_epochs),
                               patience=cfg.patience, progress_bar=False,
                               kl_warmup_epochs=min(10, cfg.max_epochs))


def model_config(cfg: CVConfig, latent_dim: int) -> CVAEConfig:
    return CVAEConfig(channels=list(cfg.channels), latent_dim=latent_dim, hidden=cfg.hidden)


def fit_map(train: PairSet, cfg: CVConfig, latent_dim: int, apw, seed: int) -> HybridPosterior:
    held = split_records(train.records, 0.15, seed)
    cvae, summary = fit_cvae(train.subset(~held), model_config(cfg, latent_dim),
                             trainer_config(cfg), seed, validation=train.subset(held))
    n_apw = max(cfg.components) if latent_dim else 1   # a deterministic map decodes one pressure
    hybrid = HybridPosterior(cvae, apw, n_apw=n_apw, training=summary)
    settings = TrainHybridConfig(seed=seed)
    settings.posterior.reject_windows = cfg.reject_windows
    settings.posterior.reject_draws = cfg.reject_draws
    if latent_dim and cfg.calibrate_prior_scale:   # as `train-hybrid` does, on the inner validation
        calibrate_prior_scale(hybrid, train.subset(held), settings)
    hybrid.reject_width90 = reject_threshold(hybrid, train.subset(held), settings)
    return hybrid


def labels_of(pairs: PairSet) -> np.ndarray:
    return pairs.table[[REAL_REFERENCES[p] for p in VITALS]].to_numpy(np.float32)


def fit_supervised(train: PairSet, cfg: CVConfig, seed: int):
    held = split_records(train.records, 0.15, seed)
    settings = SupervisedConfig(max_epochs=cfg.max_epochs, patience=cfg.patience, seed=seed,
                                channels=tuple(cfg.channels), features=cfg.supervised_features)
    return train_supervised(train.ppg[~held], labels_of(train)[~held], VITALS,
                            train.ppg[held], labels_of(train)[held], settings)


# --- estimates as tidy rows ----------------------------------------------------------------------
def posterior_rows(posterior, x: torch.Tensor, method: str, cfg: CVConfig, seed: int) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(seed)
    table = posterior.summarize(x, levels=(0.9,), n=cfg.n_samples, generator=generator,
                                derived=DERIVED, batch_size=64)
    return table.assign(method=method)[["window", "parameter", "median", "ci90_low",
                                         "ci90_high", "width90", "reject", "method"]]


def supervised_rows(model, ppg: np.ndarray) -> pd.DataFrame:
    out = model.predict(ppg)
    frames = []
    for j, name in enumerate(model.names):
        frames.append(pd.DataFrame({"window": np.arange(len(ppg)), "parameter": name,
                                    "median": out["mean"][:, j], "ci90_low": out["low90"][:, j],
                                    "ci90_high": out["high90"][:, j],
                                    "width90": out["high90"][:, j] - out["low90"][:, j],
                                    "reject": False}))
    return pd.concat(frames, ignore_index=True).assign(method="supervised")


def population_rows(train_values: dict[str, np.ndarray], n: int) -> pd.DataFrame:
    frames = []
    for name, values in train_values.items():
        values = values[np.isfinite(values)]
        low, high = np.quantile(values, [0.05, 0.95])
        frames.append(pd.DataFrame({"window": np.arange(n), "parameter": name,
                                    "median": values.mean(), "ci90_low": low, "ci90_high": high,
                                    "width90": high - low, "reject": False}))
    return pd.concat(frames, ignore_index=True).assign(method="population")


# --- waveform metrics -----------------------------------------------------------------------------
def pressure_features(apw: np.ndarray, fs: float) -> np.ndarray:
    """(N, T) pressures in mmHg -> (N, 3) SBP, DBP, MAP: mean of beat maxima and minima
    (peaks at least 0.25 s apart, 10 mmHg prominent) and the window mean. The same function
    reads measured and decoded pressures, so their difference is the decoder's."""
    out = np.full((len(apw), 3), np.nan)
    distance = int(0.25 * fs)
    for i, wave in enumerate(apw):
        peaks, _ = find_peaks(wave, distance=distance, prominence=10.0)
        troughs, _ = find_peaks(-wave, distance=distance, prominence=10.0)
        out[i] = [wave[peaks].mean() if peaks.size else np.nan,
                  wave[troughs].mean() if troughs.size else np.nan, wave.mean()]
    return out


def waveform_rows(hybrid: HybridPosterior, test: PairSet, method: str, cfg: CVConfig,
                  seed: int, fs: float) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(seed)
    ppg = torch.from_numpy(test.ppg[:, None])
    decoded = torch.cat([hybrid.sample_apw(block, cfg.decode_draws, generator)
                         for block in ppg.split(128)], dim=1).numpy()        # (m, N, T)
    measured = pressure_features(test.apw, fs)
    per_draw = np.stack([pressure_features(d, fs) for d in decoded])          # (m, N, 3)
    with warnings.catch_warnings():  # a flat decoded draw has no beats: NaN, not an error
        warnings.simplefilter("ignore", RuntimeWarning)
        estimate = np.nanmean(per_draw, axis=0)
    rmse = np.sqrt(((decoded.mean(0) - test.apw) ** 2).mean(axis=1))
    spread = decoded.mean(axis=2).std(axis=0)   # SD of decoded MAP across draws
    return pd.DataFrame({"window": np.arange(len(test)), "method": method, "rmse_mmhg": rmse,
                         "sbp_decoded": estimate[:, 0], "dbp_decoded": estimate[:, 1],
                         "map_decoded": estimate[:, 2], "sbp_measured": measured[:, 0],
                         "dbp_measured": measured[:, 1], "map_measured": measured[:, 2],
                         "map_draw_sd": spread})


# --- one fold ------------------------------------------------------------------------------------
def run_fold(fold: int, train: PairSet, test: PairSet, apw, population: dict[str, np.ndarray],
             cfg: CVConfig) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Train the fold's models on ``train`` and estimate ``test``; ``population``: the training
    windows' reference values per biomarker (the population-mean baseline)."""
    seed = cfg.seed + fold
    fs = float(apw.input_spec["sampling_rate"])
    x = torch.from_numpy(test.ppg[:, None])
    started = time.perf_counter()
    hybrid = fit_map(train, cfg, cfg.latent_dim, apw, seed)
    deterministic = fit_map(train, cfg, 0, apw, seed)
    supervised = fit_supervised(train, cfg, seed)
    timing = {"fold": fold, "train_seconds": round(time.perf_counter() - started, 1),
              "cvae_epochs": hybrid.training["epochs"],
              "deterministic_epochs": deterministic.training["epochs"],
              "supervised_epochs": supervised.training["epochs"],
              "prior_scale": hybrid.prior_scale}
    frames = []
    for m in cfg.components:
        hybrid.n_apw = m
        frames.append(posterior_rows(hybrid, x, f"hybrid_m{m}", cfg, seed))
    deterministic.n_apw = 1
    frames.append(posterior_rows(deterministic, x, "deterministic", cfg, seed))
    frames.append(supervised_rows(supervised, test.ppg))
    frames.append(population_rows(population, len(test)))
    rows = pd.concat(frames, ignore_index=True).assign(fold=fold)
    waves = pd.concat([waveform_rows(hybrid, test, "hybrid", cfg, seed, fs),
                       waveform_rows(deterministic, test, "deterministic", cfg, seed, fs)])
    timing["evaluate_seconds"] = round(time.perf_counter() - started - timing["train_seconds"], 1)
    if fold == 0:
        chosen = test.subset(np.linspace(0, len(test) - 1, 3).astype(int))
        plot_examples(chosen, hybrid.sample_apw(torch.from_numpy(chosen.ppg[:, None]), 6,
                                                torch.Generator().manual_seed(seed)).numpy(),
                      Path(cfg.out), fs)
    return rows, waves.assign(fold=fold), timing


# --- metrics ---------------------------------------------------------------------------------------
def with_references(rows: pd.DataFrame, test_table: pd.DataFrame,
                    invasive: pd.DataFrame) -> pd.DataFrame:
    """Attach record, time and the reference of each (window, biomarker)."""
    meta = test_table[["record", "start_s", *REAL_REFERENCES.values()]].reset_index(drop=True)
    rows = rows.merge(meta, left_on="window", right_index=True)
    reference = np.full(len(rows), np.nan)
    for parameter, column in REAL_REFERENCES.items():
        mask = (rows["parameter"] == parameter).to_numpy()
        reference[mask] = rows.loc[mask, column].to_numpy(float)
    invasive_median = invasive.set_index(["window", "parameter"])["median"]
    for parameter in INVASIVE_ONLY:
        mask = (rows["parameter"] == parameter).to_numpy()
        keys = list(zip(rows.loc[mask, "window"], rows.loc[mask, "parameter"], strict=True))
        reference[mask] = invasive_median.reindex(keys).to_numpy(float)
    return rows.drop(columns=list(REAL_REFERENCES.values())).assign(reference=reference)


def metrics(rows: pd.DataFrame, cfg: CVConfig) -> pd.DataFrame:
    """Per method and biomarker: accuracy, coverage, trends and the reject flag's effect.
    (``apw_invasive`` is its own reference for SV, CO, SVR and LVET: those rows are left out.)"""
    out = []
    self_reference = (rows["method"] == "apw_invasive") & rows["parameter"].isin(INVASIVE_ONLY)
    for (method, parameter), g in rows[~self_reference].dropna(subset=["reference", "median"]).groupby(
            ["method", "parameter"], sort=False):
        error = g["median"] - g["reference"]
        inside = (g["reference"] >= g["ci90_low"]) & (g["reference"] <= g["ci90_high"])
        per_record = inside.groupby(g["record"]).mean()
        relative = cfg.exclusion_relative if parameter in INVASIVE_ONLY else cfg.exclusion_relative_vitals
        changes = record_changes(g, "median", "reference", cfg.min_gap_s)
        conc, n_changes = concordance(changes["d_estimate"], changes["d_reference"],
                                      relative * changes["reference_mean"])
        r = per_record_correlation(g, "median", "reference")
        kept = g[~g["reject"].astype(bool)]
        out.append({"method": method, "parameter": parameter, "windows": len(g),
                    "records": g["record"].nunique(), "mae": error.abs().mean(),
                    "bias": error.mean(), "cov90": inside.mean(),
                    "cov90_record_median": per_record.median(),
                    "width90_median": g["width90"].median(),
                    "concordance": conc, "changes": n_changes,
                    "record_r_median": r.median() if len(r) else np.nan, "records_r": len(r),
                    "kept_fraction": len(kept) / len(g),
                    "mae_kept": (kept["median"] - kept["reference"]).abs().mean()})
    return pd.DataFrame(out)


def rejection(rows: pd.DataFrame) -> pd.DataFrame:
    """MAE of the median over the windows kept when the widest are rejected."""
    out = []
    for (method, parameter), g in rows.dropna(subset=["reference", "median", "width90"]).groupby(
            ["method", "parameter"], sort=False):
        order = np.argsort(g["width90"].to_numpy(), kind="stable")
        error = (g["median"] - g["reference"]).abs().to_numpy()[order]
        for fraction in (0.5, 0.75, 0.9, 1.0):
            kept = error[: max(1, int(round(fraction * len(error))))]
            out.append({"method": method, "parameter": parameter, "retained_fraction": fraction,
                        "mae": kept.mean()})
    return pd.DataFrame(out)


# --- figures and text ----------------------------------------------------------------------------
def plot_metrics(table: pd.DataFrame, out: Path) -> None:
    parameters = ["hr", "map_radial", "sbp_radial", "dbp_radial", "sv", "co", "svr", "lvet"]
    labels = {"hr": "HR [bpm]", "map_radial": "MAP [mmHg]", "sbp_radial": "SBP [mmHg]",
              "dbp_radial": "DBP [mmHg]", "sv": "SV [mL]", "co": "CO [L/min]",
              "svr": "SVR [dyn·s/cm⁵]", "lvet": "LVET [ms]"}
    methods = [m for m in table["method"].unique() if m != "apw_invasive"]
    fig, axes = plt.subplots(2, 4, figsize=(16, 7))
    for ax, parameter in zip(axes.flat, parameters, strict=True):
        part = table[table["parameter"] == parameter].set_index("method").reindex(methods)
        ax.barh(methods, part["mae"], color="tab:blue")
        ax.set_title(labels[parameter] + (" vs APW posterior" if parameter in INVASIVE_ONLY
                                          else " vs ECG / line"))
        ax.set_xlabel("mean absolute error")
        for i, (mae, cov) in enumerate(zip(part["mae"], part["cov90"], strict=True)):
            if np.isfinite(cov):  # beside the bar, so short bars keep a readable label
                ax.text(mae, i, f" cov90 {cov:.2f}", va="center", fontsize=8)
        ax.set_xlim(0, 1.35 * np.nanmax(part["mae"]))
    fig.tight_layout()
    fig.savefig(out / "hybrid_cv_mae.png", dpi=110)
    plt.close(fig)


def plot_rejection(curves: pd.DataFrame, out: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, (parameter, unit) in zip(axes, (("hr", "bpm"), ("map_radial", "mmHg")), strict=True):
        for method, g in curves[curves["parameter"] == parameter].groupby("method"):
            if method in ("population", "apw_invasive"):
                continue
            ax.plot(g["retained_fraction"], g["mae"], marker="o", label=method)
        ax.set_xlabel("fraction of windows kept (narrowest 90 % intervals)")
        ax.set_ylabel(f"MAE of {parameter.split('_')[0].upper()} [{unit}]")
        ax.invert_xaxis()
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / "hybrid_cv_rejection.png", dpi=110)
    plt.close(fig)


def plot_examples(test: PairSet, hybrid_waves: np.ndarray, out: Path, fs: float) -> None:
    fig, axes = plt.subplots(3, 1, figsize=(10, 8), sharex=True)
    t = np.arange(test.apw.shape[1]) / fs
    for ax, i in zip(axes, range(len(test)), strict=False):
        for draw in hybrid_waves[:, i]:
            ax.plot(t, draw, color="tab:orange", alpha=0.4, lw=0.8)
        ax.plot(t, test.apw[i], color="black", lw=1.2, label="arterial line")
        ax.set_ylabel("pressure [mmHg]")
        ax.set_title(f"{test.table['record'].iloc[i]} at {test.table['start_s'].iloc[i]:.0f} s: "
                     "decoded from PPG (orange) vs measured (black)", fontsize=9)
    axes[-1].set_xlabel("time [s]")
    fig.tight_layout()
    fig.savefig(out / "hybrid_cv_examples.png", dpi=110)
    plt.close(fig)


def markdown(table: pd.DataFrame, waves: pd.DataFrame) -> str:
    columns = ["method", "parameter", "windows", "records", "mae", "bias", "cov90",
               "cov90_record_median", "width90_median", "concordance", "changes",
               "record_r_median", "kept_fraction", "mae_kept"]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in table[columns].itertuples(index=False):
        lines.append("| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v)
                                       for v in row) + " |")
    wave = {method: {"rmse": g["rmse_mmhg"].mean(), "map_draw_sd": g["map_draw_sd"].mean(),
                     **{f"{v}_mae": (g[f"{v}_decoded"] - g[f"{v}_measured"]).abs().mean()
                        for v in ("sbp", "dbp", "map")}}
            for method, g in waves.groupby("method")}
    lines += ["", "Decoded waveforms (mmHg; mean over the decoded draws vs the arterial line):", "",
              "| method | waveform RMSE | SBP MAE | DBP MAE | MAP MAE | SD of decoded MAP across draws |",
              "|---|---|---|---|---|---|"]
    for method, r in wave.items():
        lines.append(f"| {method} | {r['rmse']:.2f} | {r['sbp_mae']:.2f} | {r['dbp_mae']:.2f} | "
                     f"{r['map_mae']:.2f} | {r['map_draw_sd']:.2f} |")
    return "\n".join(lines) + "\n"


# --- main -------------------------------------------------------------------------------------------
def fold_rows(frame: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    """Rows of the windows ``index`` of a whole-set table, renumbered as the fold's windows."""
    part = frame[frame["window"].isin(index)].copy()
    part["window"] = part["window"].map({w: i for i, w in enumerate(index)})
    return part


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_config(argv)
    torch.set_num_threads(max(1, cfg.workers))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    apw, ppg = load_default_posterior("apw"), load_default_posterior("ppg")
    train_pairs = cut(cfg, apw, cfg.train_hop_s, "train_pairs")
    test_pairs = cut(cfg, apw, float(apw.input_spec["window_s"]), "test_pairs")
    folds = assign_folds(np.concatenate([train_pairs.records, test_pairs.records]), cfg.folds, cfg.seed)
    # invasive reference and the direct PPG model do not depend on the fold: once for all windows
    invasive = posterior_rows(apw, model_input(apw, test_pairs.apw[:, None]), "apw_invasive", cfg, 1)
    train_invasive_rows = posterior_rows(apw, model_input(apw, train_pairs.apw[:, None]),
                                         "apw_invasive", cfg, 2)
    direct = posterior_rows(ppg, torch.from_numpy(test_pairs.ppg[:, None]), "direct_ppg", cfg, 3)
    all_rows, all_waves, timings = [], [], []
    test_fold = np.array([folds[str(r)] for r in test_pairs.records])
    train_fold = np.array([folds[str(r)] for r in train_pairs.records])
    for fold in progress(range(cfg.folds), desc="folds", unit="fold"):
        test = test_pairs.subset(test_fold == fold)
        train = train_pairs.subset(train_fold != fold)
        if len(test) == 0:
            continue
        train_index, index = np.flatnonzero(train_fold != fold), np.flatnonzero(test_fold == fold)
        trained = fold_rows(train_invasive_rows, train_index)
        population = {p: train.table[REAL_REFERENCES[p]].to_numpy(float) for p in VITALS}
        population.update({p: trained.loc[trained["parameter"] == p, "median"].to_numpy(float)
                           for p in INVASIVE_ONLY})
        rows, waves, timing = run_fold(fold, train, test, apw, population, cfg)
        fold_invasive = fold_rows(invasive, index)
        rows = pd.concat([rows, fold_rows(direct, index).assign(fold=fold),
                          fold_invasive.assign(fold=fold)])
        all_rows.append(with_references(rows, test.table, fold_invasive))
        all_waves.append(waves.assign(record=test.records[waves["window"].to_numpy()]))
        timings.append(timing)
        print(json.dumps(timing))
    rows = pd.concat(all_rows, ignore_index=True)
    waves = pd.concat(all_waves, ignore_index=True)
    table = metrics(rows, cfg)
    curves = rejection(rows)
    rows.to_csv(out / "rows.csv", index=False)
    waves.to_csv(out / "waveforms.csv", index=False)
    table.to_csv(out / "metrics.csv", index=False)
    curves.to_csv(out / "rejection.csv", index=False)
    plot_metrics(table, out)
    plot_rejection(curves, out)
    text = markdown(table, waves)
    elapsed = time.perf_counter() - started
    (out / "results.md").write_text(
        f"{text}\nTimings per fold: {json.dumps(timings)}\nTotal {elapsed:.0f} s.\n")
    print(text)
    print(f"wrote {out}/rows.csv, metrics.csv, rejection.csv, waveforms.csv, figures; {elapsed:.0f} s")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
