"""The summary written next to a simulated store: failure rates, label histograms, examples."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np

from cardiosbi.datasets import store
from cardiosbi.utils.rundir import atomic_write_text


def summarize(root: Path, plots: bool = True, examples: int = 3, bins: int = 30) -> dict:
    """Write ``summary/summary.json``, ``failures.csv`` and (``plots``) ``labels.png`` and
    ``examples.png`` (a few measured windows per channel)."""
    root = Path(root)
    out = root / "summary"
    out.mkdir(exist_ok=True)
    records = store.completed_shards(root)
    group = store.open_store(root)
    layout = store.layout_of(group)
    accepted = sum(r["accepted"] for r in records.values())
    attempted = sum(r["attempted"] for r in records.values())
    surplus = sum(r["surplus"] for r in records.values())
    failures = Counter()
    for r in records.values():
        failures.update(r["failures"])
    prior_rejected = sum(r["prior_rejected"] for r in records.values())
    timing = Counter()
    for r in records.values():
        timing.update(r["timing"])
    summary = {
        "store": str(root / store.STORE_NAME), "accepted": accepted, "attempted": attempted,
        "shards_done": len(records), "shards_total": layout.n_shards,
        "surplus": surplus,  # successful candidates simulated beyond a shard's need (unused)
        "failure_rate": sum(failures.values()) / attempted if attempted else 0.0,
        "failure_rate_by_reason": {k: v / attempted for k, v in sorted(failures.items())},
        "failures_by_reason": dict(sorted(failures.items())),
        "prior_rejected_fraction": prior_rejected / (prior_rejected + attempted) if attempted else 0.0,
        "seconds_by_stage": {k: round(v, 3) for k, v in sorted(timing.items())},
        "labels": _label_stats(group, layout),
    }
    atomic_write_text(out / "summary.json", json.dumps(summary, indent=2))
    _failures_csv(out / "failures.csv", records, group.attrs["parameter_names"])
    if plots:
        _plots(out, group, layout, examples, bins)
    return summary


def _label_stats(group, layout) -> dict:
    stats = {}
    for name in layout.label_names:
        values = group[f"labels/{name}"][:]
        finite = values[np.isfinite(values)]
        if finite.size:
            stats[name] = {"min": float(finite.min()), "median": float(np.median(finite)),
                           "max": float(finite.max())}
    return stats


def _failures_csv(path: Path, records: dict, names: list[str]) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["shard", "seed", "reason", *names])
        for shard, record in sorted(records.items()):
            for failure in record["failed"]:
                writer.writerow([shard, failure["seed"], failure["reason"], *failure["theta"]])


def _plots(out: Path, group, layout, examples: int, bins: int) -> None:
    from matplotlib.figure import Figure

    names = layout.label_names
    cols = 4
    rows = -(-len(names) // cols)
    fig = Figure(figsize=(3 * cols, 2.2 * rows))  # pyplot-free: no global backend state
    axes = fig.subplots(rows, cols, squeeze=False)
    for ax, name in zip(axes.flat, names, strict=False):
        values = group[f"labels/{name}"][:]
        ax.hist(values[np.isfinite(values)], bins=bins)
        ax.set_title(name, fontsize=9)
    for ax in list(axes.flat)[len(names):]:
        ax.axis("off")
    fig.subplots_adjust(hspace=0.6, wspace=0.3)
    fig.savefig(out / "labels.png", dpi=80)

    fs = group.attrs["fs"]
    fig = Figure(figsize=(8, 2.2 * len(layout.channels)))
    axes = fig.subplots(len(layout.channels), 1, squeeze=False)
    for ax, channel in zip(axes[:, 0], layout.channels, strict=True):
        windows = group[f"x/{channel}"][: min(examples, layout.n)]
        t = np.arange(windows.shape[1]) / fs
        for row in windows:
            ax.plot(t, row, lw=0.8)
        ax.set_title(f"{channel} [{group.attrs['channel_units'][channel]}]", fontsize=9)
    axes[-1, 0].set_xlabel("time [s]")
    fig.subplots_adjust(hspace=0.6)
    fig.savefig(out / "examples.png", dpi=80)
