"""The report's matplotlib figures, each returned as PNG bytes (embedded as base64 in the page)."""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from cardiosbi.report.references import (
    INDEPENDENT,
    Source,
    base_name,
    series_groups,
)
from cardiosbi.report.waveforms import BEAT_NAMES, Trace  # noqa: E402

DPI = 90
# Greyed estimates: a grey with a trace of blue, so a greyed panel still reads as drawn data
# (tests tell an empty plot from a real one by its coloured pixels).
UNVALIDATED_COLOR = "#7a8796"
NOT_VALIDATED_SUFFIX = " (not validated on real data)"
# Reference markers (open) by the rank of their source: the primary reference, then fallbacks.
REFERENCE_STYLES = (("s", "k"), ("D", "0.4"), ("^", "0.55"))
# Window rejection reasons ("<kind>:<channel>", from cardiosbi.signals.windows): words and a
# colour per kind, the same in every figure and in the page's legend. Blue and green are left
# to the traces and the beats.
REASON_KINDS = {
    "missing": ("missing data", "#d62728"),
    "too_few_beats": ("too few beats", "#ff7f0e"),
    "implausible_hr": ("implausible heart rate", "#8c564b"),
    "irregular_beats": ("irregular beats", "#e377c2"),
    "low_quality": ("low signal quality", "#bcbd22"),
    "flat": ("flat signal", "#7f7f7f"),
    "clipped": ("clipped signal", "#17becf"),
    "out_of_range": ("values out of range", "#9467bd"),
    "implausible_pulse_pressure": ("implausible pulse pressure", "#ff9896"),
    "damped": ("damped arterial line", "#c49c94"),
    "misaligned": ("PPG and ABP misaligned", "#f7b6d2"),
    "alignment_outside_record": ("alignment outside the record", "#dbdb8d"),
    "other": ("other reason", "#393b79"),
}
# Why infer withheld an estimate of an accepted window (phrases of its ``reject_reason``, see
# cardiosbi.inference.posterior), and the marker colour under the panel.
ESTIMATE_REJECT_COLORS = {
    "interval too wide": "#ff7f0e",
    "at prior bound": "#9467bd",
    "input outside the training distribution": "#e377c2",
    "no valid posterior draws": "#7f7f7f",
    "window has NaN/inf values": "#17becf",
    "flagged by the posterior": "#8c564b",   # runs that did not record why
    "other reason": "#393b79",
}


@dataclass
class Overlay:
    """Reference values drawn over a biomarker panel: the rows of
    :func:`cardiosbi.report.references.reference_values` and, per source present, its check
    (independent or circular)."""

    values: pd.DataFrame
    sources: list[tuple[Source, str]]


def reason_codes(reason) -> list[str]:
    """``"irregular_beats:ppg;low_quality:ppg"`` -> its codes (none for a blank reason)."""
    if reason is None or (isinstance(reason, float) and np.isnan(reason)):
        return []
    return [code.strip() for code in str(reason).split(";") if code.strip()]


def reason_kind(code: str) -> str:
    kind = code.split(":", 1)[0]
    return kind if kind in REASON_KINDS else "other"


def reason_color(kind: str) -> str:
    return REASON_KINDS[kind][1]


def reason_legend(quality: pd.DataFrame) -> list[tuple[str, str, int]]:
    """(colour, words with channels, rejected windows) per reason kind in ``quality``, most
    frequent first; a window with several reasons counts once per kind."""
    rejected = quality.loc[~quality["accepted"].astype(bool), "reason"]
    windows: dict[str, int] = {}
    channels: dict[str, list[str]] = {}
    for reason in rejected:
        codes = reason_codes(reason) or ["other"]
        for kind in dict.fromkeys(reason_kind(code) for code in codes):
            windows[kind] = windows.get(kind, 0) + 1
        for code in codes:
            channel = code.split(":", 1)[1].upper().replace("_", "/") if ":" in code else ""
            names = channels.setdefault(reason_kind(code), [])
            if channel and channel not in names:
                names.append(channel)
    legend = []
    for kind, n in sorted(windows.items(), key=lambda item: -item[1]):
        words, color = REASON_KINDS[kind]
        where = f" ({', '.join(channels[kind])})" if channels.get(kind) else ""
        legend.append((color, words + where, n))
    return legend


def estimate_reject_kinds(reason: str) -> set[str]:
    """The kinds (keys of :data:`ESTIMATE_REJECT_COLORS`) a ``reject_reason`` names; reasons
    are searched for rather than split, as their details hold "; " too."""
    kinds = {kind for kind in ESTIMATE_REJECT_COLORS if kind in str(reason)}
    return kinds or ({"other reason"} if str(reason).strip() else set())


def to_png(fig: Figure) -> bytes:
    """The figure as PNG bytes. Figures are pyplot-free (``matplotlib.figure.Figure``): no
    global backend or state is touched, so importing the report inside a notebook leaves its
    inline plots alone."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return buffer.getvalue()


def waveform_figure(trace: Trace, quality: pd.DataFrame) -> bytes:
    """Raw (top) and cleaned with detected beats (bottom) over the shown span; rejected windows
    shaded in the colours of their reasons, named in the legend."""
    fig = Figure(figsize=(14, 4.2))
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.plot(trace.times, trace.raw, lw=0.5, color="0.2")
    top.set_ylabel(f"raw [{trace.unit}]")
    bottom.plot(trace.times, trace.cleaned, lw=0.5, color="tab:blue")
    mark_beats(bottom, trace, np.ones(trace.times.size, dtype=bool), size=2.5)
    bottom.set_ylabel("cleaned")
    bottom.set_xlabel("time from record start [s]")
    bottom.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7)
    end = trace.times[-1] if trace.times.size else 0.0
    for axis in (top, bottom):
        shade_rejected(axis, quality, end)
    reasons = reason_handles(quality, end)
    if reasons:
        top.legend(handles=reasons, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=8)
    top.set_title(f"{trace.name}: raw and cleaned, rejected windows shaded", fontsize=10)
    return to_png(fig)


def zoom_figure(traces: list[Trace], start: float, duration: float) -> bytes:
    """Every channel's cleaned signal and beats over one window, where single beats show."""
    fig = Figure(figsize=(14, 1.7 * len(traces) + 0.5))
    axes = fig.subplots(len(traces), 1, sharex=True, squeeze=False)
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


def mark_beats(axis: Axes, trace: Trace, inside: np.ndarray, size: float) -> None:
    """Mark the counted beats (and PPG systolic peaks) that fall where ``inside`` is True."""
    markers = [(trace.beats, BEAT_NAMES[trace.kind], "o", "tab:green")]
    if trace.peaks is not None:
        markers.append((trace.peaks, "PPG systolic peaks", "^", "tab:purple"))
    for indices, name, marker, color in markers:
        indices = indices[indices < trace.cleaned.size]
        indices = indices[inside[indices]]
        axis.plot(trace.times[indices], trace.cleaned[indices], marker, ms=size, color=color,
                  ls="none", label=f"{name} ({indices.size})")


def shade_rejected(axis: Axes, quality: pd.DataFrame, end: float) -> None:
    """Shade rejected windows (up to ``end`` s) in the colours of their reasons: a window with
    several kinds of reason is split into horizontal bands, one per kind."""
    rejected = quality[~quality["accepted"].astype(bool) & (quality["start_s"] < end)]
    for row in rejected.itertuples():
        kinds = list(dict.fromkeys(reason_kind(code) for code in reason_codes(row.reason)))
        for i, kind in enumerate(kinds or ["other"]):
            axis.axvspan(row.start_s, row.start_s + row.duration_s, ymin=i / max(len(kinds), 1),
                         ymax=(i + 1) / max(len(kinds), 1), color=reason_color(kind),
                         alpha=0.22, lw=0)


def reason_handles(quality: pd.DataFrame, end: float) -> list[Patch]:
    """Legend patches of the rejection reasons shaded up to ``end`` s."""
    shown = quality[quality["start_s"] < end]
    return [Patch(color=color, alpha=0.35, label=f"rejected: {label} ({n})")
            for color, label, n in reason_legend(shown)]


def biomarker_figure(estimates: pd.DataFrame, quality: pd.DataFrame,
                     overlays: dict[str, Overlay] | None = None) -> bytes:
    """Posterior median over time with 50% and 90% bands per biomarker, the record's reference
    values over them where there are some (``overlays``: biomarker base name -> Overlay).
    Estimates not validated on real data are grey; rejected estimates are not drawn as values
    but marked under the panel in the colour of their reason; rejected windows are shaded."""
    groups = series_groups(estimates)
    fig = Figure(figsize=(14, 1.9 * len(groups) + 0.6))
    axes = fig.subplots(len(groups), 1, sharex=True, squeeze=False)
    end = float((quality["start_s"] + quality["duration_s"]).max())
    for axis, (label, rows) in zip(axes[:, 0], groups, strict=True):
        parameter = str(rows["parameter"].iloc[0])
        _biomarker_panel(axis, label, rows, quality)
        overlay = (overlays or {}).get(base_name(parameter))
        if overlay is not None:
            _overlay_reference(axis, overlay)
        shade_rejected(axis, quality, end)
    axes[-1, 0].set_xlabel("time from record start [s]")
    handles = {h.get_label(): h for axis in axes[:, 0]
               for h in axis.get_legend_handles_labels()[0]}
    handles.update({h.get_label(): h for h in reason_handles(quality, end)})
    fig.legend(list(handles.values()), list(handles), loc="lower center",
               bbox_to_anchor=(0.5, 1.0), fontsize=8, ncol=3, frameon=False)
    fig.tight_layout()
    return to_png(fig)


def _biomarker_panel(axis: Axes, label: str, rows: pd.DataFrame,
                     quality: pd.DataFrame) -> None:
    grid = quality[["start_s", "duration_s"]].merge(rows, on=["start_s", "duration_s"],
                                                    how="left").sort_values("start_s")
    status = grid["status"].fillna("").to_numpy()
    # Each window's band spans the window (a step from its start to its end), so windows next
    # to each other join up and a lone accepted window between rejected ones stays visible.
    edges = np.column_stack([grid["start_s"], grid["start_s"] + grid["duration_s"]]).ravel()
    centre = grid["start_s"] + 0.5 * grid["duration_s"]
    for wanted, color, suffix in (("ok", "tab:blue", ""),
                                  ("unvalidated", UNVALIDATED_COLOR, NOT_VALIDATED_SUFFIX)):
        shown = (status == wanted) & grid["median"].notna().to_numpy()
        if not shown.any():
            continue
        for low, high, alpha, name in (("ci90_low", "ci90_high", 0.15, "90% credible band"),
                                       ("ci50_low", "ci50_high", 0.35, "50% credible band")):
            axis.fill_between(edges, np.repeat(grid[low].to_numpy(), 2),
                              np.repeat(grid[high].to_numpy(), 2), where=np.repeat(shown, 2),
                              color=color, alpha=alpha, lw=0, label=name + suffix)
        axis.plot(centre, grid["median"].where(shown), "o-", ms=3, lw=1, color=color,
                  label="posterior median" + suffix)
    _mark_rejected_estimates(axis, centre, grid)
    unit = rows["unit"].dropna().iloc[0] if rows["unit"].notna().any() else ""
    axis.set_ylabel(f"{label}\n[{unit}]", fontsize=8)
    unvalidated = rows[rows["status"] == "unvalidated"]
    if len(unvalidated):
        validity = "; ".join(unvalidated["validity"].unique())
        why = "; ".join(n for n in unvalidated["validity_note"].unique() if n)
        axis.set_title(f"{label}: not validated on real data ({validity}): "
                       f"{why or 'see the model card'}", fontsize=8, color="0.35", loc="left")


def _mark_rejected_estimates(axis: Axes, centre: pd.Series, grid: pd.DataFrame) -> None:
    """A row of markers under the panel, one per rejection kind, where an estimate was
    withheld: the value itself is not drawn."""
    rejected = (grid["status"] == "rejected").to_numpy()
    kinds = grid["reject_reason"].fillna("").map(estimate_reject_kinds)
    for slot, (kind, color) in enumerate(ESTIMATE_REJECT_COLORS.items()):
        hit = rejected & kinds.map(lambda found, kind=kind: kind in found).to_numpy()
        if hit.any():
            axis.plot(centre[hit], np.full(hit.sum(), 0.05 + 0.1 * slot), "v", ms=6,
                      color=color, ls="none", transform=axis.get_xaxis_transform(),
                      label=f"estimate withheld: {kind}")


def _overlay_reference(axis: Axes, overlay: Overlay) -> None:
    values = overlay.values
    centre = values["start_s"] + 0.5 * values["duration_s"]
    for index, (source, check) in enumerate(overlay.sources):
        own = np.array([s is source for s in values["source"]], dtype=bool)
        circular = "" if check == INDEPENDENT else f" ({check})"
        marker, color = REFERENCE_STYLES[index % len(REFERENCE_STYLES)]
        axis.plot(centre[own], values.loc[own, "reference_value"], marker, ms=4, mfc="none",
                  mew=1.0, ls="none", color=color, label=f"reference: {source.legend}{circular}")


def decoded_pressure_figure(windows: list) -> bytes:
    """Per window (columns): the PPG the hybrid read (top) and the arterial pressures it decoded
    from it (bottom, one thin line per latent draw), with the measured ABP when there is one.

    ``windows``: :class:`cardiosbi.report.model.DecodedWindow` items. The measured ABP is drawn
    at its own clock time; its pulses lead or lag the decoded ones by the PPG-ABP transit time
    the model learned to remove, so compare shapes and levels, not timing."""
    fig = Figure(figsize=(4.6 * len(windows) + 0.6, 4.4))
    axes = fig.subplots(2, len(windows), sharex="col", squeeze=False,
                        gridspec_kw={"height_ratios": [1, 1.6]})
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
    left over time, right estimate vs reference with the identity line. Estimates of
    biomarkers not validated on real data say so in the legend."""
    fig = Figure(figsize=(14, 3.8))
    left, right = fig.subplots(1, 2, gridspec_kw={"width_ratios": [2.2, 1]})
    references = comparison.drop_duplicates("start_s").sort_values("start_s")
    for index, (name, rows) in enumerate(references.groupby("reference", sort=False)):
        marker, color = REFERENCE_STYLES[index % len(REFERENCE_STYLES)]
        left.plot(rows["start_s"], rows["reference_value"], marker, ms=4, mfc="none",
                  color=color, ls="none", label=f"reference ({name.split(' vs ', 1)[-1]})")
    for index, (estimator, rows) in enumerate(comparison.groupby("estimator", sort=False)):
        validity = str(rows["validity"].iloc[0])
        note = f" ({validity})" if validity not in ("", "validated") else ""
        color = f"C{index}"
        errors = _interval(rows)
        left.errorbar(rows["start_s"], rows["estimate"], yerr=errors, fmt="o", ms=3,
                      color=color, elinewidth=0.8, label=estimator + note)
        right.errorbar(rows["reference_value"], rows["estimate"], yerr=errors, fmt="o", ms=3,
                       color=color, elinewidth=0.8)
    lo = float(np.nanmin(comparison[["reference_value", "estimate"]].to_numpy()))
    hi = float(np.nanmax(comparison[["reference_value", "estimate"]].to_numpy()))
    right.plot([lo, hi], [lo, hi], "k--", lw=0.8)
    left.set_xlabel("window start [s]")
    left.set_ylabel(f"[{unit}]")
    left.legend(fontsize=8)
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
