"""``cardiosbi infer RECORD_OR_FOLDER [posterior=default|apw|ppg|FILE] --out DIR``.

Recordings are prepared exactly like a posterior's training windows: its ``input_spec``
becomes the preprocessing config (:mod:`cardiosbi.estimate`), the cohort machinery of
``cardiosbi preprocess`` cuts and quality-checks the windows (parallel, resumable, per-record
failures isolated) into ``DIR/preprocess``, and only accepted windows reach the posterior.
Output per record: ``estimates/<id>.csv`` — one row per (window, biomarker) with the window
start, mean, median, credible-interval bounds, width and reject flag (rejected windows keep
their quality reason and no estimate) — plus ``summary.csv``: per record and biomarker, the
median of window medians and the number of windows behind it.

``posterior=default`` (the default) runs one shipped model per channel kind, each into its own
complete run folder: ``DIR/apw`` for the arterial line and ``DIR/hybrid`` for the PPG (a record
lacking the model's channel fails there, listed; a PPG-only recording is thus read by the
hybrid), and writes ``DIR/summary.csv`` with a ``model`` column. ``posterior=ppg`` runs the
direct simulation-trained PPG model, kept as a baseline.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from cardiosbi.default_models import DEFAULT_MODELS, DEFAULT_SET, default_model_path, posterior_path
from cardiosbi.errors import InputFileError
from cardiosbi.estimate import estimate_windows, record_summary, window_config
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.signals.cohort import preprocess_cohort
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.progress import progress
from cardiosbi.utils.rundir import atomic_write_text, write_run_info

log = logging.getLogger(__name__)


@dataclass
class InferConfig:
    seed: int = 0
    input: str = ""
    out: str = "runs/infer"
    posterior: str = "default"
    device: str = "auto"
    fs: float | None = None                # sampling rate for CSV/Parquet inputs
    workers: int = 1
    resume: bool = True
    n_samples: int = 1000                  # posterior draws per window
    levels: list[float] = field(default_factory=lambda: [0.5, 0.9, 0.95])
    cache_dir: str = "data/cache/vitaldb"


def infer(cfg: DictConfig) -> int:
    config = to_dataclass(cfg, InferConfig, "infer")
    models = posterior_files(config.posterior)
    out = Path(config.out)
    if len(models) == 1:
        (path,) = models.values()
        infer_run(path, out, config, cfg)
        return 0
    summaries = []
    for name, path in models.items():
        print(f"[{name}] {DEFAULT_MODELS[name]}")
        try:
            summaries.append(infer_run(path, out / name, config, cfg).assign(model=name))
        except InputFileError as exc:  # e.g. no record has this model's channel
            print(f"[{name}] skipped: {exc}")
    write_run_info(out, cfg, "infer")
    if not summaries:
        raise InputFileError(f"no record could be processed by any shipped model; see {out}/*/preprocess")
    atomic_write_text(out / "summary.csv", pd.concat(summaries, ignore_index=True).to_csv(index=False))
    print(f"per-model runs in {', '.join(str(out / m) for m in models)}; "
          f"combined summary in {out / 'summary.csv'}")
    return 0


def posterior_files(posterior: str) -> dict[str, Path]:
    """``default`` -> the shipped default set; a shipped name -> that one; else a file path."""
    if posterior == "default":
        return {name: default_model_path(name) for name in DEFAULT_SET}
    path = posterior_path(posterior)
    return {posterior if posterior in DEFAULT_MODELS else path.stem: path}


def infer_run(path: Path, out: Path, config: InferConfig, cfg: DictConfig) -> pd.DataFrame:
    """One posterior over the cohort into ``out``; returns the per-record summary."""
    posterior = load_posterior(path, device=resolve_device(config.device))
    summary = preprocess_cohort(config.input, out / "preprocess", window_config(posterior),
                                fs=config.fs, workers=config.workers, resume=config.resume,
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
        table_path = out / "estimates" / f"{rid}.csv"
        if not (config.resume and table_path.exists()):
            table = estimate_record(posterior, out / "preprocess", rid, config, generator)
            atomic_write_text(table_path, table.to_csv(index=False))
        per_record.append(record_summary(rid, pd.read_csv(table_path)))
    results = pd.concat(per_record, ignore_index=True)
    atomic_write_text(out / "summary.csv", results.to_csv(index=False))
    failed = len(summary) - len(ok)
    print(f"{len(ok)}/{len(summary)} records inferred ({failed} failed, listed in "
          f"{out / 'preprocess' / 'summary.csv'}); per-window estimates in {out / 'estimates'}, "
          f"per-record summary in {out / 'summary.csv'}")
    return results


def estimate_record(posterior: Posterior, prepared: Path, rid: str, config: InferConfig,
                    generator: torch.Generator) -> pd.DataFrame:
    """Per-window estimates of one preprocessed record, joined to its quality table."""
    quality = pd.read_csv(prepared / "records" / f"{rid}.csv")
    with np.load(prepared / "windows" / f"{rid}.npz") as arrays:
        windows = arrays["windows"]
    return estimate_windows(posterior, windows, quality, config.levels, config.n_samples, generator)
