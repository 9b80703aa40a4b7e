# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A retrospective cohort
#
# For a researcher with a folder of recordings (WFDB records, `.vital` files or CSVs):
#
# 1. run `cardiosbi infer` over the folder into a run folder: every record, every 8-s window,
#    both default models (**APW** on the arterial line, **HYBRID** on the PPG); the run is
#    resumable, so an interrupted or repeated run redoes only what changed;
# 2. read the run back as two tidy tables, one row per window and one per record, written as
#    Parquet for any later analysis;
# 3. cohort figures: per-record estimates against the monitor's references, the acceptance rate
#    of each record, and whether the error grows with the width of the credible interval;
# 4. a trend plot per record: heart rate and mean arterial pressure over time.
#
# Open it in Jupyter with `jupytext --to notebook notebooks/cohort.py`, or run it as a script:
# `python notebooks/cohort.py`.

# %% [markdown]
# ## Parameters
#
# | variable | meaning | default |
# |---|---|---|
# | `CARDIOSBI_NB_COHORT` | folder of records | `shared/data/real/cinc2015_vtach` beside the checkout (25 ICU records) if it exists, else the folder of the shipped sample |
# | `CARDIOSBI_NB_RUN` | the infer run folder (reused when it exists) | `runs/cohort-notebook` |
# | `CARDIOSBI_NB_OUT` | folder for the tables (Parquet) and figures (PNG) | `<run>/cohort` |
# | `CARDIOSBI_NB_SAMPLES` | posterior draws per window | 200 |
# | `CARDIOSBI_NB_WORKERS` | records preprocessed in parallel | 2 |
# | `CARDIOSBI_NB_TRENDS_SHOWN` | per-record trend plots shown here (all are written) | 3 |
# | `CARDIOSBI_NB_SEED` | seed of the posterior draws | 0 |
#
# 200 draws per window keep a 25-record cohort within a few minutes on two CPU cores; the
# interval bounds of 200 draws move by about a tenth of the interval width from one seed to
# the next, which is enough for a cohort overview. Use 1000 (the `infer` default) for final
# numbers.

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

import cardiosbi as package
from cardiosbi.cli.main import run as cardiosbi
from cardiosbi.default_models import load_default_posterior
from cardiosbi.report.cohort import record_table, window_table
from cardiosbi.utils.paths import sample_record

# the screened ICU records beside a source checkout (absent from an installed package)
SHARED_COHORT = (Path(package.__file__).resolve().parents[2]
                 / "shared" / "data" / "real" / "cinc2015_vtach")
COHORT = Path(os.environ.get("CARDIOSBI_NB_COHORT")
              or (SHARED_COHORT if SHARED_COHORT.is_dir() else sample_record().parent))
RUN = Path(os.environ.get("CARDIOSBI_NB_RUN", "runs/cohort-notebook"))
OUT = Path(os.environ.get("CARDIOSBI_NB_OUT") or RUN / "cohort")
N_SAMPLES = int(os.environ.get("CARDIOSBI_NB_SAMPLES", "200"))
WORKERS = int(os.environ.get("CARDIOSBI_NB_WORKERS", "2"))
TRENDS_SHOWN = int(os.environ.get("CARDIOSBI_NB_TRENDS_SHOWN", "3"))
SEED = int(os.environ.get("CARDIOSBI_NB_SEED", "0"))

OUT.mkdir(parents=True, exist_ok=True)
COLORS = {"apw": "tab:red", "hybrid": "tab:green"}
print(f"cohort: {COHORT} ({len(list(COHORT.glob('*.hea')))} WFDB headers)\nrun folder: {RUN}\n"
      f"posterior draws per window: {N_SAMPLES}\noutput folder: {OUT}")


def save(fig: plt.Figure, name: str) -> None:
    """Write ``fig`` as ``OUT/name.png`` (Jupyter also shows it below the cell)."""
    fig.savefig(OUT / f"{name}.png", dpi=90, bbox_inches="tight")


# %% [markdown]
# ## 1. Infer every record
#
# This is `cardiosbi infer COHORT --out RUN n_samples=...` called through its Python entry
# point, which returns the command's exit code. A record that cannot be read or has no usable
# channel is listed as failed and the others go on (the shared cohort's `index.csv`, a table
# of the records rather than a recording, shows how a failure looks).

# %%
INFER = ["infer", str(COHORT), "--out", str(RUN), f"n_samples={N_SAMPLES}",
         f"workers={WORKERS}", f"seed={SEED}"]


def infer() -> float:
    """Run ``cardiosbi infer`` on the cohort; its wall time [s]."""
    started = time.perf_counter()
    code = cardiosbi(INFER)
    if code != 0:
        raise RuntimeError(f"cardiosbi {' '.join(INFER)} ended with exit code {code}")
    return time.perf_counter() - started


first_s = infer()
print(f"infer took {first_s:.0f} s")

# %% [markdown]
# ### Resumable
#
# Each record's estimates are stored with the hash of its source file, of the posterior file
# and the settings behind them. Running the same command again reuses every finished record
# (an interrupted run picks up where it stopped); a changed file or setting redoes only the
# records concerned.

# %%
def estimate_files() -> dict[Path, int]:
    """Every per-record estimates file of the run and its modification time [ns]."""
    return {path: path.stat().st_mtime_ns for path in RUN.glob("*/estimates/*.csv")}


before = estimate_files()
again_s = infer()
after = estimate_files()
reused = sum(after.get(path) == stamp for path, stamp in before.items())
print(f"re-run took {again_s:.0f} s (first run {first_s:.0f} s): {reused} of {len(before)} "
      "record estimates reused untouched")

# %% [markdown]
# ## 2. One tidy table per window, one per record
#
# `cardiosbi.report.cohort` reads the run folder (nothing is re-estimated):
#
# - **windows**: one row per (model, record, window, biomarker) with the posterior median and
#   90 % interval, `status` (`ok`, `unvalidated`, `rejected`), `reject_reason`, `validity`,
#   the quality verdict of the window, and where the monitor measured the same quantity the
#   `reference` value, its source and the `check`: *independent*, or *circular* when the
#   model reads the signal the reference comes from (APW reads the arterial line that MAP is
#   measured on). A rejected window keeps one row with its reason and no biomarker.
# - **records**: one row per (model, record, biomarker): windows, acceptance rate, the median
#   of the usable window medians and intervals, and against the reference the mean absolute
#   error (`mae`) and the fraction of windows whose 90 % interval holds it (`coverage90`).

# %%
training = load_default_posterior("hybrid").training
HYBRID_TRAINED_ON = {*training["train_records"], *training["val_records"]}


def in_sample(table: pd.DataFrame) -> pd.Series:
    """Rows of a model on a record it was trained on (the hybrid's real training records)."""
    return table["model"].eq("hybrid") & table["record"].isin(HYBRID_TRAINED_ON)


windows = window_table(RUN)
records = record_table(RUN, windows)
windows["in_sample"], records["in_sample"] = in_sample(windows), in_sample(records)
inferred = records.loc[records["record_status"] == "ok", "record"]
print(f"the hybrid was trained on {inferred[inferred.isin(HYBRID_TRAINED_ON)].nunique()} of the "
      f"{inferred.nunique()} records inferred here")
windows.to_parquet(OUT / "windows.parquet", index=False)
records.to_parquet(OUT / "records.parquet", index=False)
print(f"windows: {len(windows)} rows, records: {len(records)} rows -> {OUT}")
print(records[records["parameter"].isin(["hr", "map_radial"])]
      [["model", "record", "parameter", "acceptance_rate", "median", "reference", "mae",
        "coverage90"]].round(2).head(12).to_string(index=False))

# %% [markdown]
# ## 3. The cohort
#
# ### Per-record estimates against the monitor
#
# Each point is one record: the median of its window medians (bars: the median 90 %
# interval) against the median of the monitor's values over the same windows. Heart rate is
# checked against the ECG (independent for both models); MAP against the arterial line, which
# is **circular for APW** (it reads that line) and independent for HYBRID. The hybrid was
# trained on real ICU records, among them possibly records of this cohort (the `in_sample`
# column): its agreement on those says nothing about new patients, so they are drawn hollow.

# %%
PANELS = (("hr", "heart rate [bpm]"), ("map_radial", "mean arterial pressure [mmHg]"))
scored = records[records["windows_compared"] > 0]

fig, axes = plt.subplots(1, 2, figsize=(13, 5.5))
for axis, (parameter, label) in zip(axes, PANELS, strict=True):
    rows = scored[scored["parameter"] == parameter]
    for (model, seen), own in rows.groupby(["model", "in_sample"]):
        check = "circular" if own["check"].str.startswith("circular").any() else "independent"
        check = "in-sample" if seen else check
        error = np.vstack([own["median"] - own["ci90_low"], own["ci90_high"] - own["median"]])
        axis.errorbar(own["reference"], own["median"], yerr=error.clip(min=0), fmt="o", ms=4,
                      capsize=2, color=COLORS.get(model), alpha=0.8,
                      mfc="none" if seen else COLORS.get(model),
                      label=f"{model.upper()} ({check}, {len(own)} records)")
    if len(rows):
        span = [rows[["reference", "ci90_low"]].min().min(),
                rows[["reference", "ci90_high"]].max().max()]
        axis.plot(span, span, "k--", lw=0.8, label="estimate = reference")
    axis.set_xlabel(f"monitor reference: {label}")
    axis.set_ylabel(f"posterior estimate: {label}")
    axis.legend(fontsize=8)
fig.suptitle("per record: median estimate (90 % interval) against the monitor")
fig.tight_layout()
save(fig, "records_vs_reference")

# %% [markdown]
# ### Acceptance rate per record
#
# The fraction of each record's 8-s windows that passed the quality checks of the signal each
# model reads (arterial line for APW, PPG for HYBRID). A record that failed outright is marked
# with its reason.

# %%
rates = records.drop_duplicates(["model", "record"]).pivot(index="record", columns="model",
                                                           values="acceptance_rate")
rates = rates.fillna(0).sort_values(list(rates.columns))
fig, axis = plt.subplots(figsize=(9, 0.28 * len(rates) + 1.5))
rates.plot.barh(ax=axis, color=[COLORS.get(m) for m in rates.columns], width=0.8)
axis.set_xlabel("accepted windows [fraction of the record's 8-s windows]")
axis.set_ylabel("record")
axis.set_xlim(0, 1)
failed = records[records["record_status"] != "ok"].drop_duplicates("record")
for row in failed.itertuples():
    axis.annotate(f"failed: {row.record_reason}", (0.01, list(rates.index).index(row.record)),
                  fontsize=7, va="center")
axis.set_title("quality checks: accepted windows per record")
fig.tight_layout()
save(fig, "acceptance_rate")

# %% [markdown]
# ### Error against interval width
#
# One point per window with a reference: the absolute error of the posterior median against
# the width of its 90 % interval. Below the dashed line (|error| = half the width) the
# reference lies inside a symmetric interval. A posterior whose widths mean something has
# larger errors where it is wider, and few points far above the line.

# %%
compared = windows[windows["reference"].notna() & windows["status"].ne("rejected")
                   & windows["parameter"].isin([p for p, _label in PANELS])].copy()
compared["error"] = (compared["median"] - compared["reference"]).abs()
compared["inside90"] = compared["reference"].between(compared["ci90_low"], compared["ci90_high"])

fig, axes = plt.subplots(1, 2, figsize=(13, 5))
for axis, (parameter, label) in zip(axes, PANELS, strict=True):
    rows = compared[compared["parameter"] == parameter]
    for model, own in rows.groupby("model"):
        axis.scatter(own["width90"], own["error"], s=8, alpha=0.5, color=COLORS.get(model),
                     label=f"{model.upper()}: {len(own)} windows, reference inside the 90 % "
                           f"interval in {own['inside90'].mean():.0%}")
    if len(rows):
        widths = np.geomspace(rows["width90"].min(), rows["width90"].max(), 10)
        axis.plot(widths, widths / 2, "k--", lw=0.8, label="|error| = half the 90 % width")
    axis.set_xscale("log")  # the two models' widths differ several-fold
    axis.set_xlabel(f"90 % interval width (log scale): {label}")
    axis.set_ylabel(f"|median - reference|: {label}")
    axis.legend(fontsize=8)
fig.suptitle("per window: error against the posterior's own uncertainty")
fig.tight_layout()
save(fig, "error_vs_width")

# %% [markdown]
# The same in numbers, pooled over windows: mean absolute error and 90 % coverage per model
# (the hybrid split into records it was and was not trained on), and how the error grows from
# the narrowest to the widest third of the intervals.

# %%
def by_width(rows: pd.DataFrame) -> pd.Series:
    """Mean absolute error in the narrowest and the widest third of the intervals."""
    thirds = pd.qcut(rows["width90"].rank(method="first"), 3, labels=["narrow", "middle", "wide"])
    return rows.groupby(thirds, observed=True)["error"].mean()


pooled = []
for (model, parameter, seen), rows in compared.groupby(["model", "parameter", "in_sample"]):
    thirds = by_width(rows) if len(rows) >= 3 else pd.Series(dtype=float)
    pooled.append({"model": model, "parameter": parameter, "in_sample": seen,
                   "check": rows["check"].mode().iloc[0],
                   "records": rows["record"].nunique(), "windows": len(rows),
                   "mae": rows["error"].mean(), "coverage90": rows["inside90"].mean(),
                   "median_width90": rows["width90"].median(),
                   "mae_narrow_third": thirds.get("narrow", np.nan),
                   "mae_wide_third": thirds.get("wide", np.nan)})
pooled = pd.DataFrame(pooled)
pooled.to_csv(OUT / "cohort_summary.csv", index=False)
print(pooled.round(2).to_string(index=False))

# %% [markdown]
# ## 4. A trend plot per record
#
# Heart rate and mean arterial pressure over time: each model's posterior median and 90 %
# band per window, with the monitor's values (black). Gaps are windows rejected by the quality
# checks, or estimates withheld (× at the bottom: interval too wide, at a prior bound, or a
# window unlike the training data; the reason is in `reject_reason`). All plots are written
# to `OUT/trends/`; the first few are shown.

# %%
def trend_figure(record: str) -> plt.Figure:
    """HR and MAP of one record over time, both models and the references."""
    own = windows[windows["record"] == record]
    fig, axes = plt.subplots(2, 1, figsize=(12, 5.5), sharex=True)
    for axis, (parameter, label) in zip(axes, PANELS, strict=True):
        for model, rows in own.groupby("model"):
            grid = rows.drop_duplicates("window").set_index("window")[["start_s", "duration_s"]]
            values = rows[rows["parameter"] == parameter].set_index("window")
            grid = grid.join(values[["median", "ci90_low", "ci90_high", "status"]])
            used = grid["status"].ne("rejected") & grid["median"].notna()
            ends = grid["start_s"] + grid["duration_s"]
            edges = np.column_stack([grid["start_s"], ends]).ravel()  # a band spans its window
            axis.fill_between(edges, np.repeat(grid["ci90_low"], 2),
                              np.repeat(grid["ci90_high"], 2), where=np.repeat(used, 2),
                              color=COLORS.get(model), alpha=0.2, lw=0,
                              label=f"{model.upper()} 90 % interval")
            centre = grid["start_s"] + grid["duration_s"] / 2
            axis.plot(centre, grid["median"].where(used), "o-", ms=2.5, lw=1,
                      color=COLORS.get(model), label=f"{model.upper()} median")
            withheld = grid["status"].eq("rejected")
            axis.plot(centre[withheld], np.full(withheld.sum(), 0.04), "x",
                      color=COLORS.get(model), transform=axis.get_xaxis_transform(),
                      label=f"{model.upper()} estimate withheld")
        references = own[own["parameter"] == parameter].dropna(subset=["reference"])
        references = references.drop_duplicates("start_s")
        axis.plot(references["start_s"] + references["duration_s"] / 2, references["reference"],
                  "s", ms=3, mfc="none", color="black", label="monitor (ECG HR / arterial line)")
        axis.set_ylabel(label)
    axes[-1].set_xlabel("time from record start [s]")
    axes[0].legend(fontsize=7, ncol=4, loc="lower left", bbox_to_anchor=(0, 1.0), frameon=False)
    fig.suptitle(f"{record}: heart rate and mean arterial pressure per 8-s window", y=1.04)
    return fig


(OUT / "trends").mkdir(exist_ok=True)
estimated = windows.dropna(subset=["parameter"])["record"].unique()
for index, record in enumerate(sorted(estimated)):
    fig = trend_figure(record)
    fig.savefig(OUT / "trends" / f"{record}.png", dpi=80, bbox_inches="tight")
    if index >= TRENDS_SHOWN:
        plt.close(fig)  # written, not shown: a notebook of 25 trend plots is hard to read
print(f"{len(estimated)} trend plots written to {OUT / 'trends'}")

# %% [markdown]
# ## Where to go next
#
# - `cardiosbi report RUN` renders the same run as one HTML page with every record's
#   waveforms, rejected windows, detected beats and estimates.
# - `windows.parquet` and `records.parquet` hold everything the figures above show; read them
#   with `pandas.read_parquet` to recompute any table without re-running inference.
# - SV, CO, SVR and LVET are in the tables too, but no record here has a reference for them:
#   the model cards (`cardiosbi.default_models.model_card`) say they are validated in silico
#   only.

# %%
print(f"tables and figures written to {OUT}:")
for path in sorted(OUT.iterdir()):
    print(f"  {path.name}")
