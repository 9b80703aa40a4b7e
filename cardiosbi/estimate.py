"""Posterior estimates for real recordings: windows prepared exactly as the posterior's training.

The library face of ``cardiosbi infer`` for notebooks and scripts::

    recording = load_recording("cardiosbi/assets/samples/v136s")
    posterior = load_default_posterior("apw")
    quality, estimates = estimate_recording(recording, posterior)

A posterior trained on a simulated store carries an ``input_spec`` (channels, sampling rate,
window length, normalisation); :func:`window_config` turns it into the preprocessing of real
recordings, and :func:`model_input` applies the training's normalisation to raw windows.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch

from cardiosbi.biomarkers import DERIVED
from cardiosbi.datasets.reader import NORMALIZATIONS, prepare_windows
from cardiosbi.errors import ConfigError
from cardiosbi.inference import Posterior
from cardiosbi.io import Recording
from cardiosbi.signals.windows import QualityConfig, WindowConfig, make_windows

# Simulated channel "<site>/<signal>" -> the kind of real channel that measures it.
SIGNAL_KINDS = {"P": "abp", "PPG": "ppg", "OPPG": "ppg"}
QUALITY_COLUMNS = ["record", "window", "start_s", "duration_s", "accepted", "reason"]
# A record-level value from fewer accepted windows than this is flagged as thin evidence.
MIN_WINDOWS = 3


def window_config(posterior: Posterior) -> WindowConfig:
    """The preprocessing that reproduces the posterior's training windows on real recordings."""
    spec = posterior.input_spec
    if not spec:
        raise ConfigError("this posterior file has no input spec (it was trained on tensors, not "
                          "on a simulated store), so real windows cannot be prepared for it")
    if spec["normalize"] not in NORMALIZATIONS:
        raise ConfigError(f"this posterior's windows were normalised with {spec['normalize']!r}; "
                          f"known: {', '.join(NORMALIZATIONS)}")
    if spec.get("optical_signal") == "density":
        raise ConfigError("this posterior reads optical densities (-ln intensity per LED, "
                          "simulator.optical_signal=density); monitor and WFDB pleth channels are "
                          "AC-coupled and normalised, so they carry neither DC nor AC/DC. Give it "
                          "windows of a sensor's raw LED intensities from Python "
                          "(posterior.sample / summarize)")
    kinds = []
    for channel in spec["channels"]:
        signal = channel.rsplit("/", 1)[-1]
        if signal not in SIGNAL_KINDS:
            raise ConfigError(f"simulated channel {channel!r} has no real counterpart; "
                              f"known signals: {', '.join(SIGNAL_KINDS)}")
        kinds.append(SIGNAL_KINDS[signal])
    if len(set(kinds)) != len(kinds):
        raise ConfigError(f"channels {spec['channels']} map to the same real channel twice (a "
                          "record has one pleth; several LEDs of one sensor cannot be told apart)")
    # a posterior with a missing-data mask reads gaps: its windows keep them (as NaN) up to
    # QualityConfig.max_missing_fraction_masked instead of the 2 % interpolation rule
    return WindowConfig(channels=kinds, sampling_rate=float(spec["sampling_rate"]),
                        window_s=float(spec["window_s"]), hop_s=float(spec["window_s"]),
                        quality=QualityConfig(missing_mask=posterior.reads_gaps),
                        normalize=False)  # raw windows; model_input applies the training's normalisation


def model_input(posterior: Posterior, windows: np.ndarray) -> torch.Tensor:
    """Raw (n, C, T) windows -> the posterior's input, normalised exactly as in training."""
    spec = posterior.input_spec
    return torch.from_numpy(prepare_windows(np.asarray(windows, dtype=np.float32),
                                            spec["normalize"], spec.get("stats", {})))


def estimate_windows(posterior: Posterior, windows: np.ndarray, quality: pd.DataFrame,
                     levels: Sequence[float] = (0.5, 0.9, 0.95), n: int = 1000,
                     generator: torch.Generator | None = None) -> pd.DataFrame:
    """One row per (window, biomarker), joined to the quality table.

    ``windows``: the accepted raw windows (row i = quality row with ``window == i``). Rejected
    windows keep their quality reason, get no estimate, and are ``rejected`` with the reason
    "window rejected: ..."; derived biomarkers (CO) are added.
    """
    frame = quality[QUALITY_COLUMNS].copy()
    if len(windows) == 0:
        return _window_rejects(frame.assign(parameter=np.nan))
    estimates = posterior.summarize(model_input(posterior, windows), levels=levels, n=n,
                                    generator=generator, derived=DERIVED)
    return _window_rejects(frame.merge(estimates, on="window", how="left"))


def _window_rejects(table: pd.DataFrame) -> pd.DataFrame:
    """Rows of windows the quality checks rejected: flagged, with the checks' reason."""
    dropped = ~table["accepted"].astype(bool)
    table["reject"] = table.get("reject", pd.Series(index=table.index, dtype=object))
    table.loc[dropped, "reject"] = True
    table["reject"] = table["reject"].astype(bool)
    for column in ("reject_reason", "status"):
        table[column] = table.get(column, pd.Series(index=table.index, dtype=object))
    table.loc[dropped, "reject_reason"] = "window rejected: " + table.loc[dropped, "reason"].astype(str)
    table.loc[dropped, "status"] = "rejected"
    return table


def estimate_recording(recording: Recording, posterior: Posterior, n: int = 1000,
                       levels: Sequence[float] = (0.5, 0.9, 0.95),
                       generator: torch.Generator | None = None
                       ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Quality table and per-window estimates of one loaded recording."""
    windows, quality = make_windows(recording, config=window_config(posterior))
    return quality, estimate_windows(posterior, windows, quality, levels, n, generator)


def record_summary(rid: str, table: pd.DataFrame) -> pd.DataFrame:
    """Per biomarker: median of the accepted, non-rejected window medians and their count,
    the biomarker's validation status, and ``flag``: why the row is not a sound number ('' when
    it is): unvalidated on real data, fewer than :data:`MIN_WINDOWS` windows behind it, or every
    window rejected (then the median is NaN and the most common reason is named)."""
    if "reject" not in table:  # no window of the record was accepted, so nothing was estimated
        return pd.DataFrame({"record": [rid], "parameter": [np.nan], "windows": [0]})
    estimated = table[table["accepted"] & table["parameter"].notna()]
    if estimated.empty:
        return pd.DataFrame({"record": [rid], "parameter": [np.nan], "windows": [0]})
    rows = [_biomarker_summary(parameter, unit, group)
            for (parameter, unit), group in estimated.groupby(["parameter", "unit"], sort=False)]
    return pd.DataFrame(rows).assign(record=rid)


def _biomarker_summary(parameter: str, unit: str, group: pd.DataFrame) -> dict:
    used = group[group["reject"].eq(False)]
    status = group["validity"].iloc[0] if "validity" in group else "validated"
    flags = []
    if status != "validated":
        note = group["validity_note"].iloc[0] if "validity_note" in group else ""
        flags.append(f"not validated on real data ({status}): {note}")
    if used.empty:
        reasons = group.get("reject_reason", pd.Series(dtype=str)).dropna()
        common = reasons.mode().iloc[0] if len(reasons) else "rejected"
        flags.append(f"all {len(group)} windows rejected (most often: {common})")
    elif len(used) < MIN_WINDOWS:
        flags.append(f"only {len(used)} window{'s' if len(used) > 1 else ''} (< {MIN_WINDOWS})")
    return {"parameter": parameter, "unit": unit, "median": used["median"].median(),
            "ci90_low": used["ci90_low"].median(), "ci90_high": used["ci90_high"].median(),
            "windows": len(used), "windows_rejected": len(group) - len(used),
            "validity": status, "flag": "; ".join(flags)}
