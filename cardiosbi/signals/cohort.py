"""Preprocess a whole cohort: per record a windows table (+ window arrays), a cohort summary.

Output folder layout (``out``):
``records/<id>.parquet|csv`` quality/labels table per record · ``windows/<id>.npz`` accepted
model windows (``windows``, ``channels``, ``sampling_rate``, ``start_s``) · ``status/<id>.json``
written last per record (its presence marks the record done, so a rerun resumes) ·
``summary.csv`` one row per record · ``summary.json`` cohort totals and failure reasons.

Resume: a finished record is reused only when the sha256 of its source file(s) and every
setting that shapes its output equal what its status file recorded; otherwise it is redone
(``resume=true``), or the run refuses before any work (``resume=keep``). A record keeps its id
in a folder for as long as its source file exists, and a new source never takes an id that
belongs to another source, so same-named files of other folders or formats get ids of their own.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import json
import logging
import os
import warnings
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
from cardiosbi.io.loader import RECORD_SUFFIXES, load_recording
from cardiosbi.signals.windows import (
    WindowConfig,
    acceptance_rate,
    make_windows,
    resolve_window_config,
)
from cardiosbi.utils.progress import progress
from cardiosbi.utils.rundir import atomic_write_text, files_sha256

log = logging.getLogger(__name__)

TABLE_FORMATS = ("parquet", "csv")
RESUME_MODES = {"true": "true", "yes": "true", "on": "true", "1": "true",
                "false": "false", "no": "false", "off": "false", "0": "false", "keep": "keep"}
_REMOTE = ("vitaldb:", "physionet:")


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs to preprocess one record (picklable)."""

    out: str
    window: WindowConfig
    sampling_rate: float | None
    table_format: str
    save_windows: bool
    cache_dir: str


@dataclass
class CohortPlan:
    """What a cohort run will do: every record's id, and those that must be (re)processed."""

    out: Path
    task: _Task
    settings: dict
    ids: list[str]
    todo: list[tuple[str, str]]  # (reference, id) of the records to process
    moved: dict[str, dict] = dataclasses.field(default_factory=dict)  # id -> status, new place


def resume_mode(value: bool | str) -> str:
    """``true`` | ``false`` | ``keep`` from a config value (YAML booleans included)."""
    mode = RESUME_MODES.get(str(value).strip().lower())
    if mode is None:
        raise ConfigError(f"resume={value!r}: use true (redo records whose source or settings "
                          "changed), false (redo every record) or keep (refuse when a finished "
                          "record no longer matches)")
    return mode


def preprocess_cohort(source: str | os.PathLike, out: str | os.PathLike,
                      window: WindowConfig | None = None, *, sampling_rate: float | None = None,
                      workers: int = 1, resume: bool | str = True, table_format: str = "parquet",
                      save_windows: bool = True, cache_dir: str = "data/cache/vitaldb",
                      allow_outside_paths: bool = False, fs: float | None = None) -> pd.DataFrame:
    """Preprocess every record of ``source`` into ``out``; return the cohort summary table.

    ``sampling_rate`` [Hz] is that of CSV/Parquet inputs (``fs`` is its deprecated name).
    ``resume`` (see the module docstring): ``True``/``"true"``, ``False``/``"false"`` or
    ``"keep"``. A record that cannot be read or processed is recorded as failed with its
    reason; the others continue. ``allow_outside_paths``: list files (RECORDS, .txt) may name
    records outside their own folder (see :func:`~cardiosbi.io.cohort.discover_records`).
    """
    if fs is not None:
        warnings.warn("preprocess_cohort(fs=...) is deprecated; use sampling_rate=",
                      DeprecationWarning, stacklevel=2)
        sampling_rate = fs if sampling_rate is None else sampling_rate
    plan = plan_cohort(source, out, window, sampling_rate=sampling_rate, resume=resume,
                       table_format=table_format, save_windows=save_windows, cache_dir=cache_dir,
                       allow_outside_paths=allow_outside_paths)
    return run_cohort(plan, workers=workers)


def plan_cohort(source: str | os.PathLike, out: str | os.PathLike,
                window: WindowConfig | None = None, *, sampling_rate: float | None = None,
                resume: bool | str = True, table_format: str = "parquet",
                save_windows: bool = True, cache_dir: str = "data/cache/vitaldb",
                allow_outside_paths: bool = False) -> CohortPlan:
    """Find the records, give them ids and decide which to (re)process; writes nothing (so a
    caller can still refuse before any work).

    Raises :class:`ConfigError` under ``resume="keep"`` when a finished record no longer
    matches its source file or the settings.
    """
    if table_format not in TABLE_FORMATS:
        raise ConfigError(f"unknown table format {table_format!r}; valid: "
                          f"{', '.join(TABLE_FORMATS)}")
    mode = resume_mode(resume)
    window = resolve_window_config(window)  # fail on a bad config before touching any file
    out = Path(out)
    refs = discover_records(source, exclude=[out], allow_outside_paths=allow_outside_paths)
    statuses = load_status(out / "status")
    ids = assign_ids(refs, source, statuses)
    task = _Task(str(out), window, sampling_rate, table_format, save_windows, cache_dir)
    settings = _settings(task)
    todo, moved = [], {}
    for ref, rid in zip(refs, ids, strict=True):
        status = statuses.get(rid, {})
        if mode == "false" or not status.get("ok"):
            todo.append((ref, rid))
            continue
        changes = _changes(status, ref, settings)
        if changes and mode == "keep":
            raise ConfigError(f"resume=keep: record {rid} in {out} no longer matches: {changes}; "
                              "use resume=true to redo it, or another --out")
        if changes:
            log.info("record %s is redone: %s", rid, changes)
            todo.append((ref, rid))
        elif status.get("source") != ref:  # same content, moved: keep the path findable
            moved[rid] = {**status, "source": ref, "source_path": _source_key(ref)}
    return CohortPlan(out, task, settings, ids, todo, moved)


def run_cohort(plan: CohortPlan, workers: int = 1) -> pd.DataFrame:
    """Process the plan's records (failures isolated), then write the cohort summary."""
    log.info("%d records found, %d already done, %d to process", len(plan.ids),
             len(plan.ids) - len(plan.todo), len(plan.todo))
    for rid, status in plan.moved.items():
        write_status(plan.out / "status", rid, status)
    function = functools.partial(_preprocess_record, task=plan.task)
    results = iter_results(plan.todo, function, workers=workers)
    for result in progress(results, total=len(plan.todo), desc="preprocess", unit="record"):
        status = {"record": result.record_id, "source": result.ref,
                  "source_path": _source_key(result.ref), "ok": result.ok,
                  "error": result.error, "settings": plan.settings, **result.payload}
        if not result.ok:
            log.warning("record %s failed: %s", result.ref, result.error)
        write_status(plan.out / "status", result.record_id, status)
    return write_summary(plan.out, plan.ids)


def _settings(task: _Task) -> dict:
    """Everything that shapes a record's output, as JSON values: not where it is written, nor
    the download cache (a VitalDB case is the same published data wherever it is cached)."""
    settings = {k: v for k, v in dataclasses.asdict(task).items() if k not in ("out", "cache_dir")}
    return json.loads(json.dumps(settings, sort_keys=True))


def _changes(status: dict, ref: str, settings: dict) -> str:
    """What differs between a finished record's status and this run ("" when nothing)."""
    stored = status.get("settings")
    if not isinstance(stored, dict):
        return "it was made by an older cardiosbi that did not record its settings"
    keys = changed_keys(stored, settings)
    if keys:
        return f"settings {', '.join(keys)} changed"
    try:
        digest = source_sha256(ref)
    except OSError as exc:  # unreadable now: redone, so the record fails with its reason
        return f"its source file {ref} cannot be read ({exc.strerror or exc})"
    return "" if status.get("source_sha256") == digest else f"the content of {ref} changed"


def changed_keys(old: dict, new: dict, prefix: str = "") -> list[str]:
    """Dotted names of the (nested) keys whose values differ between two settings dicts."""
    keys = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key), new.get(key)
        if isinstance(a, dict) and isinstance(b, dict):
            keys += changed_keys(a, b, f"{prefix}{key}.")
        elif a != b:
            keys.append(f"{prefix}{key}")
    return keys


def _source_key(ref: str) -> str:
    """Where a record comes from, independent of the working folder."""
    return ref if ref.startswith(_REMOTE) else str(Path(ref).resolve())


def assign_ids(refs: list[str], source, statuses: dict[str, dict]) -> list[str]:
    """One id per record, unique in the run and stable in the output folder.

    A record keeps the id an earlier run into the same folder gave it. A new record gets its
    name (relative to the source folder), or, when that id belongs to another record whose
    file still exists, the name with its file type, then with a digest of its path.
    """
    root = source if Path(str(source)).exists() else None
    owners = {rid: status.get("source_path") or _source_key(str(status.get("source", "")))
              for rid, status in statuses.items()}
    previous = {key: rid for rid, key in owners.items()}
    ids: list[str] = []
    taken: set[str] = set()
    for ref in refs:
        key = _source_key(ref)
        rid = previous.get(key)
        if rid is None or rid in taken:
            rid = next(c for c in _id_candidates(ref, root, key)
                       if c not in taken and _free(owners.get(c), key))
        taken.add(rid)
        ids.append(rid)
    return ids


def _id_candidates(ref: str, root, key: str):
    base = record_id(ref, root)
    yield base
    suffix = Path(ref).suffix.lstrip(".").lower()
    if suffix and not ref.startswith(_REMOTE):
        yield f"{base}_{suffix}"
    yield f"{base}_{hashlib.sha256(key.encode()).hexdigest()[:8]}"
    for n in range(2, 1_000_000):  # practically unreachable: a digest collision
        yield f"{base}_{n}"


def _free(owner: str | None, key: str) -> bool:
    """An id is free for ``key`` unless another record that still exists owns it."""
    return owner is None or owner == key or (not owner.startswith(_REMOTE)
                                             and not Path(owner).exists())


def source_sha256(ref: str) -> str:
    """Content digest of a record's source file(s); a remote record's reference stands for its
    content (VitalDB cases and PhysioNet records are published, immutable data)."""
    if ref.startswith(_REMOTE):
        return ref
    if getattr(ref, "refused_reason", None):  # a list entry discovery refused: never read
        return ""
    return files_sha256(record_files(Path(ref)))


def record_files(path: Path) -> list[Path]:
    """The files a recording is read from: a WFDB header with its signal files, segments and
    numerics record, or the file itself. Names pointing outside the header's folder, and
    files that do not exist, are left out (the loader reports those)."""
    if path.suffix.lower() != ".hea" and path.suffix.lower() in RECORD_SUFFIXES:
        return [path] if path.is_file() else []
    header = path if path.suffix.lower() == ".hea" else path.with_suffix(".hea")
    files: list[Path] = []
    _wfdb_files(header, files, depth=0)
    numerics = header.with_name(header.stem + "n.hea")
    if numerics.is_file():
        _wfdb_files(numerics, files, depth=0)
    return files


def _wfdb_files(header: Path, files: list[Path], depth: int) -> None:
    if not header.is_file() or header in files or depth > 2:
        return
    files.append(header)
    lines = [ln.split() for ln in header.read_text(errors="replace").splitlines()
             if ln.strip() and not ln.lstrip().startswith("#")]
    if not lines:
        return
    multi = "/" in lines[0][0]
    for fields in lines[1:]:
        name = fields[0]
        if name in ("~", ".", "..") or Path(name).name != name or "\\" in name:
            continue
        target = header.with_name(name + ".hea" if multi else name)
        if multi:
            _wfdb_files(target, files, depth + 1)
        elif target.is_file() and target not in files:
            files.append(target)


def _preprocess_record(ref: str, rid: str, *, task: _Task) -> dict:
    """Load, window and write one record; returns its summary numbers and source digest."""
    digest = source_sha256(ref)  # before reading: a file changed meanwhile is redone next run
    path = _resolve_ref(ref, task.cache_dir)
    recording = load_recording(path, sampling_rate=task.sampling_rate)
    windows, quality = make_windows(recording, config=task.window)
    _write_table(quality, Path(task.out) / "records" / f"{rid}.{task.table_format}")
    if task.save_windows:
        accepted = quality.loc[quality["accepted"], "start_s"].to_numpy()
        _write_npz(Path(task.out) / "windows" / f"{rid}.npz", windows=windows,
                   channels=np.array(task.window.channels), start_s=accepted,
                   sampling_rate=np.float64(task.window.sampling_rate))
    reasons = quality.loc[~quality["accepted"], "reason"].str.split(";").explode()
    return {"source_sha256": digest, "duration_s": recording.duration_s,
            "n_windows": int(len(quality)), "n_accepted": int(quality["accepted"].sum()),
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
