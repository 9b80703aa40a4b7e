"""Preprocess a whole cohort: per record a windows table (+ window arrays), a cohort summary.

Output folder layout (``out``):
``records/<id>.parquet|csv`` quality/labels table per record · ``windows/<id>.npz`` accepted
model windows (``windows``, ``channels``, ``sampling_rate``, ``start_s``) · ``status/<id>.json``
written last per record (its presence marks the record done, so a rerun resumes) ·
``summary.csv`` one row per record · ``summary.json`` cohort totals and failure reasons.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from cardiosbi.errors import ConfigError
from cardiosbi.io.cohort import (
    discover_records,
    iter_results,
    load_status,
    record_id,
    write_status,
)
from cardiosbi.io.loader import load_recording
from cardiosbi.signals.windows import (
    WindowConfig,
    acceptance_rate,
    make_windows,
    resolve_window_config,
)
from cardiosbi.utils.progress import progress
from cardiosbi.utils.rundir import atomic_write_text

log = logging.getLogger(__name__)

TABLE_FORMATS = ("parquet", "csv")


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs to preprocess one record (picklable)."""

    out: str
    window: WindowConfig
    fs: float | None
    table_format: str
    save_windows: bool
    cache_dir: str


def preprocess_cohort(source: str | os.PathLike, out: str | os.PathLike,
                      window: WindowConfig | None = None, *, fs: float | None = None,
                      workers: int = 1, resume: bool = True, table_format: str = "parquet",
                      save_windows: bool = True, cache_dir: str = "data/cache/vitaldb",
                      ) -> pd.DataFrame:
    """Preprocess every record of ``source`` into ``out``; return the cohort summary table.

    With ``resume``, records an earlier run into the same ``out`` finished with the same
    settings are skipped; failed records and records made with other settings are redone.
    A record that cannot be read or processed is recorded as failed with its reason; the
    others continue.
    """
    if table_format not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {table_format!r}; valid: "
                          f"{', '.join(TABLE_FORMATS)}")
    window = resolve_window_config(window)  # fail on a bad config before touching any file
    out = Path(out)
    refs = discover_records(source, exclude=[out])
    ids = _unique_ids(refs, source)
    status_dir = out / "status"
    task = _Task(str(out), window, fs, table_format, save_windows, cache_dir)
    settings = _settings_key(task)
    done = {rid for rid, status in load_status(status_dir).items()
            if resume and status.get("ok") and status.get("settings") == settings}
    todo = [(ref, rid) for ref, rid in zip(refs, ids, strict=True) if rid not in done]
    log.info("%d records found, %d already done, %d to process", len(refs), len(refs) - len(todo),
             len(todo))
    function = functools.partial(_preprocess_record, task=task)
    results = iter_results(todo, function, workers=workers)
    for result in progress(results, total=len(todo), desc="preprocess", unit="record"):
        status = {"record": result.record_id, "source": result.ref, "ok": result.ok,
                  "error": result.error, "settings": settings, **result.payload}
        if not result.ok:
            log.warning("record %s failed: %s", result.ref, result.error)
        write_status(status_dir, result.record_id, status)
    return write_summary(out, ids)


def _settings_key(task: _Task) -> str:
    """A digest of everything that shapes a record's output (not where it is written)."""
    settings = {k: v for k, v in dataclasses.asdict(task).items() if k != "out"}
    return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]


def _unique_ids(refs: list[str], source) -> list[str]:
    root = source if Path(str(source)).exists() else None
    ids, seen = [], set()
    for ref in refs:
        rid = record_id(ref, root)
        candidate, n = rid, 2
        while candidate in seen:
            candidate, n = f"{rid}_{n}", n + 1
        seen.add(candidate)
        ids.append(candidate)
    return ids


def _preprocess_record(ref: str, rid: str, *, task: _Task) -> dict:
    """Load, window and write one record; returns its summary numbers."""
    path = _resolve_ref(ref, task.cache_dir)
    recording = load_recording(path, fs=task.fs)
    windows, quality = make_windows(recording, config=task.window)
    _write_table(quality, Path(task.out) / "records" / f"{rid}.{task.table_format}")
    if task.save_windows:
        accepted = quality.loc[quality["accepted"], "start_s"].to_numpy()
        _write_npz(Path(task.out) / "windows" / f"{rid}.npz", windows=windows,
                   channels=np.array(task.window.channels), start_s=accepted,
                   sampling_rate=np.float64(task.window.sampling_rate))
    reasons = quality.loc[~quality["accepted"], "reason"].str.split(";").explode()
    return {"duration_s": recording.duration_s, "n_windows": int(len(quality)),
            "n_accepted": int(quality["accepted"].sum()),
            "acceptance_rate": acceptance_rate(quality),
            "rejections": {k: int(v) for k, v in reasons.value_counts().items()}}


def _resolve_ref(ref: str, cache_dir: str) -> str:
    if ref.startswith("vitaldb:"):
        from cardiosbi.io.vital import fetch_vitaldb_case

        return str(fetch_vitaldb_case(int(ref.split(":", 1)[1]), cache_dir))
    return ref


def _write_table(table: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if path.suffix == ".csv":
        table.to_csv(tmp, index=False)
    else:
        table.to_parquet(tmp, index=False)
    os.replace(tmp, path)


def _write_npz(path: Path, **arrays) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(buffer.getvalue())
    os.replace(tmp, path)


def write_summary(out: Path, ids: list[str]) -> pd.DataFrame:
    """Cohort summary (``summary.csv`` per record, ``summary.json`` totals) from status files."""
    statuses = load_status(out / "status")
    rows = []
    for rid in ids:
        status = statuses.get(rid, {"record": rid, "ok": False, "error": "not processed"})
        rows.append({"record": rid, "source": status.get("source", ""),
                     "status": "ok" if status["ok"] else "failed", "reason": status["error"],
                     "duration_s": status.get("duration_s", np.nan),
                     "n_windows": status.get("n_windows", 0),
                     "n_accepted": status.get("n_accepted", 0),
                     "acceptance_rate": status.get("acceptance_rate", np.nan)})
    summary = pd.DataFrame(rows, columns=["record", "source", "status", "reason", "duration_s",
                                          "n_windows", "n_accepted", "acceptance_rate"])
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    rejections: dict[str, int] = {}
    for rid in ids:
        for reason, count in statuses.get(rid, {}).get("rejections", {}).items():
            rejections[reason] = rejections.get(reason, 0) + count
    failed = summary[summary["status"] == "failed"]
    totals = {
        "records": len(summary), "records_ok": int((summary["status"] == "ok").sum()),
        "records_failed": len(failed),
        "failures": dict(zip(failed["record"], failed["reason"], strict=True)),
        "windows": int(summary["n_windows"].sum()), "windows_accepted":
        int(summary["n_accepted"].sum()),
        "acceptance_rate": (float(summary["n_accepted"].sum() / summary["n_windows"].sum())
                            if summary["n_windows"].sum() else None),
        "rejections": dict(sorted(rejections.items(), key=lambda kv: -kv[1])),
    }
    atomic_write_text(out / "summary.json", json.dumps(totals, indent=2))
    return summary
