"""Raw and cleaned waveforms with detected beats, re-derived from the run's recordings.

The report re-loads each recording from the path the run read (or from ``recordings=`` when the
run was moved) and repeats the preprocessing's cleaning and beat detection with its default
methods, so the beats drawn are the ones the quality checks counted.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cardiosbi.errors import CardiosbiError
from cardiosbi.io import load_recording
from cardiosbi.io.recording import Recording
from cardiosbi.signals import abp as abp_mod
from cardiosbi.signals import ecg as ecg_mod
from cardiosbi.signals import ppg as ppg_mod
from cardiosbi.signals.filters import fill_gaps
from cardiosbi.signals.windows import WindowConfig

log = logging.getLogger(__name__)

KINDS = ("ppg", "abp", "ecg")
# The beat markers the quality checks count (and time heart rate on), per channel kind.
BEAT_NAMES = {"ppg": "PPG upstrokes", "abp": "ABP pulse onsets", "ecg": "ECG R peaks"}


@dataclass
class Trace:
    """One channel over the shown span: times [s], raw and cleaned samples, and sample indices
    of its counted beats (``BEAT_NAMES``) and, for PPG, of the systolic peaks they come from."""

    kind: str
    name: str
    unit: str
    times: np.ndarray
    raw: np.ndarray
    cleaned: np.ndarray
    beats: np.ndarray
    peaks: np.ndarray | None = None


def locate_recording(source: str, config: dict, recordings: str | None) -> Path | None:
    """The file the run read for a record, or None when it cannot be found here.

    Tried in order: the recorded path itself, then inside ``recordings`` the recorded relative
    path and the bare file name; for ``vitaldb:<case>`` references the run's download cache
    (never downloaded again).
    """
    if not source:
        return None
    if source.startswith("vitaldb:"):
        name = f"{int(source.split(':', 1)[1])}.vital"
        candidates = [Path(config.get("cache_dir") or "data/cache/vitaldb") / name]
    else:
        name = Path(source).name
        candidates = [Path(source)]
    if recordings:
        if not source.startswith("vitaldb:") and not Path(source).is_absolute():
            candidates.append(Path(recordings) / source)
        candidates.append(Path(recordings) / name)
    return next((c for c in candidates if c.exists()), None)


def load_traces(path: Path, config: dict, span_s: float) -> tuple[list[Trace], float]:
    """Traces of every PPG/ABP/ECG channel over the first ``span_s`` seconds, and the record's
    duration. A channel the detectors cannot process keeps its raw trace with no beats."""
    rate = config.get("sampling_rate") or config.get("fs")  # runs before the rename: fs
    recording = load_recording(path, sampling_rate=rate)
    traces = []
    for kind in KINDS:
        if recording.of_kind(kind) is not None:
            traces.append(_trace(recording, kind, span_s))
    return traces, recording.duration_s


def _trace(recording: Recording, kind: str, span_s: float) -> Trace:
    channel = recording.of_kind(kind)
    n = min(channel.signal.size, int(round(span_s * channel.fs)))
    raw = channel.signal[:n]
    times = channel.start_s + np.arange(n) / channel.fs
    trace = Trace(kind, channel.name, channel.unit, times, raw, fill_gaps(raw),
                  np.empty(0, dtype=np.int64))
    finite = raw[np.isfinite(raw)]
    if not (finite.size > 2 * channel.fs and np.ptp(finite) > 0):
        return trace  # too short or flat: the preprocessing finds no beats here either
    try:
        _clean_and_detect(trace, channel.fs)
    except (ValueError, IndexError, ZeroDivisionError, CardiosbiError) as exc:
        log.warning("%s: %s beats not detected for the report (%s)", recording.name, kind, exc)
    return trace


def _clean_and_detect(trace: Trace, fs: float) -> None:
    methods = WindowConfig()  # infer prepares windows with the default detection methods
    if trace.kind == "ppg":
        trace.cleaned = ppg_mod.ppg_clean(trace.raw, fs, method="elgendi")
        trace.peaks = ppg_mod.ppg_peaks(trace.cleaned, fs, methods.ppg_method)
        trace.beats = ppg_mod.ppg_upstrokes(trace.cleaned, trace.peaks, fs)
    elif trace.kind == "abp":
        trace.cleaned = abp_mod.abp_clean(trace.raw, fs)
        trace.beats = abp_mod.abp_onsets(trace.cleaned, fs, methods.abp_method)
    else:
        ecg = methods.ecg_method
        trace.cleaned = ecg_mod.ecg_clean(trace.raw, fs,
                                          ecg if ecg in ecg_mod.CLEAN_METHODS else "neurokit")
        trace.beats = ecg_mod.ecg_peaks(trace.cleaned, fs, ecg)
