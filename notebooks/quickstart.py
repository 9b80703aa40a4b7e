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
# # cardiosbi quickstart: biomarkers with uncertainty from one ICU recording
#
# This notebook walks through what `cardiosbi infer` does for a single recording:
#
# 1. load a real bedside recording (PPG, invasive arterial pressure, ECG) and look at it;
# 2. load the three pretrained posteriors shipped with cardiosbi: **APW** (radial arterial
#    pressure waveform), **HYBRID** (PPG decoded into arterial pressure by a model trained on
#    real ICU pairs, then read by the APW posterior) and **PPG** (the direct simulation-trained
#    PPG model, kept as a baseline);
# 3. estimate heart rate, stroke volume, cardiac output, left-ventricular ejection time
#    (LVET), systemic vascular resistance (SVR) and blood pressure for every 8-second window,
#    each with a credible interval;
# 4. plot the estimates over time next to what the monitor itself measured;
# 5. read the quality table that says which windows were used and why others were not.
#
# Open it in Jupyter with `jupytext --to notebook notebooks/quickstart.py`, or run it as a
# script: `python notebooks/quickstart.py`. Either way the figures and tables are also written
# to the output folder `OUT` below.

# %% [markdown]
# ## Parameters
#
# Every parameter can be set through an environment variable, which is how the test suite runs
# this notebook at a tiny size:
#
# | variable | meaning | default |
# |---|---|---|
# | `CARDIOSBI_NB_RECORD` | recording to analyse (WFDB record, `.vital` or `.csv`) | the shipped sample `cardiosbi/assets/samples/v136s` |
# | `CARDIOSBI_NB_SECONDS` | analyse only the first this many seconds (empty = all) | all |
# | `CARDIOSBI_NB_SAMPLES` | posterior draws per window | 1000 |
# | `CARDIOSBI_NB_OUT` | folder for the figures (PNG) and tables (CSV) | `runs/quickstart-notebook` |
# | `CARDIOSBI_NB_SEED` | seed of the posterior draws | 0 |

# %%
import os
from dataclasses import replace
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cardiosbi.default_models import DEFAULT_MODELS, load_default_posterior, model_card
from cardiosbi.estimate import estimate_recording
from cardiosbi.io import load_recording
from cardiosbi.io.recording import Recording
from cardiosbi.utils.paths import sample_record

RECORD = os.environ.get("CARDIOSBI_NB_RECORD") or sample_record()
SECONDS = float(os.environ["CARDIOSBI_NB_SECONDS"]) if os.environ.get("CARDIOSBI_NB_SECONDS") else None
N_SAMPLES = int(os.environ.get("CARDIOSBI_NB_SAMPLES", "1000"))
OUT = Path(os.environ.get("CARDIOSBI_NB_OUT", "runs/quickstart-notebook"))
SEED = int(os.environ.get("CARDIOSBI_NB_SEED", "0"))

OUT.mkdir(parents=True, exist_ok=True)
print(f"record: {RECORD}\nposterior draws per window: {N_SAMPLES}\noutput folder: {OUT}")


# %% [markdown]
# ## 1. Load the recording and look at it
#
# `load_recording` reads WFDB, VitalDB `.vital` and CSV files into one `Recording`: named
# channels (`ppg`, `abp`, `ecg`, ...) in physical units, each with its own sampling rate.
# The sample is record `v136s` of the PhysioNet/CinC Challenge 2015 (an ICU monitor, 300 s at
# 250 Hz; provenance and licence in `data/README.md`).
#
# With `CARDIOSBI_NB_SECONDS` set, the recording is cut to its first seconds below. `Recording`
# has no cropping method, so the cell slices each channel's samples itself.

# %%
def first_seconds(recording: Recording, seconds: float) -> Recording:
    """The recording cut to its first ``seconds`` (channel offsets are kept)."""
    channels = {
        key: replace(ch, signal=ch.signal[: max(0, int(round((seconds - ch.start_s) * ch.fs)))])
        for key, ch in recording.channels.items()
    }
    numerics = {key: replace(n, times_s=n.times_s[n.times_s < seconds],
                             values=n.values[n.times_s < seconds])
                for key, n in recording.numerics.items()}
    return replace(recording, channels=channels, numerics=numerics)


recording = load_recording(RECORD)
if SECONDS is not None:
    recording = first_seconds(recording, SECONDS)

print(f"{recording.name}: {recording.duration_s:.0f} s")
for key, channel in recording.channels.items():
    print(f"  {key:6s} ({channel.raw_name}): {channel.fs:g} Hz, {channel.unit}")

# %% [markdown]
# The first 20 seconds of the pulse oximeter (PPG), the radial arterial line (ABP) and the ECG:

# %%
SHOWN_S = 20.0


def save(fig: plt.Figure, name: str) -> None:
    """Write ``fig`` as ``OUT/name.png`` (Jupyter also shows it below the cell)."""
    fig.savefig(OUT / f"{name}.png", dpi=90, bbox_inches="tight")


kinds = [kind for kind in ("ppg", "abp", "ecg") if recording.of_kind(kind) is not None]
fig, axes = plt.subplots(len(kinds), 1, figsize=(12, 2.2 * len(kinds)), sharex=True,
                         squeeze=False)
for axis, kind in zip(axes[:, 0], kinds, strict=True):
    channel = recording.of_kind(kind)
    times = channel.start_s + np.arange(channel.signal.size) / channel.fs
    shown = times < SHOWN_S
    axis.plot(times[shown], channel.signal[shown], lw=0.7)
    axis.set_ylabel(f"{kind.upper()} [{channel.unit}]")
axes[-1, 0].set_xlabel("time from record start [s]")
axes[0, 0].set_title(f"{recording.name}: raw signals, first {SHOWN_S:g} s")
save(fig, "raw_signals")

# %% [markdown]
# ## 2. Load the shipped posteriors
#
# Each posterior is a neural network trained on simulations of a 1D model of the arterial
# tree: given a window of waveform it returns a probability distribution over the biomarkers
# (the *posterior*), not a single number. The hybrid adds, in front of the APW posterior, a
# conditional VAE trained on real paired PPG and arterial-line windows: it draws several
# plausible pressure waveforms for each PPG window and pools their posteriors. Each file also records how its training windows were
# made (channel, sampling rate, 8-s windows, normalisation), so real windows are prepared the
# same way.

# %%
posteriors = {name: load_default_posterior(name) for name in DEFAULT_MODELS}
for name, posterior in posteriors.items():
    units = dict(zip(posterior.parameter_names, posterior.units, strict=True))
    print(f"{name}: {DEFAULT_MODELS[name]}")
    print("   infers " + ", ".join(f"{p} [{u}]" for p, u in units.items()))

# %% [markdown]
# ## 3. Estimate every window
#
# `estimate_recording` cuts the recording into 8-s windows, checks each window's quality
# (missing samples, flat lines, irregular beats, implausible pressures, PPG template match),
# and draws `N_SAMPLES` samples from the posterior of each accepted window. It returns
#
# - `quality`: one row per window, `accepted` and the `reason` of a rejection, plus what the
#   monitor itself measured in that window (`hr_ecg`: ECG heart rate, `map_abp`: mean of the
#   arterial line, ...);
# - `estimates`: one row per (window, biomarker) with the posterior `mean`, `median`, 50/90/95 %
#   credible intervals (`ci90_low`, `ci90_high`, ...) and `reject`, which flags intervals wider
#   than the model's calibrated threshold (too uncertain to use).
#
# Cardiac output is computed from heart rate and stroke volume draw by draw, so its interval
# carries the uncertainty of both.

# %%
quality, estimates = {}, {}
for name, posterior in posteriors.items():
    generator = torch.Generator().manual_seed(SEED)
    quality[name], estimates[name] = estimate_recording(recording, posterior, n=N_SAMPLES,
                                                        generator=generator)
    quality[name].to_csv(OUT / f"quality_{name}.csv", index=False)
    estimates[name].to_csv(OUT / f"estimates_{name}.csv", index=False)

columns = ["start_s", "parameter", "unit", "median", "ci90_low", "ci90_high", "reject"]
print(estimates["apw"].dropna(subset=["parameter"])[columns].head(9).to_string(index=False))

# %% [markdown]
# ## 4. Biomarkers over time
#
# One panel per biomarker: the line is the posterior median of each window, the band its 90 %
# credible interval, for both models on shared axes. Rejected windows leave gaps. Where the
# monitor measured the same quantity, it is drawn in black as a reference: heart rate from the
# ECG, and mean/systolic/diastolic pressure from the arterial line. (The shipped record has no
# reference for stroke volume, cardiac output, LVET or SVR.)
#
# A PPG carries no absolute pressure level: the PPG models' pressures rest only on the pulse
# shape (and, for the hybrid, on the pressures of the real patients it was trained on), which
# their wide bands show. Where the two models disagree, trust neither without a
# reference; the model card (last section) gives each model's measured accuracy. A black ×
# marks a window whose interval is wider than the model's calibrated threshold (`reject`).

# %%
# Monitor measurement of each biomarker (by its name before any site suffix: map_radial -> map).
REFERENCES = {"hr": ("hr_ecg", "ECG"), "map": ("map_abp", "arterial line"),
              "sbp": ("sbp_abp", "arterial line"), "dbp": ("dbp_abp", "arterial line")}
COLORS = {"apw": "tab:red", "hybrid": "tab:green", "ppg": "tab:blue"}


def window_grid(table: pd.DataFrame, values: pd.DataFrame) -> pd.DataFrame:
    """``values`` (indexed by start_s) on every window of ``table``: NaN where rejected."""
    centres = table[["start_s", "duration_s"]].drop_duplicates("start_s")
    grid = centres.set_index("start_s").join(values)
    return grid.assign(centre_s=grid.index + grid["duration_s"] / 2)


def plot_biomarker(axis: plt.Axes, biomarker: str) -> None:
    """Both models' medians and 90 % bands of ``biomarker``, and the monitor's value if any."""
    for name, table in estimates.items():
        rows = table[table["parameter"] == biomarker].set_index("start_s")
        if rows.empty:
            continue
        grid = window_grid(table, rows[["median", "ci90_low", "ci90_high", "reject"]])
        axis.plot(grid["centre_s"], grid["median"], "o-", ms=3, color=COLORS[name],
                  label=f"{name.upper()} median")
        axis.fill_between(grid["centre_s"], grid["ci90_low"], grid["ci90_high"], alpha=0.25,
                          color=COLORS[name], label=f"{name.upper()} 90 % interval")
        flagged = grid[grid["reject"].eq(True)]
        axis.plot(flagged["centre_s"], flagged["median"], "x", ms=7, color="black",
                  label="interval flagged too wide")
        axis.set_ylabel(f"{biomarker} [{rows['unit'].iloc[0]}]", fontsize=9)
    if biomarker.split("_")[0] in REFERENCES:
        column, source = REFERENCES[biomarker.split("_")[0]]
        reference = window_grid(quality["apw"], quality["apw"].set_index("start_s")[[column]])
        axis.plot(reference["centre_s"], reference[column], "s--", ms=3, color="black",
                  label=f"measured ({source})")


names = [p for posterior in posteriors.values() for p in posterior.parameter_names]
biomarkers = list(dict.fromkeys(names + ["co"]))
n_rows = int(np.ceil(len(biomarkers) / 3))
fig, axes = plt.subplots(n_rows, 3, sharex=True, squeeze=False, figsize=(15, 2.6 * n_rows))
for axis, biomarker in zip(axes.flat, biomarkers, strict=False):
    plot_biomarker(axis, biomarker)
for axis in axes.flat[len(biomarkers):]:
    axis.set_visible(False)
for axis in axes[-1]:
    axis.set_xlabel("window centre [s]")
legend = {label: handle for axis in axes.flat for handle, label in
          zip(*axis.get_legend_handles_labels(), strict=True)}
fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=4, fontsize=8,
           bbox_to_anchor=(0.5, -0.04))
fig.suptitle(f"{recording.name}: posterior median and 90 % interval per 8-s window")
fig.tight_layout()
save(fig, "posteriors_over_time")

# %% [markdown]
# How close is each model's heart rate to the ECG's, on windows both accepted?

# %%
for name, table in estimates.items():
    hr = table[table["parameter"] == "hr"].merge(quality[name][["start_s", "hr_ecg"]],
                                                 on="start_s").dropna(subset=["hr_ecg"])
    error = (hr["median"] - hr["hr_ecg"]).abs()
    inside = ((hr["ci90_low"] <= hr["hr_ecg"]) & (hr["hr_ecg"] <= hr["ci90_high"])).mean()
    print(f"{name}: {len(hr)} windows, median |HR - ECG HR| = {error.median():.1f} bpm, "
          f"ECG HR inside the 90 % interval in {inside:.0%} of windows")

# %% [markdown]
# ## 5. The quality table
#
# Every window keeps its row, so nothing is silently dropped. `reason` lists every failed
# check as `check:channel` (for example `irregular_beats:ppg`), separated by `;`. The APW model
# only needs the arterial line and the PPG model only the PPG, so each model has its own
# accepted windows.

# %%
for name, table in quality.items():
    print(f"{name}: {int(table['accepted'].sum())} of {len(table)} windows accepted")
    reasons = table.loc[~table["accepted"], "reason"].str.split(";").explode()
    print(reasons.value_counts().rename("rejected windows").to_string() if len(reasons) else
          "  no window rejected")
    print()

shown = ["start_s", "accepted", "reason", "hr_ecg", "hr_abp", "hr_ppg", "map_abp",
         "abp_pulse_pressure", "ppg_quality"]
print(quality["ppg"][[c for c in shown if c in quality["ppg"]]].head(10).to_string(index=False))

# %% [markdown]
# ## 6. Limits, and where to go next
#
# The model card describes the training data, the prior ranges, the accuracy and interval
# coverage measured on held-out simulations, and the limits of the shipped models. Its limits
# section:

# %%
def markdown_section(text: str, word: str) -> str:
    """The first Markdown section whose heading contains ``word``, up to the next heading of
    the same or a higher level."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines)
                 if line.startswith("#") and word.lower() in line.lower())
    level = len(lines[start]) - len(lines[start].lstrip("#"))
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#")
                and len(lines[i]) - len(lines[i].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[start:end]).strip()


print(markdown_section(model_card(), "limit"))
print(markdown_section(model_card("hybrid"), "limit"))

# %% [markdown]
# For a whole cohort (a folder of WFDB records, `.vital` files or CSVs), the command line runs
# the same steps and writes one table per model plus a combined summary:
#
# ```
# cardiosbi infer path/to/cohort out=runs/my-cohort    # posterior=default: apw + hybrid
# cardiosbi report runs/my-cohort                      # -> runs/my-cohort/report.html
# ```
#
# `cardiosbi report` turns such a run into an HTML page with these plots for every record, the
# quality table and the detected beats. `cardiosbi --help` lists every command.

# %%
print(f"figures and tables written to {OUT}:")
for path in sorted(OUT.iterdir()):
    print(f"  {path.name}")
