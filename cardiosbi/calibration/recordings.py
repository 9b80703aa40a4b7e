"""A RoPE calibration set from labelled real recordings: windows and their reference labels.

Windows are prepared exactly as ``cardiosbi infer`` prepares them for the posterior
(:func:`cardiosbi.estimate.window_config`); the labels of each window come from the recording's
own reference channels, as measured by the quality table: HR from the ECG R-peaks, MAP/SBP/DBP
from an arterial line. Only accepted windows whose every label is finite are kept; the others
are counted by reason.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections import Counter
from collections.abc import Iterable, Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from cardiosbi.errors import CardiosbiError, ConfigError, SignalError
from cardiosbi.estimate import model_input, window_config
from cardiosbi.inference import Posterior
from cardiosbi.io import load_recording
from cardiosbi.signals.windows import WindowConfig, make_windows
from cardiosbi.utils.progress import progress

log = logging.getLogger(__name__)

# posterior parameter -> quality-table column that measures it on a real recording
REFERENCE_LABELS = {
    "hr": "hr_ecg",
    "map": "map_abp", "sbp": "sbp_abp", "dbp": "dbp_abp",
    "map_radial": "map_abp", "sbp_radial": "sbp_abp", "dbp_radial": "dbp_abp",
}


@dataclass
class LabelledWindows:
    """Model-ready real windows with labels for some of the posterior's parameters."""

    theta: torch.Tensor          # (N, k) labels, columns in the order of ``names``
    x: torch.Tensor              # (N, ...) the posterior's input
    names: list[str]             # labelled posterior parameters
    record: np.ndarray           # (N,) record name of each window
    skipped: Counter = field(default_factory=Counter)  # reason -> windows (recordings) left out


def default_labels(posterior: Posterior) -> dict[str, str]:
    """The reference labels a monitor recording can give for this posterior's parameters."""
    labels = {p: c for p, c in REFERENCE_LABELS.items() if p in posterior.parameter_names}
    if not labels:
        raise ConfigError(f"none of the posterior's parameters {posterior.parameter_names} has a "
                          f"reference channel label; known: {', '.join(REFERENCE_LABELS)}")
    return labels


def labelled_windows(refs: Iterable[str], posterior: Posterior,
                     labels: Mapping[str, str] | None = None,
                     until_s: float | None = None, workers: int = 1) -> LabelledWindows:
    """Every accepted, fully labelled window of the recordings ``refs`` (paths or references).

    ``labels``: posterior parameter -> quality column (default :func:`default_labels`);
    ``until_s``: keep windows ending by this time (e.g. before an alarm or an intervention);
    ``workers``: recordings prepared in parallel processes (results keep the input order).
    """
    labels = dict(labels or default_labels(posterior))
    unknown = [p for p in labels if p not in posterior.parameter_names]
    if unknown:
        raise ConfigError(f"labels for {unknown} name no parameter of the posterior "
                          f"({', '.join(posterior.parameter_names)})")
    config = window_config(posterior)
    xs, values, records, skipped = [], [], [], Counter()
    for ref, result in _record_windows(list(refs), config, workers):
        if isinstance(result, CardiosbiError):  # one bad recording must not end the calibration
            log.warning("calibration recording %s left out: %s", ref, result)
            skipped["unreadable_recording"] += 1
            continue
        name, windows, quality = result
        for column in labels.values():
            if column not in quality:
                raise ConfigError(f"{name}: no label column {column!r}; the quality "
                                  f"table has {', '.join(map(str, quality.columns))}")
        in_time = (np.ones(len(quality), bool) if until_s is None
                   else (quality["start_s"] + quality["duration_s"] <= until_s).to_numpy())
        count(skipped, "after_until_s", int((~in_time).sum()))
        for reason in quality.loc[in_time & ~quality["accepted"].to_numpy(), "reason"]:
            skipped.update(reason.split(";"))
        kept = quality[in_time & quality["accepted"].to_numpy()].sort_values("window")
        label_values = kept[list(labels.values())].to_numpy(dtype=np.float64)
        finite = np.isfinite(label_values).all(axis=1)
        count(skipped, "label_missing", int((~finite).sum()))
        xs.append(windows[kept["window"].to_numpy()[finite]])
        values.append(label_values[finite])
        records += [name] * int(finite.sum())
    if not records:
        raise SignalError(f"no accepted window with finite labels ({', '.join(labels.values())}) "
                          f"in the calibration recordings; left out: {dict(skipped)}")
    log.info("calibration set: %d labelled windows from %d recordings; left out %s",
             len(records), len(set(records)), dict(skipped))
    return LabelledWindows(torch.from_numpy(np.concatenate(values)).float(),
                           model_input(posterior, np.concatenate(xs)), list(labels),
                           np.asarray(records), skipped)


def _record_windows(refs: list[str], config: WindowConfig, workers: int):
    """(ref, (name, windows, quality) or the CardiosbiError it raised) per recording, in order,
    with a progress bar."""
    prepare = functools.partial(_prepare, config=config)
    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else contextlib.nullcontext()
    with pool:
        results = pool.map(prepare, refs) if workers > 1 else map(prepare, refs)
        yield from zip(refs, progress(results, total=len(refs), desc="calibration recordings",
                                      unit="record"), strict=True)


def _prepare(ref: str, config: WindowConfig):
    try:
        recording = load_recording(ref)
        windows, quality = make_windows(recording, config=config)
    except CardiosbiError as error:
        return error
    return recording.name, windows, quality


def count(counter: Counter, reason: str, n: int) -> None:
    """Add ``n`` windows under ``reason`` (a reason that never happened stays out)."""
    if n:
        counter[reason] += n
