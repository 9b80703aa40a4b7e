"""Recording → model-ready windows plus a quality table (one row per window, with reasons).

Each channel is cleaned and its beats detected once over the whole record at its own rate;
windows then read beat times and per-sample quality by time. Model channels are resampled to
the model's rate (anti-aliased; otherwise unfiltered, short gaps interpolated, or kept as NaN
for a posterior trained with a missing-data mask), PPG is
optionally shifted onto ABP by the cross-correlation lag, and accepted windows are normalised
with :func:`normalize_window` (shared with the simulated pipeline).
Rejected windows keep their row in the table (with every failed check in ``reason``) but never
enter the window array.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from cardiosbi.errors import ConfigError
from cardiosbi.io.recording import Channel, Numeric, Recording
from cardiosbi.signals import abp as abp_mod
from cardiosbi.signals import ecg as ecg_mod
from cardiosbi.signals import ppg as ppg_mod
from cardiosbi.signals.align import signals_lag
from cardiosbi.signals.beats import beats_rate, beats_variability
from cardiosbi.signals.filters import fill_gaps, signal_bandpass, signal_resample
from cardiosbi.signals.normalize import normalize_window

log = logging.getLogger(__name__)

MODEL_KINDS = ("ppg", "abp")
_CHUNK_MARGIN_S = 30.0  # signal kept around a chunk so filters and detectors settle
LABEL_COLUMNS = ("hr_ppg", "hr_ecg", "hr_abp", "map_abp", "sbp_abp", "dbp_abp")


@dataclass
class QualityConfig:
    """Acceptance thresholds of the per-window checks (see :func:`make_windows`)."""

    max_missing_fraction: float = 0.02
    # ``missing_mask``: the posterior was trained with model.embedding.missing_mask and reads
    # missing samples as NaN. Its model channels may then miss up to
    # ``max_missing_fraction_masked`` (what experiments/missing_data shows keeps 90 % coverage
    # and accuracy), and their gaps reach the model as NaN instead of being interpolated. Without
    # the mask (every shipped model) the 2 % rule with interpolation above stays.
    max_missing_fraction_masked: float = 0.05
    missing_mask: bool = False
    min_ppg_quality: float = 0.8
    max_flat_fraction: float = 0.1
    max_clip_fraction: float = 0.05
    max_range_fraction: float = 0.01
    min_pulse_pressure: float = 15.0     # mmHg
    max_pulse_pressure: float = 120.0    # mmHg
    max_rise_time_s: float = 0.3         # onset-to-peak; longer = damped line
    min_hr: float = 25.0                 # bpm
    max_hr: float = 220.0                # bpm
    max_beat_variability: float = 0.1    # coefficient of variation of beat intervals
    min_beats: int = 3
    min_alignment_corr: float = 0.5


@dataclass
class WindowConfig:
    """How a recording is cut into model windows (rates in Hz, durations in s)."""

    channels: list[str] = field(default_factory=lambda: ["ppg", "abp"])
    sampling_rate: float = 125.0
    window_s: float = 8.0
    hop_s: float = 8.0
    align: bool = True
    max_lag_s: float = 1.0
    ppg_method: str = "elgendi"
    ppg_quality_method: str = "templatematch"
    ecg_method: str = "neurokit"
    abp_method: str = "zong2003"
    numerics_max_age_s: float = 60.0
    chunk_s: float = 3600.0  # longer records are processed in chunks of this length
    normalize: bool = True  # False: windows in physical units (e.g. for level-aware inputs)
    quality: QualityConfig = field(default_factory=QualityConfig)


@dataclass
class _Analysis:
    """One channel processed over the whole record: beat times, cleaned signal, quality."""

    channel: Channel
    beat_times: np.ndarray
    cleaned: np.ndarray
    sample_quality: np.ndarray | None = None
    abp_beats: abp_mod.AbpBeats | None = None
    flat_tolerance: float = 0.0


def make_windows(recording: Recording, channels=None, sampling_rate: float | None = None,
                 window_s: float | None = None, hop_s: float | None = None,
                 config: WindowConfig | None = None) -> tuple[np.ndarray, pd.DataFrame]:
    """Cut ``recording`` into normalised model windows and a per-window quality table.

    Returns ``windows`` (W, C, T) float32 — accepted windows only, channels in the order of
    ``channels``, normalised by :func:`normalize_window` unless ``config.normalize`` is False
    (then in physical units, so a level-aware input can be built as for simulations) — and
    ``quality``: one row per window with ``record``, ``window`` (row in ``windows``, −1 if
    rejected), ``start_s``, ``duration_s``, ``accepted``, ``reason`` (``;``-separated
    ``check:channel`` codes), the SQI values, the reference labels (``hr_ppg``, ``hr_ecg``,
    ``hr_abp``, ``map_abp``, ``sbp_abp``, ``dbp_abp``) and any numerics (``co``, ``sv``, ``svr``…)
    aligned by time. Arguments override ``config``. Records longer than ``config.chunk_s`` are
    processed in chunks (with margins for the detectors), so memory stays bounded.
    """
    cfg = resolve_window_config(config, channels, sampling_rate, window_s, hop_s)
    for kind in cfg.channels:
        recording.channel(kind)  # a missing model channel is a record-level error
    starts = _window_starts(recording.duration_s, cfg.window_s, cfg.hop_s)
    parts = []
    for lo, hi, chunk in _chunks(starts, recording.duration_s, cfg):
        chunk_windows, table = _windows_at(_crop(recording, lo, hi), chunk - lo, cfg)
        table["start_s"] = chunk  # absolute times, exactly on the hop grid
        parts.append((chunk_windows, table))
    windows = [w for part_windows, _q in parts for w in part_windows]
    quality = _join_tables([q for _w, q in parts], recording)
    n_samples = int(round(cfg.window_s * cfg.sampling_rate))
    if not windows:
        array = np.empty((0, len(cfg.channels), n_samples), dtype=np.float32)
    elif cfg.normalize:
        array = normalize_window(np.stack(windows))
    else:
        array = np.stack(windows).astype(np.float32)
    log.debug("%s: %d/%d windows accepted", recording.name, len(windows), len(quality))
    return array, quality


def _chunks(starts: np.ndarray, duration_s: float, cfg: WindowConfig):
    """(lo, hi, window starts) per chunk of ``chunk_s``; lo/hi include detector margins."""
    margin = _CHUNK_MARGIN_S + cfg.max_lag_s
    for begin in np.arange(0.0, max(duration_s, 1e-9), cfg.chunk_s):
        chunk = starts[(starts >= begin) & (starts < begin + cfg.chunk_s)]
        if chunk.size:
            yield (max(0.0, chunk[0] - margin),
                   min(duration_s, chunk[-1] + cfg.window_s + margin), chunk)


def _crop(recording: Recording, lo: float, hi: float) -> Recording:
    """The part of ``recording`` between ``lo`` and ``hi`` [s], timed from ``lo``."""
    if lo <= 0 and hi >= recording.duration_s:
        return recording
    channels = {}
    for key, ch in recording.channels.items():
        i0 = min(ch.signal.size, max(0, int(np.floor((lo - ch.start_s) * ch.fs))))
        i1 = min(ch.signal.size, max(i0, int(np.ceil((hi - ch.start_s) * ch.fs))))
        channels[key] = Channel(ch.name, ch.signal[i0:i1], ch.fs, ch.unit, ch.raw_name,
                                start_s=max(0.0, ch.start_s + i0 / ch.fs - lo))
    numerics = {key: Numeric(n.name, n.times_s - lo, n.values, n.unit, n.raw_name)
                for key, n in recording.numerics.items()}
    return Recording(recording.name, channels, recording.source, recording.format,
                     recording.start_time, numerics, recording.metadata)


def _windows_at(recording: Recording, starts: np.ndarray, cfg: WindowConfig
                ) -> tuple[list[np.ndarray], pd.DataFrame]:
    """Windows (accepted, unnormalised) and quality rows at ``starts`` of one (chunk of a) record."""
    analyses = {}
    for kind in ("ppg", "abp", "ecg"):
        if recording.of_kind(kind) is not None:
            analysis = _analyse(recording, kind, cfg, reference=kind not in cfg.channels)
            if analysis is not None:
                analyses[kind] = analysis
    grid = {kind: _on_grid(recording.of_kind(kind), recording.duration_s, cfg.sampling_rate)
            for kind in set(cfg.channels) | ({"ppg", "abp"} & set(analyses))}
    rows, windows = [], []
    for start in starts:
        row, window = _window(recording, start, analyses, grid, cfg)
        if window is not None:
            row["window"] = len(windows)
            windows.append(window)
        rows.append(row)
    return windows, pd.DataFrame(rows)


def _join_tables(tables: list[pd.DataFrame], recording: Recording) -> pd.DataFrame:
    """One quality table from the chunks': window indices renumbered, times made absolute."""
    offset, rows = 0, []
    for table in tables:
        for row in table.to_dict("records"):
            if row["window"] >= 0:
                row["window"] += offset
            rows.append(row)
        offset += int((table["window"] >= 0).sum()) if len(table) else 0
    return pd.DataFrame(rows, columns=_columns(rows, recording))


def resolve_window_config(config: WindowConfig | None = None, channels=None,
                          sampling_rate: float | None = None, window_s: float | None = None,
                          hop_s: float | None = None) -> WindowConfig:
    """``config`` (or the defaults) with the given arguments applied; ConfigError if invalid."""
    cfg = config if config is not None else WindowConfig()
    overrides = {"channels": list(channels) if channels is not None else None,
                 "sampling_rate": sampling_rate, "window_s": window_s, "hop_s": hop_s}
    cfg = WindowConfig(**{**cfg.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    unknown = [c for c in cfg.channels if c not in MODEL_KINDS]
    if unknown or not cfg.channels:
        raise ConfigError(f"model channels must be among {', '.join(MODEL_KINDS)}; got "
                          f"{cfg.channels}")
    if not (cfg.sampling_rate > 0 and cfg.window_s > 0 and cfg.hop_s > 0):
        raise ConfigError("sampling_rate, window_s and hop_s must all be > 0")
    if not cfg.chunk_s >= cfg.window_s:
        raise ConfigError(f"chunk_s ({cfg.chunk_s}) must be at least window_s ({cfg.window_s})")
    # Method names are checked here, once, rather than failing inside every record of a cohort.
    for key, valid in (("ppg_method", ppg_mod.PEAK_METHODS),
                       ("ppg_quality_method", ppg_mod.QUALITY_METHODS),
                       ("ecg_method", ecg_mod.PEAK_METHODS),
                       ("abp_method", abp_mod.ONSET_METHODS)):
        if getattr(cfg, key) not in valid:
            raise ConfigError(f"window.{key}={getattr(cfg, key)!r} is unknown; valid: "
                              f"{', '.join(valid)}")
    return cfg


def _window_starts(duration_s: float, window_s: float, hop_s: float) -> np.ndarray:
    if duration_s < window_s:
        return np.empty(0)
    return np.arange(0.0, duration_s - window_s + 1e-9, hop_s)


def _analyse(recording: Recording, kind: str, cfg: WindowConfig, reference: bool
             ) -> _Analysis | None:
    """Clean one channel and find its beats over the whole record, at its own rate.

    A reference-only channel (labels, not model input) that the detectors cannot process is
    dropped with a warning (its labels stay empty) instead of failing the whole record.
    """
    try:
        return _analyse_channel(recording, kind, cfg)
    except (ValueError, IndexError, ZeroDivisionError) as exc:  # neurokit2 on odd signals
        if not reference:
            raise
        log.warning("%s: %s channel unusable for labels (%s)", recording.name, kind, exc)
        return None


def _analyse_channel(recording: Recording, kind: str, cfg: WindowConfig) -> _Analysis:
    channel = recording.of_kind(kind)
    x, fs = channel.signal, channel.fs
    finite = x[np.isfinite(x)]
    usable = finite.size > 2 * fs and np.ptp(finite) > 0
    if kind == "ppg":
        cleaned = ppg_mod.ppg_clean(x, fs, method="elgendi") if usable else fill_gaps(x)
        peaks = ppg_mod.ppg_peaks(cleaned, fs, cfg.ppg_method) if usable else np.empty(0, int)
        sample_quality = ppg_mod.ppg_quality(cleaned, peaks, fs, cfg.ppg_quality_method)
        spread = np.subtract(*np.percentile(finite, [99, 1])) if finite.size else 0.0
        upstrokes = ppg_mod.ppg_upstrokes(cleaned, peaks, fs)
        return _Analysis(channel, _times(channel, upstrokes), cleaned, sample_quality,
                         flat_tolerance=1e-3 * spread)
    if kind == "abp":
        cleaned = abp_mod.abp_clean(x, fs)
        onsets = abp_mod.abp_onsets(cleaned, fs, cfg.abp_method) if usable else np.empty(0, int)
        beats = abp_mod.abp_peaks(x, onsets, fs, abp_cleaned=cleaned)
        return _Analysis(channel, _times(channel, onsets), cleaned, abp_beats=beats)
    clean_method = cfg.ecg_method if cfg.ecg_method in ecg_mod.CLEAN_METHODS else "neurokit"
    cleaned = ecg_mod.ecg_clean(x, fs, clean_method) if usable else fill_gaps(x)
    peaks = ecg_mod.ecg_peaks(cleaned, fs, cfg.ecg_method) if usable else np.empty(0, int)
    return _Analysis(channel, _times(channel, peaks), cleaned)


def _times(channel: Channel, indices: np.ndarray) -> np.ndarray:
    return channel.start_s + np.asarray(indices, dtype=np.float64) / channel.fs


def _on_grid(channel: Channel, duration_s: float, fs: float) -> np.ndarray:
    """The channel resampled to ``fs`` on the record's time grid (NaN where it has no data)."""
    out = np.full(int(np.floor(duration_s * fs)), np.nan)
    values = signal_resample(channel.signal, channel.fs, fs)
    offset = int(round(channel.start_s * fs))
    end = min(out.size, offset + values.size)
    out[offset:end] = values[: end - offset]
    return out


def _slice(analysis: _Analysis, start: float, duration: float) -> tuple[np.ndarray, slice, float]:
    """Raw samples of the window, their slice in the channel, and the missing fraction."""
    ch = analysis.channel
    wanted = int(round(duration * ch.fs))
    i0 = int(round((start - ch.start_s) * ch.fs))
    lo, hi = max(0, i0), min(ch.signal.size, i0 + wanted)
    raw = ch.signal[lo:hi] if hi > lo else ch.signal[:0]
    missing = 1.0 - np.isfinite(raw).sum() / wanted
    return raw, slice(lo, max(lo, hi)), float(missing)


def _beat_stats(times: np.ndarray, start: float, end: float,
                gap_times: np.ndarray | None = None) -> tuple[int, float, float]:
    """Beat count, rate and interval variability in [start, end). Intervals that span one of
    the sorted ``gap_times`` (missing samples kept as gaps) are left out: the beats inside a gap
    went unseen, so such an interval is not a beat interval."""
    inside = times[np.searchsorted(times, start):np.searchsorted(times, end)]
    if gap_times is None or not gap_times.size or inside.size < 2:
        return inside.size, beats_rate(inside), beats_variability(inside)
    spans_gap = np.searchsorted(gap_times, inside[:-1]) < np.searchsorted(gap_times, inside[1:])
    # beat times rebuilt from the observed intervals alone, for the same rate/variability code
    observed = np.concatenate([[0.0], np.cumsum(np.diff(inside)[~spans_gap])])
    return inside.size, beats_rate(observed), beats_variability(observed)


def _keeps_gaps(kind: str, cfg: WindowConfig) -> bool:
    """True when ``kind`` is a model channel of a posterior that reads gaps (missing mask)."""
    return cfg.quality.missing_mask and kind in cfg.channels


def _missing_limit(kind: str, cfg: WindowConfig) -> float:
    q = cfg.quality
    return q.max_missing_fraction_masked if _keeps_gaps(kind, cfg) else q.max_missing_fraction


def _gap_times(a: _Analysis, raw: np.ndarray, span: slice, cfg: WindowConfig, kind: str
               ) -> np.ndarray | None:
    """Times [s] of the window's missing samples when they are kept as gaps, else None."""
    if not _keeps_gaps(kind, cfg):
        return None
    return _times(a.channel, span.start + np.flatnonzero(~np.isfinite(raw)))


def _rhythm_reasons(kind: str, n: int, hr: float, cv: float, q: QualityConfig) -> list[str]:
    if n < q.min_beats:
        return [f"too_few_beats:{kind}"]
    reasons = []
    if not q.min_hr <= hr <= q.max_hr:
        reasons.append(f"implausible_hr:{kind}")
    if cv > q.max_beat_variability:
        reasons.append(f"irregular_beats:{kind}")
    return reasons


def _ppg_window(a: _Analysis, start: float, cfg: WindowConfig) -> tuple[dict, list[str]]:
    q = cfg.quality
    raw, span, missing = _slice(a, start, cfg.window_s)
    finite = raw[np.isfinite(raw)]
    gaps = _gap_times(a, raw, span, cfg, "ppg")
    n, hr, cv = _beat_stats(a.beat_times, start, start + cfg.window_s, gaps)
    # a gap kept for the model is missing, not flat or of low quality: only observed samples
    # are checked
    observed = raw if gaps is None else finite
    observed_mask = slice(None) if gaps is None else np.isfinite(raw)
    values = {
        "ppg_missing_fraction": missing,
        "ppg_quality": float(a.sample_quality[span][observed_mask].mean()) if finite.size else 0.0,
        "ppg_flat_fraction": abp_mod.flat_fraction(observed, a.channel.fs, a.flat_tolerance),
        "ppg_clip_fraction": abp_mod.clip_fraction(finite) if finite.size else 1.0,
        "ppg_beats": n, "ppg_beat_variability": cv, "hr_ppg": hr,
    }
    if missing > _missing_limit("ppg", cfg):
        return values, ["missing:ppg"]
    reasons = _shape_reasons("ppg", values, q)
    reasons += _rhythm_reasons("ppg", n, hr, cv, q)
    if values["ppg_quality"] < q.min_ppg_quality:
        reasons.append("low_quality:ppg")
    return values, reasons


def _shape_reasons(kind: str, values: dict, q: QualityConfig) -> list[str]:
    reasons = []
    if values[f"{kind}_flat_fraction"] > q.max_flat_fraction:
        reasons.append(f"flat:{kind}")
    if values[f"{kind}_clip_fraction"] > q.max_clip_fraction:
        reasons.append(f"clipped:{kind}")
    return reasons


def _abp_window(a: _Analysis, start: float, cfg: WindowConfig) -> tuple[dict, list[str]]:
    q, fs, end = cfg.quality, a.channel.fs, start + cfg.window_s
    raw, span, missing = _slice(a, start, cfg.window_s)
    gaps = _gap_times(a, raw, span, cfg, "abp")
    lo, hi = np.searchsorted(a.beat_times, start), np.searchsorted(a.beat_times, end)
    beats = a.abp_beats
    keep = slice(lo, hi)
    inside = abp_mod.AbpBeats(beats.onsets[keep], beats.peaks[keep], beats.sbp[keep],
                              beats.dbp[keep])
    sqi = abp_mod.abp_quality(raw if gaps is None else raw[np.isfinite(raw)], inside, fs)
    n, hr, cv = _beat_stats(a.beat_times, start, end, gaps)
    values = {"abp_missing_fraction": missing, **{f"abp_{k}": v for k, v in sqi.items()},
              "abp_beats": n, "abp_beat_variability": cv, "hr_abp": hr,
              "map_abp": _mean_over_beats(a.channel.signal, inside.onsets),
              "sbp_abp": float(np.median(inside.sbp)) if n else np.nan,
              "dbp_abp": float(np.median(inside.dbp)) if n else np.nan}
    if missing > _missing_limit("abp", cfg):
        return values, ["missing:abp"]
    reasons = _shape_reasons("abp", values, q)
    if values["abp_range_fraction"] > q.max_range_fraction:
        reasons.append("out_of_range:abp")
    reasons += _rhythm_reasons("abp", n, hr, cv, q)
    pp = values["abp_pulse_pressure"]
    if n and not q.min_pulse_pressure <= pp <= q.max_pulse_pressure:
        reasons.append("implausible_pulse_pressure:abp")
    if n and values["abp_rise_time_s"] > q.max_rise_time_s:
        reasons.append("damped:abp")
    return values, reasons


def _mean_over_beats(signal: np.ndarray, onsets: np.ndarray) -> float:
    """Mean pressure over whole cardiac cycles (first to last onset of the window)."""
    if onsets.size < 2:
        return float("nan")
    return float(np.nanmean(signal[onsets[0]:onsets[-1]]))


def _ecg_window(a: _Analysis, start: float, cfg: WindowConfig) -> tuple[dict, list[str]]:
    q = cfg.quality
    _raw, _span, missing = _slice(a, start, cfg.window_s)
    n, hr, cv = _beat_stats(a.beat_times, start, start + cfg.window_s)
    reasons = ["missing:ecg"] if missing > q.max_missing_fraction else []
    reasons += _rhythm_reasons("ecg", n, hr, cv, q)
    return {"ecg_missing_fraction": missing, "ecg_beats": n, "ecg_beat_variability": cv,
            "hr_ecg": hr}, reasons


_WINDOW_FUNCTIONS = {"ppg": _ppg_window, "abp": _abp_window, "ecg": _ecg_window}
_LABELS_OF = {"ppg": ("hr_ppg",), "abp": ("hr_abp", "map_abp", "sbp_abp", "dbp_abp"),
              "ecg": ("hr_ecg",)}


def _window(recording: Recording, start: float, analyses: dict, grid: dict,
            cfg: WindowConfig) -> tuple[dict, np.ndarray | None]:
    """Quality row of the window at ``start`` and its model array (None when rejected)."""
    row = {"record": recording.name, "window": -1, "start_s": float(start),
           "duration_s": cfg.window_s}
    reasons: list[str] = []
    for kind, analysis in analyses.items():
        values, own = _WINDOW_FUNCTIONS[kind](analysis, start, cfg)
        if own:  # an untrustworthy channel gives no reference labels
            values.update(dict.fromkeys(_LABELS_OF[kind], np.nan))
        row.update(values)
        if kind in cfg.channels:
            reasons += own
    lag = _alignment(row, start, grid, cfg)
    if {"ppg", "abp"} <= set(cfg.channels) and not row["ppg_abp_corr"] >= (
            cfg.quality.min_alignment_corr):
        reasons.append("misaligned:ppg_abp")
    row.update(_numerics_at(recording, start, cfg))
    window = None if reasons else _model_window(start, lag, grid, cfg)
    if window is None and not reasons:
        reasons.append("alignment_outside_record:ppg")
    row["accepted"] = not reasons
    row["reason"] = ";".join(reasons)
    return row, window


def _alignment(row: dict, start: float, grid: dict, cfg: WindowConfig) -> int:
    """Record the PPG lag behind ABP and its correlation; return the lag in model samples."""
    if "ppg" not in grid or "abp" not in grid:
        return 0
    fs = cfg.sampling_rate
    k0, n = int(round(start * fs)), int(round(cfg.window_s * fs))
    lag_s, corr = signals_lag(_bandpassed(grid, "abp", fs)[k0:k0 + n],
                              _bandpassed(grid, "ppg", fs)[k0:k0 + n], fs, cfg.max_lag_s)
    row["ppg_abp_lag_s"], row["ppg_abp_corr"] = lag_s, corr
    return int(round(lag_s * fs)) if cfg.align and np.isfinite(lag_s) else 0


def _bandpassed(grid: dict, kind: str, fs: float) -> np.ndarray:
    """Band-passed (0.5–8 Hz) model-rate signal, computed once per record and kept in ``grid``."""
    key = f"_{kind}_band"
    if key not in grid:
        x = grid[kind]
        band = signal_bandpass(fill_gaps(x), fs, 0.5, 8.0)
        band[~np.isfinite(x)] = np.nan
        grid[key] = band
    return grid[key]


def _model_window(start: float, lag: int, grid: dict, cfg: WindowConfig) -> np.ndarray | None:
    fs = cfg.sampling_rate
    k0, n = int(round(start * fs)), int(round(cfg.window_s * fs))
    parts = []
    for kind in cfg.channels:
        shift = lag if (kind == "ppg" and "abp" in cfg.channels) else 0
        lo = k0 + shift
        if lo < 0 or lo + n > grid[kind].size:
            return None
        part = grid[kind][lo:lo + n]
        parts.append(part.copy() if _keeps_gaps(kind, cfg) else fill_gaps(part))
    return np.stack(parts)


def _numerics_at(recording: Recording, start: float, cfg: WindowConfig) -> dict:
    """Each numeric's median within the window, else its last value at most max_age_s old."""
    end = start + cfg.window_s
    out = {}
    for key, numeric in recording.numerics.items():
        t, v = numeric.times_s, numeric.values
        lo, hi = np.searchsorted(t, start), np.searchsorted(t, end)
        if hi > lo:
            out[key] = float(np.median(v[lo:hi]))
        elif lo > 0 and end - t[lo - 1] <= cfg.numerics_max_age_s:
            out[key] = float(v[lo - 1])
        else:
            out[key] = np.nan
    return out


def _columns(rows: list[dict], recording: Recording) -> list[str]:
    first = ["record", "window", "start_s", "duration_s", "accepted", "reason"]
    labels = [c for c in LABEL_COLUMNS if any(c in r for r in rows)]
    numerics = list(recording.numerics)
    seen = dict.fromkeys(k for r in rows for k in r)
    sqis = [k for k in seen if k not in first and k not in labels and k not in numerics]
    return first + labels + numerics + sqis


def acceptance_rate(quality: pd.DataFrame) -> float:
    """Share of accepted windows (nan for an empty table)."""
    return float(quality["accepted"].mean()) if len(quality) else float("nan")
