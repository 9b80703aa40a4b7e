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
# # One patient in depth
#
# For a clinician or researcher looking at **one** bedside recording: which stretches of signal
# could be used and why the others were not, what the two default models infer over time next
# to what the monitor measured, what one window's posterior looks like, and which of the
# numbers can be trusted.
#
# 1. load the recording (PPG, invasive arterial pressure, ECG);
# 2. the signal-quality table: accepted windows and the reasons for every rejection;
# 3. the default models, **APW** (reads the arterial line) and **HYBRID** (reads the PPG only),
#    on every 8-s window;
# 4. posteriors over time with the monitor's references, and how close they are;
# 5. one window in depth: the posterior draws of every biomarker;
# 6. what to trust: the `status`, `validity` and `reject_reason` of each estimate and the
#    model cards, in plain words.
#
# Open it in Jupyter with `jupytext --to notebook notebooks/patient.py`, or run it as a
# script: `python notebooks/patient.py`. Figures and tables are also written to `OUT`.

# %% [markdown]
# ## Parameters
#
# | variable | meaning | default |
# |---|---|---|
# | `CARDIOSBI_NB_RECORD` | the recording (WFDB record, `.vital` or `.csv`) | the shipped sample `cardiosbi/assets/samples/v136s` |
# | `CARDIOSBI_NB_SAMPLES` | posterior draws per window | 1000 |
# | `CARDIOSBI_NB_WINDOW_START` | start [s] of the window shown in depth (empty: the first window both models accepted) | empty |
# | `CARDIOSBI_NB_OUT` | folder for the figures (PNG) and tables (CSV) | `runs/patient-notebook` |
# | `CARDIOSBI_NB_SEED` | seed of the posterior draws | 0 |

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from cardiosbi.biomarkers import DERIVED
from cardiosbi.default_models import DEFAULT_SET, load_default_posterior, model_card
from cardiosbi.estimate import estimate_recording, model_input, window_config
from cardiosbi.io import load_recording
from cardiosbi.report.figures import reason_handles, reason_legend, shade_rejected
from cardiosbi.report.references import agreement, compare, references_for
from cardiosbi.signals.windows import make_windows
from cardiosbi.utils.paths import sample_record

RECORD = os.environ.get("CARDIOSBI_NB_RECORD") or sample_record()
N_SAMPLES = int(os.environ.get("CARDIOSBI_NB_SAMPLES", "1000"))
WINDOW_START = (float(os.environ["CARDIOSBI_NB_WINDOW_START"])
                if os.environ.get("CARDIOSBI_NB_WINDOW_START") else None)
OUT = Path(os.environ.get("CARDIOSBI_NB_OUT", "runs/patient-notebook"))
SEED = int(os.environ.get("CARDIOSBI_NB_SEED", "0"))

OUT.mkdir(parents=True, exist_ok=True)
MODELS = DEFAULT_SET  # ("apw", "hybrid"): what `cardiosbi infer` runs by default
COLORS = {"apw": "tab:red", "hybrid": "tab:green"}
print(f"record: {RECORD}\nposterior draws per window: {N_SAMPLES}\noutput folder: {OUT}")


def save(fig: plt.Figure, name: str) -> None:
    """Write ``fig`` as ``OUT/name.png`` (Jupyter also shows it below the cell)."""
    fig.savefig(OUT / f"{name}.png", dpi=90, bbox_inches="tight")


# %% [markdown]
# ## 1. The recording

# %%
recording = load_recording(RECORD)
print(f"{recording.name}: {recording.duration_s:.0f} s")
for key, channel in recording.channels.items():
    print(f"  {key:6s} ({channel.raw_name}): {channel.fs:g} Hz, {channel.unit}")

# %% [markdown]
# ## 2. Which windows can be used, and why not the others
#
# Each model cuts the recording into 8-s windows of the channel it reads and checks each one
# (missing samples, flat or clipped stretches, too few or irregular beats, implausible
# pressures, a poor PPG template match). APW reads the arterial line and HYBRID the PPG, so
# each has its own accepted windows. `estimate_recording` returns this quality table with the
# estimates; the posteriors are loaded here and run in section 3.

# %%
posteriors = {name: load_default_posterior(name) for name in MODELS}
reads = {name: frozenset(window_config(p).channels) for name, p in posteriors.items()}
quality, estimates = {}, {}
for name, posterior in posteriors.items():
    generator = torch.Generator().manual_seed(SEED)
    quality[name], estimates[name] = estimate_recording(recording, posterior, n=N_SAMPLES,
                                                        generator=generator)
    quality[name].to_csv(OUT / f"quality_{name}.csv", index=False)
    estimates[name].to_csv(OUT / f"estimates_{name}.csv", index=False)

for name, table in quality.items():
    print(f"{name} (reads {', '.join(sorted(reads[name])).upper()}): "
          f"{int(table['accepted'].sum())} of {len(table)} windows accepted")
    for _color, words, count in reason_legend(table):
        print(f"   rejected for {words}: {count} windows")

# %% [markdown]
# Where the rejected windows lie: each signal is shaded where the model reading it rejected
# a window, in the colour of the reason (a window with several reasons is split in bands).
# The ECG is read by no model; it only provides the heart-rate reference.

# %%
end_s = recording.duration_s
trace_rows = [(kind, name) for kind, name in (("ppg", "hybrid"), ("abp", "apw"), ("ecg", None))
              if recording.of_kind(kind) is not None]
fig, axes = plt.subplots(len(trace_rows) + 1, 1, figsize=(14, 2.1 * len(trace_rows) + 2.2),
                         squeeze=False)
for axis, (kind, name) in zip(axes[:-1, 0], trace_rows, strict=True):
    channel = recording.of_kind(kind)
    times = channel.start_s + np.arange(channel.signal.size) / channel.fs
    axis.plot(times, channel.signal, lw=0.4, color="0.2")
    axis.set_ylabel(f"{kind.upper()} [{channel.unit}]")
    axis.set_xlim(0, end_s)
    if name is not None:
        shade_rejected(axis, quality[name], end_s)
        axis.legend(handles=reason_handles(quality[name], end_s), fontsize=7, loc="upper right",
                    title=f"{name.upper()} windows", title_fontsize=7)
axes[-2, 0].set_xlabel("time from record start [s]")
counts = pd.DataFrame({name: {words: n for _c, words, n in reason_legend(table)}
                       for name, table in quality.items()}).fillna(0)
if counts.empty:
    axes[-1, 0].text(0.5, 0.5, "no window rejected", ha="center", transform=axes[-1, 0].transAxes)
else:
    counts.plot.barh(ax=axes[-1, 0], color=[COLORS[n] for n in counts.columns])
axes[-1, 0].set_xlabel("rejected windows [count]")
axes[-1, 0].set_title("rejected windows by reason and model", fontsize=9)
axes[0, 0].set_title(f"{recording.name}: signals and rejected windows")
fig.tight_layout()
save(fig, "quality")

# %% [markdown]
# ## 3. The estimates
#
# Each accepted window gets `N_SAMPLES` posterior draws; the table keeps per (window,
# biomarker) the median and 50/90/95 % credible intervals, and three columns that say how far
# to trust the number:
#
# - `status`: `ok`, `unvalidated` (a sound posterior for a biomarker never checked on real
#   data) or `rejected` (withheld);
# - `reject_reason`: why an estimate was withheld (interval wider than the model's calibrated
#   threshold, median at a prior bound, window unlike the training data);
# - `validity` and `validity_note`: what the model card says about this biomarker on real data.
#
# Cardiac output is HR × SV computed draw by draw, so its interval carries both uncertainties.

# %%
table = pd.concat([e.assign(model=name) for name, e in estimates.items()], ignore_index=True)
table = table.dropna(subset=["parameter"])
print(table.groupby(["model", "parameter"], sort=False)["status"].value_counts()
      .unstack(fill_value=0).to_string())

# %% [markdown]
# ## 4. Posteriors over time, against the monitor
#
# The monitor measured some of the same quantities: heart rate from the ECG's R peaks and
# mean/systolic/diastolic pressure from the arterial line. Whether such a comparison *checks*
# a model depends on what the model reads:
#
# - **HR vs ECG** is independent for both models: neither reads the ECG.
# - **MAP/SBP/DBP vs the arterial line** is **circular for APW**, which reads that very
#   arterial line: agreement shows the model is consistent, not that it is right. For HYBRID,
#   which reads only the PPG, it is an independent check.
#
# A check on a record the model was **trained on** is in-sample as well: it says nothing about
# new patients. The hybrid was trained on real ICU records and keeps their names; the APW model
# was trained on simulations only.
#
# `compare` pairs each accepted window's reference with each estimate that was not withheld.

# %%
def seen_in_training(posterior) -> bool:
    """Whether this recording was one of the real records the model was trained on."""
    training = getattr(posterior, "training", None) or {}
    return recording.name in {*training.get("train_records", []),
                              *training.get("val_records", [])}


in_sample = {name: seen_in_training(p) for name, p in posteriors.items()}
print("trained on this record: " + (", ".join(n for n, seen in in_sample.items() if seen)
                                    or "no model"))
comparisons = []
for name in MODELS:
    for reference in references_for(reads[name]):
        rows = compare(reference, quality[name], estimates[name].assign(model=name), reads[name])
        comparisons.append(rows.assign(model=name))
comparison = pd.concat(comparisons, ignore_index=True)
comparison = comparison[~comparison["estimator"].str.contains("beat detection")]
comparison["inside90"] = comparison["reference_value"].between(comparison["ci90_low"],
                                                               comparison["ci90_high"])
scores = agreement(comparison).merge(
    comparison.groupby(["reference", "estimator"])["inside90"].mean().rename("coverage90"),
    on=["reference", "estimator"])
scores.to_csv(OUT / "agreement.csv", index=False)
print(scores.round(2).to_string(index=False))

# %% [markdown]
# One panel per biomarker: each model's posterior median (line) and 90 % interval (band) per
# window; a window whose estimate was withheld is a gap with a × at the bottom of the panel.
# Black squares are the monitor's values where a model was compared with them; the panel title
# says each model's validity for that biomarker.

# %%
WINDOW_S = float(quality["apw"]["duration_s"].iloc[0])
NAMES = {"hr": "heart rate", "map_radial": "mean arterial pressure",
         "sbp_radial": "systolic pressure", "dbp_radial": "diastolic pressure",
         "sv": "stroke volume", "co": "cardiac output", "lvet": "LV ejection time",
         "svr": "systemic vascular resistance"}
BIOMARKERS = list(NAMES)
units = dict(zip(table["parameter"], table["unit"], strict=False))
REFERENCE_OF = {"hr": "HR", "map_radial": "MAP", "sbp_radial": "SBP", "dbp_radial": "DBP"}


def plot_over_time(axis: plt.Axes, biomarker: str) -> None:
    """Each model's medians and 90 % bands of ``biomarker`` and the references compared."""
    validity = []
    for name in MODELS:
        rows = table[(table["model"] == name) & (table["parameter"] == biomarker)]
        grid = quality[name][["start_s", "duration_s"]].merge(rows, how="left",
                                                              on=["start_s", "duration_s"])
        used = grid["status"].ne("rejected") & grid["median"].notna()
        centre = grid["start_s"] + grid["duration_s"] / 2
        axis.plot(centre, grid["median"].where(used), "o-", ms=3, lw=1, color=COLORS[name],
                  label=f"{name.upper()} median")
        # each band spans its window, so a lone accepted window between gaps stays visible
        edges = np.column_stack([grid["start_s"], grid["start_s"] + grid["duration_s"]]).ravel()
        axis.fill_between(edges, np.repeat(grid["ci90_low"], 2), np.repeat(grid["ci90_high"], 2),
                          where=np.repeat(used, 2), color=COLORS[name], alpha=0.2, lw=0,
                          label=f"{name.upper()} 90 % interval")
        withheld = grid["status"].eq("rejected")
        axis.plot(centre[withheld], np.full(withheld.sum(), 0.04), "x", color=COLORS[name],
                  transform=axis.get_xaxis_transform(), label=f"{name.upper()} estimate withheld")
        if len(rows):
            validity.append(f"{name.upper()}: {rows['validity'].iloc[0]}")
    axis.set_ylabel(f"{biomarker} [{units[biomarker]}]")
    quantity = REFERENCE_OF.get(biomarker)
    if quantity is not None:
        refs = comparison[comparison["reference"].str.startswith(f"{quantity} vs")]
        refs = refs.drop_duplicates("start_s")
        axis.plot(refs["start_s"] + WINDOW_S / 2, refs["reference_value"], "s", ms=3.5, mfc="none",
                  color="black", label="monitor reference (ECG HR / arterial line)")
    axis.set_title(f"{NAMES[biomarker]} - " + ", ".join(validity), fontsize=8, loc="left")


fig, axes = plt.subplots(4, 2, figsize=(15, 11), sharex=True)
for axis, biomarker in zip(axes.flat, BIOMARKERS, strict=True):
    plot_over_time(axis, biomarker)
for axis in axes[-1]:
    axis.set_xlabel("time from record start [s]")
legend = {label: handle for axis in axes.flat
          for handle, label in zip(*axis.get_legend_handles_labels(), strict=True)}
fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=4, fontsize=8,
           bbox_to_anchor=(0.5, -0.04))
fig.suptitle(f"{recording.name}: posterior median and 90 % interval per 8-s window")
fig.tight_layout()
save(fig, "posteriors_over_time")

# %% [markdown]
# ## 5. One window in depth
#
# The summary table keeps a few numbers per window; the posterior itself is a cloud of draws.
# For one window accepted by both models, here are all draws of every biomarker: the
# histogram, the 90 % credible interval (dashed) and the monitor's value (black).

# %%
def window_draws(name: str, start_s: float) -> pd.DataFrame:
    """``N_SAMPLES`` posterior draws of model ``name`` for the accepted window at ``start_s``,
    one column per biomarker (CO derived draw by draw as HR x SV)."""
    posterior = posteriors[name]
    windows, own = make_windows(recording, config=window_config(posterior))
    index = int(own.loc[own["start_s"] == start_s, "window"].iloc[0])
    x = model_input(posterior, windows[index : index + 1])[0]
    draws = posterior.sample((N_SAMPLES,), x=x, generator=torch.Generator().manual_seed(SEED))
    frame = pd.DataFrame(draws.double().numpy(), columns=posterior.parameter_names)
    for derived in DERIVED:
        frame[derived.name] = derived.function(*(frame[n] for n in derived.inputs))
    return frame


both = set.intersection(*(set(q.loc[q["accepted"], "start_s"]) for q in quality.values()))
if WINDOW_START is not None and WINDOW_START not in both:
    raise ValueError(f"no window at {WINDOW_START} s was accepted by both models; "
                     f"accepted by both: {sorted(both)}")
start = WINDOW_START if WINDOW_START is not None else min(both)
draws = {name: window_draws(name, start) for name in MODELS}
measured = quality["apw"].set_index("start_s").loc[start]
MEASURED = {"hr": measured["hr_ecg"], "map_radial": measured["map_abp"],
            "sbp_radial": measured["sbp_abp"], "dbp_radial": measured["dbp_abp"]}

fig, axes = plt.subplots(2, 4, figsize=(16, 6.5))
for axis, biomarker in zip(axes.flat, BIOMARKERS, strict=True):
    pooled = np.concatenate([frame[biomarker] for frame in draws.values()])
    bins = np.linspace(*np.quantile(pooled, [0.005, 0.995]), 41)  # far tails left out
    for name, frame in draws.items():
        values = frame[biomarker]
        low, high = np.quantile(values, [0.05, 0.95])
        axis.hist(values, bins=bins, density=True, histtype="stepfilled", alpha=0.35,
                  color=COLORS[name], label=f"{name.upper()} draws")
        for bound in (low, high):
            axis.axvline(bound, ls="--", lw=1, color=COLORS[name])
    if pd.notna(MEASURED.get(biomarker)):
        axis.axvline(MEASURED[biomarker], color="black", lw=2, label="monitor value")
    axis.set_xlabel(f"{NAMES[biomarker]} [{units[biomarker]}]")
    axis.set_yticks([])
axes[0, 0].set_ylabel("posterior density")
axes[1, 0].set_ylabel("posterior density")
legend = {label: handle for axis in axes.flat
          for handle, label in zip(*axis.get_legend_handles_labels(), strict=True)}
legend["90 % credible interval"] = plt.Line2D([], [], ls="--", color="0.4")
fig.legend(legend.values(), legend.keys(), loc="lower center", ncol=4, fontsize=8,
           bbox_to_anchor=(0.5, -0.05))
fig.suptitle(f"{recording.name}: posterior draws of the window {start:g}-{start + WINDOW_S:g} s "
             f"({N_SAMPLES} per model)")
fig.tight_layout()
save(fig, "window_draws")

rows = [{"model": name, "biomarker": b, "median": frame[b].median(),
         "ci90_low": frame[b].quantile(0.05), "ci90_high": frame[b].quantile(0.95),
         "monitor": MEASURED.get(b, np.nan)} for name, frame in draws.items() for b in BIOMARKERS]
print(pd.DataFrame(rows).round(1).to_string(index=False))

# %% [markdown]
# ## 6. What to trust
#
# Each estimate carries its model card's verdict for that biomarker (`validity`) and, when it
# was withheld, the reason. Read together:

# %%
STATUS_WORDS = {
    "validated": "validated on real data: usable as a number, with its interval",
    "in silico only": "accurate on simulations only: never compared with a real measurement; "
                      "read trends and intervals, not absolute values",
    "known bias": "compared on real data and found biased or no better than a trivial guess: "
                  "do not use as a number",
}


def trust_rows(name: str, rows: pd.DataFrame) -> dict:
    """One model's verdict on one biomarker over the record."""
    withheld = rows[rows["status"] == "rejected"]
    reasons = (withheld["reject_reason"].str.split("; ").explode().str.split(" [(]").str[0]
               .value_counts())
    return {"model": name, "biomarker": rows["parameter"].iloc[0],
            "validity": rows["validity"].iloc[0], "windows": len(rows),
            "withheld": len(withheld),
            "withheld_because": "; ".join(f"{why} ({n})" for why, n in reasons.items()),
            "note": rows["validity_note"].iloc[0]}


trust = pd.DataFrame([trust_rows(name, rows) for (name, _p), rows
                      in table.groupby(["model", "parameter"], sort=False)])
trust.to_csv(OUT / "trust.csv", index=False)
for status, words in STATUS_WORDS.items():
    chosen = trust[trust["validity"] == status]
    if chosen.empty:
        continue
    print(f"\n{status.upper()}: {words}")
    for row in chosen.itertuples():
        print(f"  {row.model.upper()} {row.biomarker}: {row.note}")
print("\nWITHHELD estimates (not shown as numbers anywhere):")
for row in trust[trust["withheld"] > 0].itertuples():
    print(f"  {row.model.upper()} {row.biomarker}: {row.withheld} of {row.windows} windows, "
          f"{row.withheld_because}")

# %% [markdown]
# For this record, in plain words:

# %%
def plain_verdict() -> list[str]:
    """Sentences on what this record's numbers are worth, from the tables above."""
    model_of = comparison.drop_duplicates("estimator").set_index("estimator")["model"]
    lines = []
    for row in scores.itertuples():
        if "circular" in row.check:
            kind = "circular: the model reads this signal, so this shows consistency only"
        elif in_sample[model_of[row.estimator]]:
            kind = "in-sample: the model was trained on this record, so this is no test"
        else:
            kind = "an independent check"
        lines.append(
            f"{row.reference}, {row.estimator}: {row.windows} windows, mean |difference| "
            f"{row.mean_abs_difference:.1f}, bias {row.mean_difference:+.1f}, reference inside "
            f"the 90 % interval in {row.coverage90:.0%} - {kind}")
    withheld = trust["withheld"].sum() / max(trust["windows"].sum(), 1)
    lines.append(f"{withheld:.0%} of all estimates were withheld; their values appear nowhere.")
    return lines


print("\n".join(plain_verdict()))

# %% [markdown]
# The model cards say what each status rests on. Their "what each number can be trusted for"
# sections:

# %%
def markdown_section(text: str, word: str) -> str:
    """The first Markdown section whose heading contains ``word``, up to the next heading of
    the same or a higher level."""
    lines = text.splitlines()
    start_line = next(i for i, line in enumerate(lines)
                      if line.startswith("#") and word.lower() in line.lower())
    level = len(lines[start_line]) - len(lines[start_line].lstrip("#"))
    end = next((i for i in range(start_line + 1, len(lines)) if lines[i].startswith("#")
                and len(lines[i]) - len(lines[i].lstrip("#")) <= level), len(lines))
    return "\n".join(lines[start_line:end]).strip()


for name in MODELS:
    print(markdown_section(model_card(name), "trusted for"), end="\n\n")

# %%
print(f"figures and tables written to {OUT}:")
for path in sorted(OUT.iterdir()):
    print(f"  {path.name}")
