"""An infer run folder read back: provenance, cohort summary, and per-record tables.

``cardiosbi infer`` writes ``config.yaml`` + ``run.json`` (provenance), ``preprocess/summary.csv``
(one row per record, failures included), ``preprocess/records/<id>.csv`` (per-window quality),
``estimates/<id>.csv`` (per window x biomarker posterior summaries) and ``summary.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from cardiosbi.errors import InputFileError
from cardiosbi.utils.paths import existing_path

# What makes a folder an infer run; a missing one means the folder is something else.
REQUIRED = ("config.yaml", "run.json", "preprocess/summary.csv")
# Boolean per-estimate flags infer writes beside ``reject`` (absent in older runs).
FLAG_COLUMNS = ("at_bound", "ood")
VALIDATED = "validated"
UNRECORDED_REASON = "flagged by the posterior (this run did not record why)"


@dataclass
class InferRun:
    """The files of one ``cardiosbi infer`` output folder."""

    path: Path
    config: dict
    info: dict
    records: pd.DataFrame          # preprocess/summary.csv: record, source, status, reason, ...
    summary: pd.DataFrame | None   # summary.csv: per record x biomarker (None: nothing inferred)

    def quality(self, rid: str) -> pd.DataFrame:
        """Per-window quality table of record ``rid`` (start_s, accepted, reason, SQIs, ...)."""
        return _read_table(self.path / "preprocess" / "records", rid)

    def estimates(self, rid: str) -> pd.DataFrame | None:
        """Per window x biomarker estimates of ``rid``; None when the record was not inferred."""
        path = self.path / "estimates" / f"{rid}.csv"
        if not path.exists():
            return None
        return with_status(pd.read_csv(path))

    def source(self, rid: str) -> str:
        """The recording reference (path or ``vitaldb:<case>``) the run read for ``rid``."""
        row = self.records.loc[self.records["record"] == rid, "source"]
        return str(row.iloc[0]) if len(row) and pd.notna(row.iloc[0]) else ""


def load_run(path: str | Path) -> InferRun:
    """Read the infer run in ``path``; InputFileError when it is missing or not an infer run."""
    folder = existing_path(path, "infer run folder")
    missing = [name for name in REQUIRED if not (folder / name).exists()]
    if not folder.is_dir() or missing:
        raise InputFileError(f"{folder} is not a `cardiosbi infer` output folder (missing "
                             f"{', '.join(missing) or 'folder'}); pass the --out of an infer run")
    info = json.loads((folder / "run.json").read_text())
    if info.get("command") != "infer":
        raise InputFileError(f"{folder} was written by `cardiosbi {info.get('command')}`, not "
                             "`cardiosbi infer`; pass the --out of an infer run")
    config = yaml.safe_load((folder / "config.yaml").read_text()) or {}
    records = pd.read_csv(folder / "preprocess" / "summary.csv", keep_default_na=True)
    records["record"] = records["record"].astype(str)
    summary_path = folder / "summary.csv"
    summary = with_flags(pd.read_csv(summary_path)) if summary_path.exists() else None
    return InferRun(folder, config, info, records, summary)


def with_status(estimates: pd.DataFrame) -> pd.DataFrame:
    """Estimates with ``status``, ``reject_reason``, ``validity`` and ``validity_note`` filled
    in: runs written before infer recorded them get ``status`` from ``reject``, a reason saying
    it was not recorded, and "validated" (what those runs claimed by showing the number)."""
    table = estimates.copy()
    if "parameter" not in table:  # no window of the record was estimated
        return table
    for column in ("reject", *FLAG_COLUMNS):  # object dtype when NaN rows exist
        if column in table:
            table[column] = table[column].astype(str).eq("True")
    estimated = table["parameter"].notna()
    if "status" not in table:
        rejected = table["reject"] if "reject" in table else False
        table["status"] = np.where(rejected, "rejected", "ok")
    table["status"] = _text(table["status"].where(estimated, ""), "")
    reasons = _text(table.get("reject_reason"), "", table.index)
    unexplained = (table["status"] == "rejected") & (reasons == "")
    table["reject_reason"] = reasons.mask(unexplained, UNRECORDED_REASON)
    table["validity"] = _text(table.get("validity"), VALIDATED, table.index).where(estimated, "")
    table["validity_note"] = _text(table.get("validity_note"), "", table.index)
    return table


def with_flags(summary: pd.DataFrame) -> pd.DataFrame:
    """The per-record summary with ``validity`` and ``flag`` ("" when sound) always present."""
    table = summary.copy()
    table["record"] = table["record"].astype(str)
    table["validity"] = _text(table.get("validity"), VALIDATED, table.index)
    table["flag"] = _text(table.get("flag"), "", table.index)
    return table


def _text(column: pd.Series | None, blank: str, index: pd.Index | None = None) -> pd.Series:
    """A text column with missing values (or a missing column, over ``index``) as ``blank``;
    an all-empty column reads back from CSV as float NaN."""
    if column is None:
        return pd.Series(blank, index=index, dtype=object)
    return column.astype(object).where(column.notna(), blank).astype(str)


def window_numbers(quality: pd.DataFrame) -> pd.Series:
    """Each window's position in the record's window grid, from its start time.

    The run's ``window`` column counts accepted windows only (-1 when rejected), so models that
    reject different windows number the same stretch differently; windows start at 0 and step
    by the hop, so start / hop names a stretch of signal the same way in every model's run."""
    if quality.empty:
        return pd.Series(dtype=int)
    starts = np.sort(quality["start_s"].unique())
    steps = np.diff(starts)
    hop = float(np.median(steps)) if steps.size else float(quality["duration_s"].iloc[0])
    return (quality["start_s"] / hop).round().astype(int)


def _read_table(folder: Path, rid: str) -> pd.DataFrame:
    for suffix, reader in ((".csv", pd.read_csv), (".parquet", pd.read_parquet)):
        if (folder / f"{rid}{suffix}").exists():
            return reader(folder / f"{rid}{suffix}")
    raise InputFileError(f"quality table of record {rid} not found in {folder}")


def model_runs(path: str | Path) -> dict[str, Path]:
    """Model name -> run folder of a multi-model infer run (``posterior=default``); {} otherwise.

    Such a run has a combined ``summary.csv`` and one complete infer run per model sub-folder.
    """
    folder = Path(path)
    if not (folder / "summary.csv").exists() or (folder / "preprocess").exists():
        return {}
    return {sub.name: sub for sub in sorted(folder.iterdir())
            if (sub / "preprocess" / "summary.csv").exists()}
