"""An infer run folder read back: provenance, cohort summary, and per-record tables.

``cardiosbi infer`` writes ``config.yaml`` + ``run.json`` (provenance), ``preprocess/summary.csv``
(one row per record, failures included), ``preprocess/records/<id>.csv`` (per-window quality),
``estimates/<id>.csv`` (per window x biomarker posterior summaries) and ``summary.csv``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import yaml

from cardiosbi.errors import InputFileError
from cardiosbi.utils.paths import existing_path

# What makes a folder an infer run; a missing one means the folder is something else.
REQUIRED = ("config.yaml", "run.json", "preprocess/summary.csv")


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
        table = pd.read_csv(path)
        if "reject" in table:  # read back as object when NaN rows (rejected windows) exist
            table["reject"] = table["reject"].astype(str).eq("True")
        return table

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
    summary = pd.read_csv(summary_path) if summary_path.exists() else None
    if summary is not None:
        summary["record"] = summary["record"].astype(str)
    return InferRun(folder, config, info, records, summary)


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
