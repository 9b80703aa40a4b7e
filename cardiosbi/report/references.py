"""Estimates against reference channels, per window: HR against the ECG (else a beat rate), MAP,
SBP and DBP against the arterial line.

The references are the preprocessing's per-window measurements (``hr_ecg`` from ECG R peaks,
``hr_ppg``/``hr_abp`` from PPG/ABP beats, ``map_abp``/``sbp_abp``/``dbp_abp`` from ABP beats).
Only accepted windows are compared, and a posterior estimate only where it was not rejected.
A check is *circular* when the model reads the channel the reference is measured on (the
``apw`` model reads the ABP): agreement there shows consistency, not validity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from cardiosbi.signals.windows import MODEL_KINDS

COLUMNS = ["window", "start_s", "reference", "reference_value", "estimator", "estimate",
           "ci90_low", "ci90_high", "difference", "check", "validity"]
AGREEMENT_COLUMNS = ["reference", "estimator", "check", "validity", "windows",
                     "mean_abs_difference", "mean_difference"]
INDEPENDENT = "independent"
BEAT_CHECK = "beat detector (not the model)"
UNKNOWN_CHECK = "possibly circular: the model's inputs are unknown here"


@dataclass(frozen=True)
class Source:
    """Where a reference value comes from: a quality-table column measured on ``channel``."""

    column: str    # "hr_ecg"
    channel: str   # "ecg"
    name: str      # "ECG" (as in "HR vs ECG")
    legend: str    # "HR from ECG R peaks"


@dataclass(frozen=True)
class Reference:
    """A quantity checked against per-window reference values: each window takes the first of
    ``sources`` that has a value there."""

    quantity: str                  # "HR"
    biomarker: str                 # base name of the posterior biomarkers compared ("hr")
    unit: str
    sources: tuple[Source, ...]
    beat_columns: tuple[str, ...] = ()   # beat-detected estimates also compared (PPG HR)

    @property
    def name(self) -> str:
        return f"{self.quantity} vs {self.sources[0].name}"

    def label(self, source: Source) -> str:
        return f"{self.quantity} vs {source.name}"


HR_SOURCES = {
    "ecg": Source("hr_ecg", "ecg", "ECG", "HR from ECG R peaks"),
    "ppg": Source("hr_ppg", "ppg", "PPG beat rate", "HR from PPG beats"),
    "abp": Source("hr_abp", "abp", "ABP beat rate", "HR from ABP pulses"),
}
PRESSURES = (("MAP", "map", "map_abp"), ("SBP", "sbp", "sbp_abp"), ("DBP", "dbp", "dbp_abp"))


def references_for(reads: frozenset[str] | None) -> tuple[Reference, ...]:
    """The checks of a run whose model reads the channel kinds ``reads`` (None: unknown).

    HR is checked against the ECG; windows without one fall back to a beat rate, first from a
    channel the model does not read (a genuine check), then from one it reads (circular)."""
    fallback = sorted(("ppg", "abp"), key=lambda kind: reads is not None and kind in reads)
    hr = Reference("HR", "hr", "bpm", tuple(HR_SOURCES[k] for k in ("ecg", *fallback)),
                   beat_columns=("hr_ppg", "hr_abp"))
    pressures = tuple(
        Reference(quantity, biomarker, "mmHg",
                  (Source(column, "abp", "ABP", f"{quantity} from the arterial line"),))
        for quantity, biomarker, column in PRESSURES)
    return (hr, *pressures)


def check_of(source: Source, reads: frozenset[str] | None) -> str:
    """Whether comparing the model with ``source`` validates it ("independent") or not."""
    if source.channel not in MODEL_KINDS:  # no model reads it (the ECG)
        return INDEPENDENT
    if reads is None:
        return UNKNOWN_CHECK
    if source.channel in reads:
        return f"circular: the model reads this {source.channel.upper()}"
    return INDEPENDENT


def reference_values(reference: Reference, quality: pd.DataFrame) -> pd.DataFrame:
    """Per accepted window with a reference value: window, start_s, duration_s,
    reference_value, and the ``source`` (a :class:`Source`) it came from."""
    accepted = quality[quality["accepted"].astype(bool)]
    value = pd.Series(np.nan, index=accepted.index)
    source = pd.Series(None, index=accepted.index, dtype=object)
    for candidate in reference.sources:
        if candidate.column not in accepted:
            continue
        fill = value.isna() & accepted[candidate.column].notna()
        value[fill] = accepted.loc[fill, candidate.column]
        source[fill] = candidate
    table = accepted[["window", "start_s", "duration_s"]].assign(reference_value=value,
                                                                source=source)
    return table[table["reference_value"].notna()]


def has_reference(reference: Reference, quality: pd.DataFrame) -> bool:
    return not reference_values(reference, quality).empty


def compare(reference: Reference, quality: pd.DataFrame, estimates: pd.DataFrame | None,
            reads: frozenset[str] | None = None) -> pd.DataFrame:
    """Tidy per-window comparison rows (``COLUMNS``); empty when the reference is absent."""
    base = reference_values(reference, quality)
    if base.empty:
        return pd.DataFrame(columns=COLUMNS)
    base = base.assign(reference=[reference.label(s) for s in base["source"]],
                       check=[check_of(s, reads) for s in base["source"]])
    parts = []
    for column in reference.beat_columns:
        if column not in quality:
            continue
        own = base[[s.column != column for s in base["source"]]]
        beat = quality[["start_s", column]].rename(columns={column: "estimate"})
        parts.append(own.merge(beat, on="start_s").assign(
            estimator=f"{column} (beat detection)", ci90_low=np.nan, ci90_high=np.nan,
            check=BEAT_CHECK, validity=""))
    for label, rows in posterior_series(estimates, reference.biomarker):
        kept = rows.loc[rows["status"] != "rejected",
                        ["start_s", "median", "ci90_low", "ci90_high", "validity"]]
        parts.append(base.merge(kept.rename(columns={"median": "estimate"}), on="start_s")
                     .assign(estimator=f"{label} (posterior median)"))
    if not parts:
        return pd.DataFrame(columns=COLUMNS)
    table = pd.concat(parts, ignore_index=True).dropna(subset=["estimate"])
    table["difference"] = table["estimate"] - table["reference_value"]
    return table[COLUMNS]


def posterior_series(estimates: pd.DataFrame | None, biomarker: str
                     ) -> list[tuple[str, pd.DataFrame]]:
    """(label, rows) per estimated biomarker named ``biomarker`` or ``biomarker_<site>``, one
    per model when the table has a ``model`` column."""
    if estimates is None or "parameter" not in estimates:
        return []
    names = estimates["parameter"].dropna().astype(str)
    wanted = names[names.map(lambda name: base_name(name) == biomarker)].unique()
    return series_groups(estimates[estimates["parameter"].isin(wanted)])


def base_name(parameter: str) -> str:
    """``map_radial`` -> ``map``: the biomarker without its measurement site."""
    return parameter.split("_", 1)[0]


def series_groups(estimates: pd.DataFrame) -> list[tuple[str, pd.DataFrame]]:
    """Estimate rows split per (model, parameter), labelled ``parameter`` or
    ``parameter [model]``, in order of first appearance."""
    rows = estimates[estimates["parameter"].notna()]
    keys = ["model", "parameter"] if "model" in rows else ["parameter"]
    groups = []
    for key, group in rows.groupby(keys, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        label = f"{key[1]} [{key[0]}]" if len(key) == 2 else str(key[0])
        groups.append((label, group))
    return groups


def agreement(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per reference source and estimator: whether the check is independent, the estimate's
    validity, windows compared, mean absolute difference and mean difference (bias)."""
    if comparison.empty:
        return pd.DataFrame(columns=AGREEMENT_COLUMNS)
    grouped = comparison.groupby(["reference", "estimator"], sort=False)
    table = grouped.agg(check=("check", "first"), validity=("validity", "first"),
                        windows=("difference", "count"),
                        mean_abs_difference=("difference", lambda d: d.abs().mean()),
                        mean_difference=("difference", "mean"))
    return table.reset_index()[AGREEMENT_COLUMNS]
