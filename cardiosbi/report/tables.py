"""The report's tables: formatted cells with a class (and tooltip) per cell, each table also
written as CSV into the tables folder next to the page and linked from it.

Cell classes carry validity: ``rejected`` (a withheld estimate, its reason beside it),
``unvalidated`` (an estimate of a biomarker not validated on real data) and ``flagged`` (a
record summary infer flagged); the page greys them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cardiosbi.report.figures import reason_codes
from cardiosbi.report.run import InferRun, window_numbers

# Estimate statuses the page greys (infer's ``status`` column; "ok" is shown plainly).
GREYED = ("rejected", "unvalidated")


@dataclass
class Table:
    """A table for the page: column names, formatted cells and per-cell classes and tooltips;
    ``csv`` names its CSV file and ``href`` links it relative to the page."""

    columns: list[str]
    rows: list[list[str]]
    csv: str
    href: str = ""
    truncated: int = 0
    classes: list[list[str]] = field(default_factory=list)
    titles: list[list[str]] = field(default_factory=list)


def make_table(frame: pd.DataFrame, csv: Path | None, max_rows: int,
               full: pd.DataFrame | None = None, classes: pd.DataFrame | None = None,
               titles: pd.DataFrame | None = None) -> Table:
    """Format ``frame`` for the page (first ``max_rows`` rows) and write ``full`` (default the
    frame) as CSV. ``classes``/``titles``: frames shaped like ``frame`` (blank = none)."""
    if csv is not None:
        (frame if full is None else full).to_csv(csv, index=False)
    head = frame.head(max_rows)
    cells = [[format_cell(v) for v in row] for row in head.itertuples(index=False)]

    def strings(extra: pd.DataFrame | None) -> list[list[str]]:
        if extra is None:
            return [[""] * len(frame.columns) for _ in cells]
        return extra.loc[head.index].fillna("").astype(str).to_numpy().tolist()

    return Table([str(c) for c in frame.columns], cells, csv.name if csv else "",
                 href=f"{csv.parent.name}/{csv.name}" if csv else "",
                 truncated=max(0, len(frame) - max_rows), classes=strings(classes),
                 titles=strings(titles))


def format_cell(value) -> str:
    """Numbers to 4 significant digits, missing values blank, everything else as text."""
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def numbered(quality: pd.DataFrame) -> pd.DataFrame:
    """The quality table with ``window`` renumbered by position in the record's window grid,
    the same in every model's run; the run's own index (accepted windows only, -1 when
    rejected, the row in ``preprocess/windows/<id>.npz``) is kept as ``run_window``."""
    table = quality.copy()
    table.insert(list(table.columns).index("window") + 1, "run_window", table["window"])
    table["window"] = window_numbers(quality)
    return table


def numbered_estimates(estimates: pd.DataFrame, quality: pd.DataFrame) -> pd.DataFrame:
    """Estimates with ``window`` taken from the grid numbering of their window (by start)."""
    grid = dict(zip(quality["start_s"], window_numbers(quality), strict=True))
    return estimates.assign(window=estimates["start_s"].map(grid).astype("Int64"))


def estimate_notes(rows: pd.DataFrame) -> tuple[pd.Series, pd.Series]:
    """Why each estimate is greyed, short (for the page's cells) and in full (tooltip, CSV):
    its reject reason, or that its biomarker is not validated on real data and the model
    card's note why (which the record's summary table shows once per biomarker)."""
    unvalidated = rows["status"] == "unvalidated"
    rejected = rows["status"] == "rejected"
    short = pd.Series("", index=rows.index)
    short = short.mask(unvalidated, "not validated on real data (" + rows["validity"] + ")")
    full = short.mask(unvalidated, short + ": " + rows["validity_note"])
    return short.mask(rejected, rows["reject_reason"]), full.mask(rejected, rows["reject_reason"])


def biomarker_table(rid: str, estimates: pd.DataFrame, tables_dir: Path,
                    max_rows: int) -> Table:
    """Per window and biomarker: median, 50/90% intervals, status and, for greyed rows, why."""
    keys = ["model"] if "model" in estimates else []
    extra = [c for c in ("ood_score",) if c in estimates]
    columns = ["window", "start_s", *keys, "parameter", "unit", "median", "ci50_low",
               "ci50_high", "ci90_low", "ci90_high", *extra, "status"]
    rows = estimates.dropna(subset=["parameter"])
    short, full = estimate_notes(rows)
    frame = rows[columns].assign(note=short)
    status = rows["status"].where(rows["status"].isin(GREYED), "")
    classes = pd.DataFrame({c: status for c in frame.columns})
    classes["note"] = "reason"
    titles = pd.DataFrame({c: full for c in frame.columns})
    return make_table(frame, tables_dir / f"{rid}_estimates.csv", max_rows,
                      full=rows.assign(note=full), classes=classes, titles=titles)


def summary_table(run: InferRun, rid: str, tables_dir: Path) -> Table | None:
    """The record's summary over windows per biomarker, with infer's validity and flag."""
    if run.summary is None or "parameter" not in run.summary:
        return None
    rows = run.summary[(run.summary["record"] == rid) & run.summary["parameter"].notna()]
    if rows.empty:
        return None
    columns = [c for c in ("model", "parameter", "unit", "median", "ci90_low", "ci90_high",
                           "windows", "validity", "flag") if c in rows]
    flagged = rows["flag"].ne("").map({True: "flagged", False: ""})
    classes = pd.DataFrame({c: flagged for c in columns})
    classes["flag"] = "reason"
    titles = pd.DataFrame({c: rows["flag"] for c in columns})
    return make_table(rows[columns], tables_dir / f"{rid}_summary.csv", 10_000,
                      classes=classes, titles=titles)


def overview_table(run: InferRun, tables_dir: Path, max_rows: int) -> Table:
    """Per record: status/failure reason, windows accepted, and each biomarker's record median
    (greyed, with infer's flag as tooltip, where the summary is flagged)."""
    table = run.records[["record", "status", "reason", "duration_s", "n_windows", "n_accepted",
                         "acceptance_rate"]].copy()
    has_estimates = run.summary is not None and "parameter" in run.summary
    used = run.summary.dropna(subset=["parameter"]) if has_estimates else pd.DataFrame()
    classes = pd.DataFrame("", index=table.index, columns=table.columns)
    titles = classes.copy()
    if not used.empty:
        keys = ["model", "parameter"] if "model" in used else ["parameter"]
        units = used["unit"].fillna("").astype(str)
        used = used.assign(label=used[keys].astype(str).agg(":".join, axis=1) + " median ["
                           + units + "]")
        medians = used.pivot_table(index="record", columns="label", values="median",
                                   sort=False).reset_index()
        flags = used.pivot_table(index="record", columns="label", values="flag",
                                 aggfunc="first", sort=False).reindex(columns=medians.columns[1:])
        table = table.merge(medians, on="record", how="left")
        flags = table[["record"]].merge(flags.reset_index(), on="record", how="left")
        titles = flags.drop(columns="record").fillna("").reindex(columns=table.columns,
                                                                 fill_value="")
        classes = pd.DataFrame(np.where(titles.ne(""), "flagged", ""), index=titles.index,
                               columns=titles.columns)
    return make_table(table, tables_dir / "overview.csv", max_rows, classes=classes,
                      titles=titles)


def reason_counts(quality: pd.DataFrame) -> pd.DataFrame:
    """Windows accepted, and per rejection reason the windows it applies to (a window can have
    several reasons)."""
    accepted = int(quality["accepted"].astype(bool).sum())
    reasons = quality.loc[~quality["accepted"].astype(bool), "reason"]
    counts = pd.Series([c for r in reasons for c in reason_codes(r)], dtype=object).value_counts()
    rows = [("accepted", accepted), ("rejected (any reason)", len(quality) - accepted)]
    rows += [(f"rejected: {reason}", int(n)) for reason, n in counts.items()]
    return pd.DataFrame(rows, columns=["windows", "count"])
