"""``cardiosbi infer RECORD_OR_FOLDER posterior=FILE --out DIR``: biomarker posteriors per window.

Recordings are prepared exactly like the posterior's training windows: its ``input_spec``
(channels, sampling rate, window length, normalisation) becomes the preprocessing config, the
cohort machinery of ``cardiosbi preprocess`` cuts and quality-checks the windows (parallel,
resumable, per-record failures isolated) into ``DIR/preprocess``, and only accepted windows
reach the posterior. Output per record: ``estimates/<id>.csv`` — one row per (window,
biomarker) with the window start, mean, median, credible-interval bounds, width and reject flag
(rejected windows keep their quality reason and no estimate) — plus ``summary.csv``: per record
and biomarker, the median of window medians and the number of windows behind it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from cardiosbi.datasets.reader import NORMALIZATIONS, prepare_windows
from cardiosbi.errors import ConfigError, InputFileError, NotAvailableError
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.signals.cohort import preprocess_cohort
from cardiosbi.signals.windows import WindowConfig
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.progress import progress
from cardiosbi.utils.rundir import atomic_write_text, write_run_info

log = logging.getLogger(__name__)

# Simulated channel "<site>/<signal>" -> the kind of real channel that measures it.
SIGNAL_KINDS = {"P": "abp", "PPG": "ppg", "OPPG": "ppg"}


@dataclass
class InferConfig:
    seed: int = 0
    input: str = ""
    out: str = "runs/infer"
    posterior: str | None = None
    device: str = "auto"
    fs: float | None = None                # sampling rate for CSV/Parquet inputs
    workers: int = 1
    resume: bool = True
    n_samples: int = 1000                  # posterior draws per window
    levels: list[float] = field(default_factory=lambda: [0.5, 0.9, 0.95])
    cache_dir: str = "data/cache/vitaldb"


def infer(cfg: DictConfig) -> int:
    config = to_dataclass(cfg, InferConfig, "infer")
    if config.posterior is None:
        raise NotAvailableError("no default posterior ships with cardiosbi yet (issue #8); "
                                "pass posterior=FILE (from `cardiosbi train data=zarr ...`)")
    posterior = load_posterior(config.posterior, device=resolve_device(config.device))
    window = window_config(posterior)
    out = Path(config.out)
    summary = preprocess_cohort(config.input, out / "preprocess", window, fs=config.fs,
                                workers=config.workers, resume=config.resume,
                                table_format="csv", save_windows=True,
                                cache_dir=config.cache_dir)
    write_run_info(out, cfg, "infer")
    ok = summary[summary["status"] == "ok"]
    if ok.empty:
        first = summary["reason"].iloc[0] if len(summary) else "no records"
        raise InputFileError(f"no record could be processed ({first}); see "
                             f"{out / 'preprocess' / 'summary.csv'}")
    generator = torch.Generator().manual_seed(config.seed)
    per_record = []
    for rid in progress(list(ok["record"]), desc="infer", unit="record"):
        path = out / "estimates" / f"{rid}.csv"
        if not (config.resume and path.exists()):
            table = estimate_record(posterior, out / "preprocess", rid, config, generator)
            atomic_write_text(path, table.to_csv(index=False))
        per_record.append(record_summary(rid, pd.read_csv(path)))
    results = pd.concat(per_record, ignore_index=True)
    atomic_write_text(out / "summary.csv", results.to_csv(index=False))
    failed = len(summary) - len(ok)
    print(f"{len(ok)}/{len(summary)} records inferred ({failed} failed, listed in "
          f"{out / 'preprocess' / 'summary.csv'}); per-window estimates in {out / 'estimates'}, "
          f"per-record summary in {out / 'summary.csv'}")
    return 0


def window_config(posterior: Posterior) -> WindowConfig:
    """The preprocessing that reproduces the posterior's training windows on real recordings."""
    spec = posterior.input_spec
    if not spec:
        raise ConfigError("this posterior file has no input spec (it was trained on tensors, not "
                          "on a simulated store), so real windows cannot be prepared for it")
    if spec["normalize"] not in NORMALIZATIONS:
        raise ConfigError(f"this posterior's windows were normalised with {spec['normalize']!r}; "
                          f"known: {', '.join(NORMALIZATIONS)}")
    kinds = []
    for channel in spec["channels"]:
        signal = channel.rsplit("/", 1)[-1]
        if signal not in SIGNAL_KINDS:
            raise ConfigError(f"simulated channel {channel!r} has no real counterpart; "
                              f"known signals: {', '.join(SIGNAL_KINDS)}")
        kinds.append(SIGNAL_KINDS[signal])
    if len(set(kinds)) != len(kinds):
        raise ConfigError(f"channels {spec['channels']} map to the same real channel twice")
    return WindowConfig(channels=kinds, sampling_rate=float(spec["sampling_rate"]),
                        window_s=float(spec["window_s"]), hop_s=float(spec["window_s"]),
                        normalize=False)  # raw windows; model_input applies the training's normalisation


def model_input(posterior: Posterior, windows: np.ndarray) -> torch.Tensor:
    """Raw (n, C, T) windows -> the posterior's input, normalised exactly as in training."""
    spec = posterior.input_spec
    return torch.from_numpy(prepare_windows(windows.astype(np.float32), spec["normalize"],
                                            spec.get("stats", {})))


def estimate_record(posterior: Posterior, prepared: Path, rid: str, config: InferConfig,
                    generator: torch.Generator) -> pd.DataFrame:
    """Per-window estimates of one preprocessed record, joined to its quality table."""
    quality = pd.read_csv(prepared / "records" / f"{rid}.csv")
    with np.load(prepared / "windows" / f"{rid}.npz") as arrays:
        windows = model_input(posterior, arrays["windows"])
    columns = ["record", "window", "start_s", "duration_s", "accepted", "reason"]
    frame = quality[columns].copy()
    if len(windows) == 0:
        return frame.assign(parameter=np.nan)
    estimates = posterior.summarize(windows, levels=config.levels, n=config.n_samples,
                                    generator=generator)
    return frame.merge(estimates, on="window", how="left")


def record_summary(rid: str, table: pd.DataFrame) -> pd.DataFrame:
    """Per biomarker: median of the accepted, non-rejected window medians, and their count."""
    if "reject" not in table:  # no window of the record was accepted, so nothing was estimated
        return pd.DataFrame({"record": [rid], "parameter": [np.nan], "windows": [0]})
    used = table[table["accepted"] & table["parameter"].notna() & table["reject"].eq(False)]
    if used.empty:
        return pd.DataFrame({"record": [rid], "parameter": [np.nan], "windows": [0]})
    grouped = used.groupby(["parameter", "unit"], sort=False)
    result = grouped.agg(median=("median", "median"), ci90_low=("ci90_low", "median"),
                         ci90_high=("ci90_high", "median"), windows=("window", "count"))
    return result.reset_index().assign(record=rid)
