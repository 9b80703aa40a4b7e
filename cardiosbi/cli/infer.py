"""``cardiosbi infer RECORD_OR_FOLDER [posterior=default|apw|ppg|FILE] --out DIR``.

Recordings are prepared exactly like a posterior's training windows: its ``input_spec``
becomes the preprocessing config (:mod:`cardiosbi.estimate`), the cohort machinery of
``cardiosbi preprocess`` cuts and quality-checks the windows (parallel, resumable, per-record
failures isolated) into ``DIR/preprocess``, and only accepted windows reach the posterior.
Output per record: ``estimates/<id>.csv`` — one row per (window, biomarker) with the window
start, mean, median, credible-interval bounds, width, the reject flag with its reason, the
OOD score, the biomarker's validation status and the row's ``status`` (rejected windows keep
their quality reason and no estimate) — plus ``summary.csv``: per record and biomarker, the
median of window medians, the number of windows behind it, the validity and a ``flag`` saying
why a value is not sound (see :func:`cardiosbi.estimate.record_summary`).

``posterior=default`` (the default) runs one shipped model per channel kind, each into its own
complete run folder: ``DIR/apw`` for the arterial line and ``DIR/hybrid`` for the PPG (a record
lacking the model's channel fails there, listed; a PPG-only recording is thus read by the
hybrid), and writes ``DIR/summary.csv`` with a ``model`` column. ``posterior=ppg`` runs the
direct simulation-trained PPG model, kept as a baseline.

Resume (``resume=true``, the default): a record's estimates are reused only when its source
file content (as preprocessed), the posterior file (sha256) and the settings that shape them
(``levels``, ``n_samples``, ``seed``, device type) are those recorded in ``status/<id>.json``
beside them; otherwise they are redone. ``resume=keep`` refuses instead, before any work, with
one line naming the record and what changed; ``resume=false`` redoes everything. Each record
draws from its own generator, seeded from ``seed`` and the record id, so an interrupted and
resumed run writes the same files as an uninterrupted one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from omegaconf import DictConfig

from cardiosbi.cli.preprocess import cohort_config
from cardiosbi.default_models import DEFAULT_MODELS, DEFAULT_SET, default_model_path, posterior_path
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.estimate import estimate_windows, record_summary, window_config
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.io.cohort import load_status, write_status
from cardiosbi.signals.cohort import CohortPlan, changed_keys, plan_cohort, resume_mode, run_cohort
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.progress import progress
from cardiosbi.utils.rundir import atomic_write_text, file_sha256, write_run_info
from cardiosbi.utils.seeding import record_seed, torch_generator

log = logging.getLogger(__name__)

# How a changed estimate setting is named in a resume=keep refusal.
SETTING_NAMES = {"posterior_sha256": "posterior file"}


@dataclass
class InferConfig:
    seed: int = 0
    input: str = ""
    out: str = "runs/infer"
    posterior: str = "default"
    device: str = "auto"
    sampling_rate: float | None = None     # sampling rate for CSV/Parquet inputs
    fs: float | None = None                # deprecated name of sampling_rate
    workers: int = 1
    resume: str = "true"
    n_samples: int = 1000                  # posterior draws per window
    levels: list[float] = field(default_factory=lambda: [0.5, 0.9, 0.95])
    cache_dir: str = "data/cache/vitaldb"
    allow_outside_paths: bool = False      # list files may name records outside their folder


@dataclass
class InferRun:
    """One posterior over the cohort, planned: what is reused and what is (re)done."""

    out: Path
    posterior: Posterior
    plan: CohortPlan
    settings: dict


def infer(cfg: DictConfig) -> int:
    config = infer_config(cfg)
    models = posterior_files(config.posterior)
    out = Path(config.out)
    # every model is planned first, so a resume=keep refusal comes before any work
    runs = {name: plan_run(path, out if len(models) == 1 else out / name, config)
            for name, path in models.items()}
    if len(runs) == 1:
        (run,) = runs.values()
        infer_run(run, config, cfg)
        return 0
    summaries = []
    for name, run in runs.items():
        print(f"[{name}] {DEFAULT_MODELS[name]}")
        try:
            summaries.append(infer_run(run, config, cfg).assign(model=name))
        except InputFileError as exc:  # e.g. no record has this model's channel
            print(f"[{name}] skipped: {exc}")
    write_run_info(out, cfg, "infer")
    if not summaries:
        raise InputFileError(f"no record could be processed by any shipped model; see {out}/*/preprocess")
    atomic_write_text(out / "summary.csv", pd.concat(summaries, ignore_index=True).to_csv(index=False))
    print(f"per-model runs in {', '.join(str(out / m) for m in models)}; "
          f"combined summary in {out / 'summary.csv'}")
    return 0


def infer_config(cfg: DictConfig) -> InferConfig:
    """The typed infer config; settings that cannot work fail here, before any work."""
    config = cohort_config(cfg, InferConfig, "infer")
    if config.n_samples < 1:
        raise ConfigError(f"n_samples={config.n_samples}: must be a positive number of "
                          "posterior draws per window")
    if not all(0 < level < 1 for level in config.levels):
        raise ConfigError(f"levels={config.levels}: each credible level must lie strictly "
                          "between 0 and 1 (e.g. 0.9 for a 90% interval)")
    return config


def posterior_files(posterior: str) -> dict[str, Path]:
    """``default`` -> the shipped default set; a shipped name -> that one; else a file path."""
    if posterior == "default":
        return {name: default_model_path(name) for name in DEFAULT_SET}
    path = posterior_path(posterior)
    return {posterior if posterior in DEFAULT_MODELS else path.stem: path}


def plan_run(path: Path, out: Path, config: InferConfig) -> InferRun:
    """Load the posterior and decide what to redo; under ``resume=keep`` refuse any change."""
    device = resolve_device(config.device)
    posterior = load_posterior(path, device=device)
    plan = plan_cohort(config.input, out / "preprocess", window_config(posterior),
                       sampling_rate=config.sampling_rate, resume=config.resume,
                       table_format="csv", save_windows=True, cache_dir=config.cache_dir,
                       allow_outside_paths=config.allow_outside_paths)
    settings = json.loads(json.dumps({
        "posterior_sha256": file_sha256(path), "levels": list(config.levels),
        "n_samples": config.n_samples, "seed": config.seed,
        "device": torch.device(device).type}))
    run = InferRun(out, posterior, plan, settings)
    if resume_mode(config.resume) == "keep":
        _refuse_changed_estimates(run)
    return run


def _refuse_changed_estimates(run: InferRun) -> None:
    statuses = load_status(run.out / "status")
    for rid in run.plan.ids:
        stored = statuses.get(rid, {}).get("settings")
        if stored is None:
            continue  # never estimated (or interrupted before its status): nothing to keep
        keys = changed_keys(stored, run.settings)
        if keys:
            names = ", ".join(SETTING_NAMES.get(k, k) for k in keys)
            raise ConfigError(f"resume=keep: the estimates of record {rid} in {run.out} were made "
                              f"with another {names}; use resume=true to redo them, or another "
                              "--out")


def infer_run(run: InferRun, config: InferConfig, cfg: DictConfig) -> pd.DataFrame:
    """Preprocess and estimate the planned records into ``run.out``; returns the summary."""
    out, prepared = run.out, run.out / "preprocess"
    summary = run_cohort(run.plan, workers=config.workers)
    write_run_info(out, cfg, "infer")
    ok = summary[summary["status"] == "ok"]
    for rid in summary.loc[summary["status"] != "ok", "record"]:
        _forget(out, rid)  # a record that fails now must not show estimates of an earlier run
    if ok.empty:
        first = summary["reason"].iloc[0] if len(summary) else "no records"
        raise InputFileError(f"no record could be processed ({first}); see "
                             f"{prepared / 'summary.csv'}")
    prepared_status = load_status(prepared / "status")
    done = load_status(out / "status")
    redone = {rid for _, rid in run.plan.todo}
    per_record = []
    for rid in progress(list(ok["record"]), desc="infer", unit="record"):
        table_path = out / "estimates" / f"{rid}.csv"
        status = {"record": rid, "source_sha256": prepared_status[rid].get("source_sha256"),
                  "settings": run.settings}
        if rid in redone or done.get(rid) != status or not table_path.exists():
            generator = torch_generator(record_seed(config.seed, rid))
            table = estimate_record(run.posterior, prepared, rid, config, generator)
            atomic_write_text(table_path, table.to_csv(index=False))
            write_status(out / "status", rid, status)  # last: marks the estimates current
        per_record.append(record_summary(rid, pd.read_csv(table_path)))
    results = pd.concat(per_record, ignore_index=True)
    atomic_write_text(out / "summary.csv", results.to_csv(index=False))
    failed = len(summary) - len(ok)
    print(f"{len(ok)}/{len(summary)} records inferred ({failed} failed, listed in "
          f"{prepared / 'summary.csv'}); per-window estimates in {out / 'estimates'}, "
          f"per-record summary in {out / 'summary.csv'}")
    return results


def _forget(out: Path, rid: str) -> None:
    (out / "status" / f"{rid}.json").unlink(missing_ok=True)
    (out / "estimates" / f"{rid}.csv").unlink(missing_ok=True)


def estimate_record(posterior: Posterior, prepared: Path, rid: str, config: InferConfig,
                    generator: torch.Generator) -> pd.DataFrame:
    """Per-window estimates of one preprocessed record, joined to its quality table."""
    quality = pd.read_csv(prepared / "records" / f"{rid}.csv")
    with np.load(prepared / "windows" / f"{rid}.npz") as arrays:
        windows = arrays["windows"]
    return estimate_windows(posterior, windows, quality, config.levels, config.n_samples, generator)
