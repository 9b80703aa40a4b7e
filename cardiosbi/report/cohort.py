"""A ``cardiosbi infer`` run over a cohort read back as two tidy tables.

- :func:`window_table`: one row per (model, record, window, biomarker): the posterior summary
  and its ``status``/``validity``, the window's quality verdict, and where the monitor measured
  the same quantity its reference value, the reference's source and whether comparing with it
  is an independent check or a circular one (the ``apw`` model reads the arterial line that
  MAP is measured on). A rejected window keeps one row, without a biomarker.
- :func:`record_table`: one row per (model, record, biomarker): windows and acceptance rate,
  the median of the usable window medians and intervals, and against the reference the mean
  absolute error and the fraction of windows whose 90 % interval holds it. A record that failed
  preprocessing keeps one row saying why.

Both work on a single-model run folder and on the per-model sub-folders of
``posterior=default``; nothing is re-estimated, so they can be recomputed from the run alone.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from cardiosbi.report.model import run_model
from cardiosbi.report.references import (
    Reference,
    base_name,
    check_of,
    reference_values,
    references_for,
)
from cardiosbi.report.run import InferRun, load_run, model_runs, window_numbers

ESTIMATE_COLUMNS = ["parameter", "unit", "median", "ci90_low", "ci90_high", "width90",
                    "status", "reject_reason", "validity"]
WINDOW_COLUMNS = ["model", "record", "window", "start_s", "duration_s", "accepted", "reason",
                  *ESTIMATE_COLUMNS, "reference", "reference_source", "check"]
RECORD_COLUMNS = ["model", "record", "record_status", "record_reason", "windows",
                  "windows_accepted", "acceptance_rate", "parameter", "unit", "validity",
                  "windows_used", "median", "ci90_low", "ci90_high", "width90", "reference",
                  "reference_source", "check", "windows_compared", "mae", "coverage90"]


def run_folders(path: str | Path) -> dict[str, Path]:
    """Model name -> infer run folder: the sub-folders of a multi-model run, or the run itself
    (named after its posterior: ``apw``, or a posterior file's stem)."""
    runs = model_runs(path)
    if runs:
        return runs
    run = load_run(path)
    return {Path(str(run.config.get("posterior", run.path.name))).stem: run.path}


def window_table(path: str | Path) -> pd.DataFrame:
    """One row per (model, record, window, biomarker) of the infer run in ``path``."""
    parts = [_model_windows(name, load_run(folder)) for name, folder in run_folders(path).items()]
    parts = [part for part in parts if not part.empty]
    if not parts:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    return pd.concat(parts, ignore_index=True)[WINDOW_COLUMNS]


def _model_windows(model: str, run: InferRun) -> pd.DataFrame:
    reads = run_model(run).reads
    references = references_for(reads)
    ok = run.records.loc[run.records["status"] == "ok", "record"]
    tables = []
    for rid in ok:
        quality = run.quality(rid).assign(record=rid)
        estimates = run.estimates(rid)
        tables.append(_record_windows(quality, estimates, references, reads))
    if not tables:
        return pd.DataFrame(columns=WINDOW_COLUMNS)
    return pd.concat(tables, ignore_index=True).assign(model=model)


def _record_windows(quality: pd.DataFrame, estimates: pd.DataFrame | None,
                    references: tuple[Reference, ...], reads) -> pd.DataFrame:
    """The windows of one record (numbered by their place in the record, not by the run's
    count of accepted windows) joined to their estimates and reference values."""
    base = quality[["record", "start_s", "duration_s", "accepted", "reason"]].assign(
        window=window_numbers(quality).to_numpy(), accepted=quality["accepted"].astype(bool))
    if estimates is None or "parameter" not in estimates:
        table = base.assign(**{column: np.nan for column in ESTIMATE_COLUMNS})
    else:
        rows = estimates.loc[estimates["parameter"].notna(), ["start_s", *ESTIMATE_COLUMNS]]
        table = base.merge(rows, on="start_s", how="left")
    reference = pd.concat([_reference_rows(r, quality, reads) for r in references],
                          ignore_index=True)
    table["biomarker"] = table["parameter"].map(base_name, na_action="ignore")
    table = table.merge(reference, on=["start_s", "biomarker"], how="left")
    return table.drop(columns="biomarker")


def _reference_rows(reference: Reference, quality: pd.DataFrame, reads) -> pd.DataFrame:
    values = reference_values(reference, quality)
    return pd.DataFrame({
        "start_s": values["start_s"].to_numpy(),
        "biomarker": reference.biomarker,
        "reference": values["reference_value"].to_numpy(dtype=float),
        "reference_source": [reference.label(s) for s in values["source"]],
        "check": [check_of(s, reads) for s in values["source"]],
    })


def record_table(path: str | Path, windows: pd.DataFrame | None = None) -> pd.DataFrame:
    """One row per (model, record, biomarker) of the infer run in ``path``; ``windows`` is
    its :func:`window_table` when already read."""
    windows = window_table(path) if windows is None else windows
    rows = []
    for model, folder in run_folders(path).items():
        for _, record in load_run(folder).records.iterrows():
            own = windows[(windows["model"] == model) & (windows["record"] == record["record"])]
            rows.extend(_record_rows(model, record, own))
    return pd.DataFrame(rows, columns=RECORD_COLUMNS)


def _record_rows(model: str, record: pd.Series, windows: pd.DataFrame) -> list[dict]:
    """Rows of one record: per biomarker, or one row when nothing was estimated."""
    grid = windows.drop_duplicates("window")
    head = {"model": model, "record": record["record"], "record_status": record["status"],
            "record_reason": record["reason"] if pd.notna(record["reason"]) else "",
            "windows": len(grid), "windows_accepted": int(grid["accepted"].sum()),
            "acceptance_rate": grid["accepted"].mean() if len(grid) else np.nan}
    estimated = windows[windows["parameter"].notna()]
    if estimated.empty:
        return [head]
    return [head | _biomarker_row(rows)
            for _, rows in estimated.groupby(["parameter", "unit"], sort=False)]


def _biomarker_row(rows: pd.DataFrame) -> dict:
    """Summary of one biomarker over the windows whose estimate was not rejected."""
    used = rows[rows["status"] != "rejected"]
    compared = used[used["reference"].notna()]
    inside = compared["reference"].between(compared["ci90_low"], compared["ci90_high"])
    sources = compared["reference_source"].mode()
    checks = compared["check"].mode()
    return {
        "parameter": rows["parameter"].iloc[0], "unit": rows["unit"].iloc[0],
        "validity": rows["validity"].iloc[0], "windows_used": len(used),
        "median": used["median"].median(), "ci90_low": used["ci90_low"].median(),
        "ci90_high": used["ci90_high"].median(), "width90": used["width90"].median(),
        "reference": compared["reference"].median(),
        "reference_source": sources.iloc[0] if len(sources) else "",
        "check": checks.iloc[0] if len(checks) else "",
        "windows_compared": len(compared),
        "mae": (compared["median"] - compared["reference"]).abs().mean(),
        "coverage90": inside.mean() if len(compared) else np.nan,
    }
