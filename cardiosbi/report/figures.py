"""The report's matplotlib figures, each returned as PNG bytes (embedded as base64 in the page)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # the report renders off screen (CLI, CI, servers)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from cardiosbi.report.references import series_groups  # noqa: E402
from cardiosbi.report.waveforms import BEAT_NAMES, Trace  # noqa: E402

REJECTED_COLOR = "#d62728"
FLAGGED_COLOR = "#ff7f0e"
DPI = 90


def to_png(fig: plt.Figure) -> bytes:
    """The figure as PNG bytes; the figure is closed."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return buffer.getvalue()


def waveform_figure(trace: Trace, quality: pd.DataFrame) -> bytes:
    """Raw (top) and cleaned with detected beats (bottom) over the shown span; rejected windows
    shaded and labelled with their reason."""
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(14, 4.2), sharex=True)
    top.plot(trace.times, trace.raw, lw=0.5, color="0.2")
    top.set_ylabel(f"raw [{trace.unit}]")
    bottom.plot(trace.times, trace.cleaned, lw=0.5, color="tab:blue")
    mark_beats(bottom, trace, np.ones(trace.times.size, dtype=bool), size=2.5)
    bottom.set_ylabel("cleaned")
    bottom.set_xlabel("time from record start [s]")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    end = trace.times[-1] if trace.times.size else 0.0
    for axis in (top, bottom):
        shade_rejected(axis, quality, end, label=axis is top)
    low, high = top.get_ylim()
    top.set_ylim(low, high + 0.8 * (high - low))  # headroom: reason labels above the trace
    top.set_title(f"{trace.name}: raw and cleaned, rejected windows shaded", fontsize=10)
    return to_png(fig)


def zoom_figure(traces: list[Trace], start: float, duration: float) -> bytes:
    """Every channel's cleaned signal and beats over one window, where single beats show."""
    fig, axes = plt.subplots(len(traces), 1, figsize=(14, 1.7 * len(traces) + 0.5),
                             sharex=True, squeeze=False)
    for axis, trace in zip(axes[:, 0], traces, strict=True):
        inside = (trace.times >= start) & (trace.times < start + duration)
        axis.plot(trace.times[inside], trace.cleaned[inside], lw=0.8, color="tab:blue")
        mark_beats(axis, trace, inside, size=4)
        axis.set_ylabel(trace.name, fontsize=8)
        axis.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    axes[-1, 0].set_xlabel("time from record start [s]")
    axes[0, 0].set_title(f"cleaned signals and detected beats, {start:g}-{start + duration:g} s",
                         fontsize=10)
    return to_png(fig)


def mark_beats(axis: plt.Axes, trace: Trace, inside: np.ndarray, size: float) -> None:
    """Mark the counted beats (and PPG systolic peaks) that fall where ``inside`` is True."""
    markers = [(trace.beats, BEAT_NAMES[trace.kind], "o", "tab:green")]
    if trace.peaks is not None:
        markers.append((trace.peaks, "PPG systolic peaks", "^", "tab:purple"))
    for indices, name, marker, color in markers:
        indices = indices[indices < trace.cleaned.size]
        indices = indices[inside[indices]]
        axis.plot(trace.times[indices], trace.cleaned[indices], marker, ms=size, color=color,
                  ls="none", label=f"{name} ({indices.size})")


def shade_rejected(axis: plt.Axes, quality: pd.DataFrame, end: float, label: bool) -> None:
    """Shade rejected windows (up to ``end`` s); with ``label``, write the reason inside."""
    rejected = quality[~quality["accepted"].astype(bool) & (quality["start_s"] < end)]
    for row in rejected.itertuples():
        axis.axvspan(row.start_s, row.start_s + row.duration_s, color=REJECTED_COLOR,
                     alpha=0.12, lw=0)
        if label:
            axis.text(row.start_s + 0.5 * row.duration_s, 0.98, str(row.reason).replace(";", "\n"),
                      transform=axis.get_xaxis_transform(), rotation=90, fontsize=5.5,
                      ha="center", va="top", color=REJECTED_COLOR)


def biomarker_figure(estimates: pd.DataFrame, quality: pd.DataFrame) -> bytes:
    """Posterior median over time with 50% and 90% bands per biomarker; rejected windows and
    windows the posterior flagged are gaps (shaded red and marked orange respectively)."""
    groups = series_groups(estimates)
    fig, axes = plt.subplots(len(groups), 1, figsize=(14, 1.9 * len(groups) + 0.6), sharex=True,
                             squeeze=False)
    end = float((quality["start_s"] + quality["duration_s"]).max())
    for axis, (label, rows) in zip(axes[:, 0], groups, strict=True):
        _biomarker_panel(axis, label, rows, quality)
        shade_rejected(axis, quality, end, label=False)
    axes[-1, 0].set_xlabel("time from record start [s]")
    axes[0, 0].legend(loc="lower right", bbox_to_anchor=(1.0, 1.0), fontsize=7, ncol=4)
    return to_png(fig)


def _biomarker_panel(axis: plt.Axes, label: str, rows: pd.DataFrame,
                     quality: pd.DataFrame) -> None:
    grid = quality[["start_s", "duration_s"]].merge(rows, on=["start_s", "duration_s"],
                                                    how="left").sort_values("start_s")
    shown = (grid["median"].notna() & ~grid["reject"].astype(bool)).to_numpy()
    # Each window's band spans the window (a step from its start to its end), so windows next
    # to each other join up and a lone accepted window between rejected ones stays visible.
    edges = np.column_stack([grid["start_s"], grid["start_s"] + grid["duration_s"]]).ravel()
    mask = np.repeat(shown, 2)
    for low, high, alpha, name in (("ci90_low", "ci90_high", 0.15, "90% credible band"),
                                   ("ci50_low", "ci50_high", 0.35, "50% credible band")):
        axis.fill_between(edges, np.repeat(grid[low].to_numpy(), 2),
                          np.repeat(grid[high].to_numpy(), 2), where=mask, color="tab:blue",
                          alpha=alpha, lw=0, label=name)
    centre = grid["start_s"] + 0.5 * grid["duration_s"]
    axis.plot(centre, grid["median"].where(shown), "o-", ms=3, lw=1, color="tab:blue",
              label="posterior median")
    flagged = grid["median"].notna() & grid["reject"].astype(bool)
    axis.plot(centre[flagged], grid.loc[flagged, "median"], "x", color=FLAGGED_COLOR, ms=5,
              label="flagged (reject)")
    unit = rows["unit"].dropna().iloc[0] if rows["unit"].notna().any() else ""
    axis.set_ylabel(f"{label}\n[{unit}]", fontsize=8)


def decoded_pressure_figure(windows: list) -> bytes:
    """Per window (columns): the PPG the hybrid read (top) and the arterial pressures it decoded
    from it (bottom, one thin line per latent draw), with the measured ABP when there is one.

    ``windows``: :class:`cardiosbi.report.model.DecodedWindow` items. The measured ABP is drawn
    at its own clock time; its pulses lead or lag the decoded ones by the PPG-ABP transit time
    the model learned to remove, so compare shapes and levels, not timing."""
    fig, axes = plt.subplots(2, len(windows), figsize=(4.6 * len(windows) + 0.6, 4.4),
                             sharex="col", squeeze=False, gridspec_kw={"height_ratios": [1, 1.6]})
    for column, window in enumerate(windows):
        top, bottom = axes[0, column], axes[1, column]
        top.plot(window.times, window.ppg, lw=0.8, color="tab:green")
        top.set_title(f"window at {window.start_s:g} s", fontsize=9)
        for i, draw in enumerate(window.decoded):
            bottom.plot(window.times, draw, lw=0.6, alpha=0.6, color="tab:blue",
                        label="decoded pressure draws" if i == 0 else None)
        if window.abp is not None:
            bottom.plot(window.abp_times, window.abp, lw=1.0, color="k", label="measured ABP")
        bottom.set_xlabel("time from record start [s]")
    axes[0, 0].set_ylabel("PPG (z-scored)", fontsize=8)
    axes[1, 0].set_ylabel("arterial pressure [mmHg]", fontsize=8)
    axes[1, -1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    return to_png(fig)


def reference_figure(comparison: pd.DataFrame, title: str, unit: str) -> bytes:
    """Estimates (dots, posterior 90% intervals as bars) against the reference per window:
    left over time, right estimate vs reference with the identity line."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 3.6),
                                      gridspec_kw={"width_ratios": [2.2, 1]})
    reference = comparison.drop_duplicates("start_s").sort_values("start_s")
    left.plot(reference["start_s"], reference["reference_value"], "ks", ms=4, mfc="none",
              label="reference")
    for index, (estimator, rows) in enumerate(comparison.groupby("estimator", sort=False)):
        color = f"C{index}"
        errors = _interval(rows)
        left.errorbar(rows["start_s"], rows["estimate"], yerr=errors, fmt="o", ms=3,
                      color=color, elinewidth=0.8, label=estimator)
        right.errorbar(rows["reference_value"], rows["estimate"], yerr=errors, fmt="o", ms=3,
                       color=color, elinewidth=0.8)
    lo = float(np.nanmin(comparison[["reference_value", "estimate"]].to_numpy()))
    hi = float(np.nanmax(comparison[["reference_value", "estimate"]].to_numpy()))
    right.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    left.set_xlabel("window start [s]")
    left.set_ylabel(f"[{unit}]")
    left.legend(fontsize=7)
    right.set_xlabel(f"reference [{unit}]")
    right.set_ylabel(f"estimate [{unit}]")
    left.set_title(title, fontsize=10)
    return to_png(fig)


def _interval(rows: pd.DataFrame) -> np.ndarray | None:
    if rows["ci90_low"].isna().all():
        return None
    lower = (rows["estimate"] - rows["ci90_low"]).clip(lower=0)
    upper = (rows["ci90_high"] - rows["estimate"]).clip(lower=0)
    return np.vstack([lower.fillna(0), upper.fillna(0)])
