"""Classical baselines beside the shipped NPEs, in silico and on real ICU records.

In silico (exact labels): the held-out simulations of the default model (never used in
training; files in ``compare.yaml``) are split by simulation seed: ``seed % 100 < fit_percent``
fits the population constants and regressors, the rest is the test set. Per test window:

- ``npe_apw`` / ``npe_ppg``: the shipped posteriors on radial pressure / digital PPG (median,
  90 % interval; CO derived per draw);
- ``pc_<method>``: pulse-contour SV (:mod:`cardiosbi.baselines.pulse_contour`) on radial
  pressure with the population constant fitted on the fitting part (uncalibrated); CO = SV ×
  the beats' HR, and ``abp_beats`` is that HR;
- ``ppg_gbr`` / ``ppg_gbr_quantile``: gradient-boosted regressors on PPG morphology features
  (:mod:`cardiosbi.baselines.ppg_features`), point and quantile (90 % interval) variants;
- ``population``: the fitting part's mean (interval: its 5-95 % range), the floor.

The calibrated pulse-contour variants (:meth:`PulseContour.calibrate`) need a second cardiac
state of the same arterial tree; every held-out simulation is a different subject with one
window, so they are not scored here (they are checked on Windkessel beats in
tests/baselines/test_pulse_contour.py).

Real records: HR against the ECG and MAP against the arterial line (quality table) for the PPG
methods (``npe_ppg``, the feature regressors trained on all the simulations' fitting part,
``ppg_beats``: the detector's PPG beat rate) and the pressure ones (``npe_apw``, ``abp_beats``).
No record carries an SV or CO reference.

Writes ``rows.csv`` (domain × window × method × biomarker, with the reference), ``metrics.csv``,
``constants.csv`` (fitted population constants), ``baselines_mae.png`` and ``results.md``.
"""

from __future__ import annotations

import glob
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

from cardiosbi.baselines import (  # noqa: E402
    SV_METHODS,
    GBRConfig,
    PPGFeatureRegressor,
    PulseContour,
    ppg_feature_table,
)
from cardiosbi.biomarkers import DERIVED  # noqa: E402
from cardiosbi.default_models import load_default_posterior  # noqa: E402
from cardiosbi.errors import CardiosbiError, ConfigError, InputFileError  # noqa: E402
from cardiosbi.estimate import estimate_windows, model_input, window_config  # noqa: E402
from cardiosbi.io import load_recording  # noqa: E402
from cardiosbi.signals import make_windows  # noqa: E402
from cardiosbi.utils.paths import existing_path  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
FS = 125.0
TARGETS = ["hr", "sv", "co", "map_radial"]
REAL_REFERENCES = {"hr": "hr_ecg", "map_radial": "map_abp"}
LABELS = {"hr": "HR [bpm]", "sv": "SV [mL]", "co": "CO [L/min]", "map_radial": "MAP [mmHg]"}
ROW_COLUMNS = ["domain", "record", "window", "start_s", "method", "parameter", "median", "ci90_low",
               "ci90_high", "width90", "reject", "reference", "error"]


@dataclass
class CompareConfig:
    heldout_radial: str = "runs/heldout/heldout_radial.npz"
    heldout_digital: str = "runs/heldout/heldout_digital.npz"
    fit_percent: int = 50
    records: list[str] = field(default_factory=list)
    sv_methods: list[str] = field(default_factory=lambda: list(SV_METHODS))
    outflow_pressure: float = 0.0
    n_samples: int = 1000
    seed: int = 0
    gbr: GBRConfig = field(default_factory=GBRConfig)
    out: str = "runs/baselines_compare"
    tiny: bool = False


def load_config(argv: list[str]) -> CompareConfig:
    """compare.yaml < tiny.yaml (``tiny=true``) < ``key=value`` arguments, then the value checks."""
    cfg = load_study_config(CompareConfig, Path(__file__).resolve().parent / "compare.yaml", argv)
    check_config(cfg)
    return cfg


def check_config(cfg: CompareConfig) -> None:
    """Settings that cannot work end here, before any file is read."""
    if not 0 < cfg.fit_percent < 100:
        raise ConfigError(f"fit_percent={cfg.fit_percent}: must be between 1 and 99")
    if not cfg.sv_methods:
        raise ConfigError(f"sv_methods is empty; choose from {', '.join(SV_METHODS)}")


def resolve(path: str) -> Path:
    return Path(path) if Path(path).is_absolute() else REPO / path


# --- data ---------------------------------------------------------------------------------------
@dataclass
class Heldout:
    labels: pd.DataFrame      # one column per target, row = simulation
    radial: np.ndarray        # (N, T) mmHg
    digital: np.ndarray       # (N, T) volume PPG
    fit: np.ndarray           # (N,) bool: fitting part


def load_heldout(cfg: CompareConfig) -> Heldout:
    radial = np.load(existing_path(resolve(cfg.heldout_radial), "held-out radial file"))
    digital = np.load(existing_path(resolve(cfg.heldout_digital), "held-out digital file"))
    for data, key, name in ((radial, "x_radial_P", cfg.heldout_radial),
                            (digital, "x_digital_PPG", cfg.heldout_digital)):
        missing = {key, "seed", "status", *(f"label_{t}" for t in TARGETS)} - set(data.files)
        if missing:
            raise InputFileError(f"{name}: missing arrays {sorted(missing)}")
    if not np.array_equal(radial["seed"], digital["seed"]):
        raise InputFileError("the held-out radial and digital files hold different simulations")
    ok = radial["status"] == 0
    labels = pd.DataFrame({t: radial[f"label_{t}"][ok].astype(np.float64) for t in TARGETS})
    fit = (radial["seed"][ok] % 100) < cfg.fit_percent
    return Heldout(labels, radial["x_radial_P"][ok].astype(np.float64),
                   digital["x_digital_PPG"][ok].astype(np.float64), fit)


def record_paths(cfg: CompareConfig) -> list[Path]:
    paths = sorted({Path(p) for pattern in cfg.records
                    for p in glob.glob(str(resolve(pattern)))})
    if cfg.records and not paths:
        raise InputFileError(f"no recording matches records={cfg.records}")
    return paths


# --- estimates as tidy rows ---------------------------------------------------------------------
def posterior_rows(posterior, windows: np.ndarray, method: str, cfg: CompareConfig) -> pd.DataFrame:
    """Summaries of raw (N, T) windows; the windows are numbered 0..N-1."""
    generator = torch.Generator().manual_seed(cfg.seed)
    table = posterior.summarize(model_input(posterior, windows[:, None]), levels=(0.9,),
                                n=cfg.n_samples, generator=generator, derived=DERIVED)
    table = table[table["parameter"].isin(TARGETS)]
    return table.assign(method=method, error="")[["window", "parameter", "method", "median",
                                                   "ci90_low", "ci90_high", "width90", "reject",
                                                   "error"]]


def point_rows(window: np.ndarray, values: dict[str, np.ndarray], method: str,
               error: np.ndarray) -> pd.DataFrame:
    """Rows of a method without intervals."""
    return pd.concat([pd.DataFrame({"window": window, "parameter": name, "method": method,
                                    "median": value, "ci90_low": np.nan, "ci90_high": np.nan,
                                    "width90": np.nan, "reject": False, "error": error})
                      for name, value in values.items()], ignore_index=True)


def pulse_contour_rows(data: Heldout, test: np.ndarray, cfg: CompareConfig
                       ) -> tuple[pd.DataFrame, list[dict]]:
    frames, constants = [], []
    for method in cfg.sv_methods:
        estimator = PulseContour(method, FS, outflow_pressure=cfg.outflow_pressure)
        estimator = estimator.fit_population(data.radial[data.fit], data.labels["sv"][data.fit])
        table = estimator.estimate(data.radial[test])
        constants.append({"method": f"pc_{method}", "scale": estimator.scale,
                          "fit_windows": int(data.fit.sum())})
        frames.append(point_rows(test, {"sv": table["sv"], "co": table["co"]}, f"pc_{method}",
                                 table["error"].to_numpy()))
        if len(frames) == 1:  # every method reads the same beats: their rate once
            frames.append(point_rows(test, {"hr": table["hr"]}, "abp_beats",
                                     table["error"].to_numpy()))
    return pd.concat(frames, ignore_index=True), constants


def population_rows(data: Heldout, test: np.ndarray) -> pd.DataFrame:
    frames = []
    for name in TARGETS:
        values = data.labels.loc[data.fit, name].dropna().to_numpy()
        low, high = np.quantile(values, [0.05, 0.95])
        frames.append(pd.DataFrame({"window": test, "parameter": name, "method": "population",
                                    "median": values.mean(), "ci90_low": low, "ci90_high": high,
                                    "width90": high - low, "reject": False, "error": ""}))
    return pd.concat(frames, ignore_index=True)


def regressor_rows(regressor: PPGFeatureRegressor, features: pd.DataFrame) -> pd.DataFrame:
    rows = regressor.predict(features).assign(reject=False)
    return rows.merge(features[["window", "error"]], on="window")


def in_silico(cfg: CompareConfig, apw, ppg) -> tuple[pd.DataFrame, list[dict], PPGFeatureRegressor]:
    data = load_heldout(cfg)
    test = np.flatnonzero(~data.fit)
    print(f"in silico: {int(data.fit.sum())} fitting and {test.size} test simulations")
    features = ppg_feature_table(data.digital, FS)
    regressor = PPGFeatureRegressor(TARGETS, cfg.gbr).fit(features[data.fit], data.labels[data.fit])
    pulse_contour, constants = pulse_contour_rows(data, test, cfg)
    frames = [renumber(posterior_rows(apw, data.radial[test], "npe_apw", cfg), test),
              renumber(posterior_rows(ppg, data.digital[test], "npe_ppg", cfg), test),
              pulse_contour, regressor_rows(regressor, features.iloc[test]),
              population_rows(data, test)]
    rows = pd.concat(frames, ignore_index=True)
    reference = data.labels.to_numpy()[rows["window"].to_numpy(),
                                       rows["parameter"].map(TARGETS.index).to_numpy()]
    return (rows.assign(domain="in_silico", record="", start_s=np.nan, reference=reference),
            constants, regressor)


def renumber(rows: pd.DataFrame, index: np.ndarray) -> pd.DataFrame:
    """Rows of windows 0..n-1 renumbered as the simulations ``index``."""
    return rows.assign(window=index[rows["window"].to_numpy()])


def real_record(path: Path, apw, ppg, regressor: PPGFeatureRegressor,
                cfg: CompareConfig) -> pd.DataFrame:
    """Rows of one record's accepted windows: PPG methods on its PPG windows, pressure methods
    on its pressure windows (two window sets: ``start_s`` places a row in time)."""
    recording = load_recording(path)
    frames = []
    for posterior, kind in ((ppg, "ppg"), (apw, "abp")):
        try:
            frames.append(real_windows(recording, posterior, kind, regressor, cfg))
        except CardiosbiError as exc:  # e.g. no such channel: the other kind still counts
            print(f"{path.stem}: no {kind} rows ({exc})")
    frames = [f for f in frames if len(f)]
    if not frames:
        return pd.DataFrame(columns=ROW_COLUMNS)
    return pd.concat(frames, ignore_index=True).assign(domain="real", record=path.stem)


def real_windows(recording, posterior, kind: str, regressor: PPGFeatureRegressor,
                 cfg: CompareConfig) -> pd.DataFrame:
    windows, quality = make_windows(recording, config=window_config(posterior))
    accepted = quality[quality["accepted"]].reset_index(drop=True)
    if len(windows) == 0:
        return pd.DataFrame(columns=ROW_COLUMNS)
    estimates = estimate_windows(posterior, windows, quality, levels=(0.9,), n=cfg.n_samples,
                                 generator=torch.Generator().manual_seed(cfg.seed))
    estimates = estimates[estimates["parameter"].isin(REAL_REFERENCES)]
    part = [estimates.assign(method=f"npe_{'ppg' if kind == 'ppg' else 'apw'}", error="")[
                ["window", "parameter", "method", "median", "ci90_low", "ci90_high", "width90",
                 "reject", "error"]],
            point_rows(accepted["window"].to_numpy(),
                       {"hr": accepted[f"hr_{kind}"].to_numpy(float)}, f"{kind}_beats", "")]
    if kind == "ppg":
        features = ppg_feature_table(windows[:, 0], FS)
        features["window"] = accepted["window"].to_numpy()
        predicted = regressor_rows(regressor, features)
        part.append(predicted[predicted["parameter"].isin(REAL_REFERENCES)])
    return with_real_reference(pd.concat(part, ignore_index=True), accepted)


def with_real_reference(rows: pd.DataFrame, accepted: pd.DataFrame) -> pd.DataFrame:
    table = accepted.set_index("window")
    reference = [table.at[w, REAL_REFERENCES[p]] for w, p in
                 zip(rows["window"], rows["parameter"], strict=True)]
    return rows.assign(reference=np.asarray(reference, dtype=np.float64),
                       start_s=table.loc[rows["window"], "start_s"].to_numpy(float))


def real(cfg: CompareConfig, apw, ppg, regressor: PPGFeatureRegressor) -> pd.DataFrame:
    frames = []
    for path in record_paths(cfg):
        try:
            frames.append(real_record(path, apw, ppg, regressor, cfg))
        except CardiosbiError as exc:  # one unreadable record must not sink the study
            print(f"{path.stem}: skipped ({exc})")
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ROW_COLUMNS)


# --- metrics, figure, text ----------------------------------------------------------------------
def metrics(rows: pd.DataFrame) -> pd.DataFrame:
    """Per domain, method and biomarker: windows, failures, MAE, median AE, bias, Pearson r,
    90 % coverage and median width (where the method gives intervals)."""
    out = []
    for (domain, method, parameter), g in rows.groupby(["domain", "method", "parameter"],
                                                       sort=False):
        g = g[np.isfinite(g["reference"].to_numpy(float))]
        ok = g[np.isfinite(g["median"].to_numpy(float))]
        error = ok["median"] - ok["reference"]
        has_interval = np.isfinite(ok["ci90_low"].to_numpy(float)).any()
        inside = (ok["reference"] >= ok["ci90_low"]) & (ok["reference"] <= ok["ci90_high"])
        varied = len(ok) > 2 and ok["median"].std() > 0 and ok["reference"].std() > 0
        out.append({"domain": domain, "method": method, "parameter": parameter,
                    "windows": len(g), "failed": len(g) - len(ok),
                    "records": g["record"].nunique(),
                    "mae": error.abs().mean(), "median_ae": error.abs().median(),
                    "bias": error.mean(),
                    "r": np.corrcoef(ok["median"], ok["reference"])[0, 1] if varied else np.nan,
                    "cov90": inside.mean() if has_interval else np.nan,
                    "width90_median": ok["width90"].median() if has_interval else np.nan})
    return pd.DataFrame(out)


def plot_mae(table: pd.DataFrame, out: Path) -> None:
    """MAE per method (bars, cov90 beside them where there is an interval); rows: simulations
    and ICU records; columns: biomarkers. Methods keep one order in every panel."""
    domains = [("in_silico", "simulations"), ("real", "ICU records")]
    order = list(dict.fromkeys(table["method"]))
    fig, axes = plt.subplots(2, len(TARGETS), figsize=(4.4 * len(TARGETS), 8))
    for row, (domain, title) in zip(axes, domains, strict=True):
        for ax, parameter in zip(row, TARGETS, strict=True):
            part = table[(table["domain"] == domain) & (table["parameter"] == parameter)]
            part = part.dropna(subset=["mae"]).set_index("method")
            part = part.reindex([m for m in order if m in part.index])
            ax.set_title(f"{LABELS[parameter]}, {title}", fontsize=10)
            if part.empty:
                ax.text(0.5, 0.5, "no reference", ha="center", va="center", transform=ax.transAxes)
                ax.set_axis_off()
                continue
            ax.barh(part.index, part["mae"], color="tab:blue")
            for i, (mae, cov) in enumerate(zip(part["mae"], part["cov90"], strict=True)):
                if np.isfinite(cov):  # beside the bar, so short bars keep a readable label
                    ax.text(mae, i, f" cov90 {cov:.2f}", va="center", fontsize=8)
            ax.set_xlim(0, 1.45 * part["mae"].max())
            ax.set_xlabel(f"mean absolute error [{LABELS[parameter].split('[')[1]}")
            ax.invert_yaxis()
    fig.tight_layout()
    fig.savefig(out / "baselines_mae.png", dpi=110)
    plt.close(fig)


def markdown(table: pd.DataFrame, constants: pd.DataFrame) -> str:
    columns = ["domain", "parameter", "method", "windows", "failed", "records", "mae",
               "median_ae", "bias", "r", "cov90", "width90_median"]
    ordered = table.sort_values(["domain", "parameter", "mae"])[columns]
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row)
              + " |" for row in ordered.itertuples(index=False)]
    lines += ["", "Population constants of the pulse-contour methods (fitting part):", ""]
    lines += [f"- {r.method}: scale {r.scale:.4g} from {r.fit_windows} windows"
              for r in constants.itertuples()]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_config(argv)
    out = resolve(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    apw, ppg = load_default_posterior("apw"), load_default_posterior("ppg")
    simulated, constants, regressor = in_silico(cfg, apw, ppg)
    rows = pd.concat([simulated, real(cfg, apw, ppg, regressor)], ignore_index=True)[ROW_COLUMNS]
    table = metrics(rows)
    constants = pd.DataFrame(constants)
    rows.to_csv(out / "rows.csv", index=False)
    table.to_csv(out / "metrics.csv", index=False)
    constants.to_csv(out / "constants.csv", index=False)
    plot_mae(table, out)
    text = markdown(table, constants)
    elapsed = time.perf_counter() - started
    (out / "results.md").write_text(f"{text}\nTotal {elapsed:.0f} s.\n")
    print(text)
    print(f"wrote {out}/rows.csv, metrics.csv, constants.csv, baselines_mae.png, results.md; "
          f"{elapsed:.0f} s")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
