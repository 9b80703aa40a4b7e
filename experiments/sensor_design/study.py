"""Wearable-sensor design study (issue #18): identifiability of HR, LVET, SV, SpO2, melanin,
dermal blood fraction and perfusion per design, skin tone, perfusion and noise level.

Per optical geometry (distance, reflectance or transmission) the same subjects are simulated
once at every wavelength any design there needs (prior ``wearable``, Windkessel drive, the
package's layered-skin optics); each design records its windows through the photodetector
(shot noise + a front-end noise floor drawn log-uniformly for training), one NPE per design
learns the posterior, and held-out subjects per Fitzpatrick group x perfusion level are
recorded at each test noise floor. Outputs in ``out``:

- ``rows/<design>.csv.gz``: one row per test window x quantity (truth, median, SD, 90 %
  interval, strata, pulse SNR per wavelength); written atomically per design, so a killed run
  resumes at the next design;
- ``identifiability.csv``: the tidy table per design x skin tone x perfusion x noise floor x quantity;
- ``spo2_vs_ratio_of_ratios.csv``: SpO2 RMSE of the NPE beside the classical red/infrared
  ratio-of-ratios curve fitted on the same design's training windows;
- ``identifiability_<perfusion>.png`` heat maps, ``pulse_snr.png``, ``summary.md`` (one page);
- ``from_rows=true`` redraws tables, figures and summary from the rows without simulating.

Run: ``python experiments/sensor_design/study.py [key=value ...]`` (``tiny=true`` for the tests).
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from cardiosbi.datasets.prior import Prior, prior_group  # noqa: E402
from cardiosbi.errors import ConfigError, InputFileError  # noqa: E402
from cardiosbi.sensor_design import (  # noqa: E402
    SensorDesign,
    Thresholds,
    TrainSettings,
    WindowSettings,
    classical_spo2,
    design_summary,
    design_windows,
    designs_from_mapping,
    fit_ratio_curve,
    identifiability_table,
    plot_identifiability,
    plot_pulse_snr,
    posterior_rows,
    prior_widths,
    simulate_subjects,
    spo2_comparison,
    stratified_subjects,
    train_design,
)
from cardiosbi.utils.config import to_dataclass  # noqa: E402
from cardiosbi.utils.rundir import atomic_write_text  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

HERE = Path(__file__).resolve().parent
SEED_STRIDE = 1_000_000  # subjects of different study seeds never share a prior seed


@dataclass
class StudyConfig:
    prior: str = "wearable"
    designs: dict[str, dict] = field(default_factory=dict)
    perfusion: dict[str, list[float]] = field(default_factory=dict)
    summary_perfusion: str = "normal"
    train_noise_floor: list[float] = field(default_factory=lambda: [1e-7, 1e-3])
    test_noise_floors: list[float] = field(default_factory=lambda: [1e-6, 1e-5, 1e-4])
    n_train: int = 8000
    n_per_cell: int = 100
    n_draws: int = 200
    windows: dict = field(default_factory=dict)
    train: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)
    seed: int = 0
    threads: int = 1
    out: str = "runs/sensor_design"
    from_rows: bool = False
    tiny: bool = False


@dataclass
class Study:
    """The checked settings, typed."""

    cfg: StudyConfig
    designs: list[SensorDesign]
    windows: WindowSettings
    train: TrainSettings
    thresholds: Thresholds
    out: Path


def load_study(argv: list[str]) -> Study:
    cfg = load_study_config(StudyConfig, HERE / "study.yaml", argv, replace=["designs", "perfusion"])
    study = Study(cfg, designs_from_mapping(cfg.designs),
                  to_dataclass(cfg.windows, WindowSettings, "windows"),
                  to_dataclass(cfg.train, TrainSettings, "train"),
                  to_dataclass(cfg.thresholds, Thresholds, "thresholds"), Path(cfg.out))
    check(study)
    return study


def check(study: Study) -> None:
    """Settings that cannot work end here, before anything is simulated."""
    cfg = study.cfg
    low, high = cfg.train_noise_floor
    if not 0 < low < high:
        raise ConfigError("train_noise_floor must be [low, high] with 0 < low < high")
    if not cfg.test_noise_floors or min(cfg.test_noise_floors) <= 0:
        raise ConfigError("test_noise_floors must be positive")
    if not cfg.perfusion or cfg.summary_perfusion not in cfg.perfusion:
        raise ConfigError(f"summary_perfusion={cfg.summary_perfusion!r} must be one of perfusion's "
                          f"levels {list(cfg.perfusion)}")
    if any(not 0 < lo < hi for lo, hi in cfg.perfusion.values()):
        raise ConfigError("each perfusion level is [low, high] with 0 < low < high")
    if cfg.n_train < 100 or cfg.n_per_cell < 10 or cfg.n_draws < 20:
        raise ConfigError("need n_train >= 100, n_per_cell >= 10 and n_draws >= 20 (a 90 % interval)")
    if len({d.name for d in study.designs}) != len(study.designs):
        raise ConfigError("design names must be unique")


# --- simulation and fits ------------------------------------------------------------------------
def run_designs(study: Study, prior: Prior) -> None:
    """Every design not yet in ``out/rows``: simulate its geometry's subjects, train, evaluate."""
    cfg, rows_dir = study.cfg, study.out / "rows"
    rows_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(cfg.seed)
    low, high = np.log(cfg.train_noise_floor)
    train_floor = np.exp(rng.uniform(low, high, size=cfg.n_train))  # shared by every design
    first = cfg.seed * SEED_STRIDE
    for optics in dict.fromkeys(d.optics for d in study.designs):
        todo = [d for d in study.designs if d.optics == optics and not _rows_file(rows_dir, d).is_file()]
        if not todo:
            continue
        wavelengths = sorted({w for d in todo for w in d.wavelengths_nm})
        train = simulate_subjects(prior, np.arange(first, first + cfg.n_train), optics, wavelengths,
                                  study.windows, desc=f"train {optics[0]} {optics[1]:g} mm")
        _save_widths(study.out, train.theta[train.ok])
        test = stratified_subjects(prior, optics, wavelengths, study.windows, cfg.n_per_cell,
                                   cfg.perfusion, first + cfg.n_train)
        for design in todo:
            _run_design(study, prior, design, train, test, train_floor)


def _run_design(study: Study, prior: Prior, design: SensorDesign, train, test, train_floor) -> None:
    cfg = study.cfg
    started = time.perf_counter()
    windows = design_windows(train, design, train_floor, study.windows, seed=cfg.seed)
    posterior = train_design(windows, prior, study.train, seed=cfg.seed)
    curve = fit_ratio_curve(windows)
    frames = []
    for k, floor in enumerate(cfg.test_noise_floors):
        recorded = design_windows(test, design, np.full(len(test.ok), floor), study.windows,
                                  seed=cfg.seed + 1 + k)
        rows = posterior_rows(posterior, recorded, cfg.n_draws, seed=cfg.seed + k)
        rows["classical"] = np.where(rows["target"] == "spo2", classical_spo2(rows, design, curve), np.nan)
        frames.append(rows)
    rows = pd.concat(frames, ignore_index=True).assign(seconds=time.perf_counter() - started)
    path = _rows_file(study.out / "rows", design)
    partial = path.with_suffix(".partial")
    rows.to_csv(partial, index=False, compression="gzip")
    partial.replace(path)
    print(f"{design.name}: {len(rows)} rows, {rows['seconds'].iloc[0]:.0f} s, "
          f"{int((~windows.ok).sum())} failed training subjects", flush=True)


def _rows_file(rows_dir: Path, design: SensorDesign) -> Path:
    return rows_dir / f"{design.name}.csv.gz"


def _save_widths(out: Path, theta: np.ndarray) -> None:
    atomic_write_text(out / "prior_widths.json", json.dumps(prior_widths(theta), indent=1))


# --- tables, figures, summary -------------------------------------------------------------------
def collect(study: Study) -> dict[str, pd.DataFrame]:
    """Rows of every configured design -> the identifiability table, figures and summary."""
    missing = [d.name for d in study.designs if not _rows_file(study.out / "rows", d).is_file()]
    widths_file = study.out / "prior_widths.json"
    if missing or not widths_file.is_file():
        raise InputFileError(f"{study.out}: no rows for design(s) {missing} or no prior_widths.json; "
                             "run without from_rows=true first")
    rows = pd.concat([pd.read_csv(_rows_file(study.out / "rows", d)) for d in study.designs],
                     ignore_index=True)
    table = identifiability_table(rows, json.loads(widths_file.read_text()), study.thresholds)
    table.to_csv(study.out / "identifiability.csv", index=False)
    for level in study.cfg.perfusion:
        plot_identifiability(table, level, study.thresholds, study.out / f"identifiability_{level}.png")
    per_window = rows.drop_duplicates(["design", "noise_floor", "window"])
    floors = sorted(study.cfg.test_noise_floors)
    plot_pulse_snr(per_window, floors[len(floors) // 2], study.out / "pulse_snr.png")
    spo2 = spo2_comparison(rows)
    spo2.to_csv(study.out / "spo2_vs_ratio_of_ratios.csv", index=False)
    summary = design_summary(table, study.designs, study.thresholds, study.cfg.summary_perfusion, spo2)
    atomic_write_text(study.out / "summary.md", summary)
    return {"rows": rows, "table": table, "spo2": spo2}


def main(argv: list[str]) -> dict[str, pd.DataFrame]:
    study = load_study(argv)
    torch.set_num_threads(study.cfg.threads)
    started = time.perf_counter()
    if not study.cfg.from_rows:
        run_designs(study, prior_group(study.cfg.prior))
    results = collect(study)
    print(f"sensor_design: {len(study.designs)} designs in {time.perf_counter() - started:.0f} s; "
          f"summary: {study.out / 'summary.md'}")
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
