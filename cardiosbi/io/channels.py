"""Channel names, units and physical ranges: what makes channels from any source comparable.

Names from monitors and databases (PLETH, Pleth, SNUADC/ART, ECG_II, …) map to a few canonical
names (``ppg``, ``abp``, ``ecg``, …); units are converted to one standard unit per kind; values
far outside the physical range of a kind reveal wrong units or a broken channel.
"""

from __future__ import annotations

import logging
import math
import re
import warnings

import numpy as np

from cardiosbi.errors import ConfigError, SignalError

log = logging.getLogger(__name__)

# Raw names (lower case, device prefix removed, separators dropped) -> canonical name.
_ALIASES: dict[str, str] = {
    **dict.fromkeys(["pleth", "ppg", "spo2", "plethysmogram", "pulseox", "pleth1"], "ppg"),
    **dict.fromkeys(["abp", "art", "aobp", "art1", "art2", "ibp", "ibp1", "bp", "rad", "radial",
                     "fap", "uap", "ao", "arterialpressure"], "abp"),
    **dict.fromkeys(["ii", "ecgii", "ecg", "mlii", "ecg2", "lead2"], "ecg"),
    **dict.fromkeys(["i", "ecgi"], "ecg_i"),
    **dict.fromkeys(["iii", "ecgiii"], "ecg_iii"),
    **dict.fromkeys(["v", "ecgv", "v5", "ecgv5"], "ecg_v"),
    **dict.fromkeys(["pap", "pa"], "pap"),
    **dict.fromkeys(["cvp"], "cvp"),
    **dict.fromkeys(["resp", "rr"], "resp"),
}

# Kind of a canonical name -> (standard unit, {accepted unit (lower case): factor to standard}).
_PRESSURE = ("mmHg", {"mmHg": 1.0, "mm Hg": 1.0, "kPa": 7.500617, "Pa": 0.007500617,
                      "cmH2O": 0.7355592})
_ECG = ("mV", {"mV": 1.0, "uV": 1e-3, "µV": 1e-3, "μV": 1e-3, "V": 1e3})
# PPG amplitude is arbitrary (normalised or ADC units): any of these is accepted, none converted.
_PPG_UNITS = {"nu", "mv", "v", "au", "a.u.", "%", "", "unitless", "adu", "n.u.", "none"}

# Physical range of each kind in its standard unit (values beyond are artefacts or wrong units).
PHYSICAL_RANGE: dict[str, tuple[float, float]] = {
    "abp": (-20.0, 300.0), "pap": (-20.0, 150.0), "cvp": (-30.0, 60.0), "ecg": (-10.0, 10.0),
}

# Plausible sampling rates of a pulse waveform [Hz]. Below 20 Hz the beat shape is lost (a
# 210 bpm beat is 3.5 Hz, and its first harmonics reach ~10 Hz), and no monitor stores waveforms
# that slowly; above 10 kHz is beyond any monitor or research ECG, so such a value is a misread
# header (``1e9``) or a unit slip (kHz for Hz). Channels of other kinds (respiration,
# unknown) only need a positive rate: some are legitimately slower.
PLAUSIBLE_SAMPLING_RATE = (20.0, 10_000.0)
WAVEFORM_KINDS = frozenset({"abp", "pap", "cvp", "ecg", "ppg"})

NUMERIC_ALIASES: dict[str, str] = {
    "ev1000/co": "co", "ev1000/sv": "sv", "ev1000/svr": "svr", "ev1000/ci": "ci",
    "ev1000/svi": "svi", "vigileo/co": "co_vigileo", "vigileo/sv": "sv_vigileo",
    "vigileo/svr": "svr_vigileo", "co": "co", "sv": "sv", "svr": "svr",
}


def kind_of(name: str) -> str:
    """The kind of a canonical channel name: ``ecg_v`` → ``ecg``, ``abp`` → ``abp``."""
    return name.split("_")[0]


def canonical_name(raw_name: str) -> str:
    """Normalise a raw channel name: ``SNUADC/PLETH`` → ``ppg``, ``ECG_II`` → ``ecg``.

    Unknown names become a lower-case slug (``Resp`` → ``resp``, ``ST II`` → ``st_ii``).
    """
    base = raw_name.split("/")[-1].strip().lower()
    key = re.sub(r"[\s_\-.]", "", base)
    if key in _ALIASES:
        return _ALIASES[key]
    return re.sub(r"[^a-z0-9]+", "_", base).strip("_") or "unnamed"


def numeric_name(raw_name: str) -> str:
    """Canonical name of a numeric track: ``EV1000/CO`` → ``co``; else a lower-case slug."""
    key = raw_name.strip().lower()
    if key in NUMERIC_ALIASES:
        return NUMERIC_ALIASES[key]
    return re.sub(r"[^a-z0-9]+", "_", key).strip("_") or "unnamed"


def to_standard_unit(name: str, signal: np.ndarray, unit: str, raw_name: str
                     ) -> tuple[np.ndarray, str]:
    """Convert ``signal`` of channel ``name`` from ``unit`` to its kind's standard unit.

    Raises SignalError for a unit the kind cannot have (e.g. ABP in ``mV``), naming the
    accepted units. Channels of kinds without a standard unit keep theirs unchanged.
    """
    kind = kind_of(name)
    table = {"abp": _PRESSURE, "pap": _PRESSURE, "cvp": _PRESSURE, "ecg": _ECG}.get(kind)
    clean = unit.strip()
    if kind == "ppg":
        if clean.lower() not in _PPG_UNITS:
            log.warning("PPG channel %r has unusual unit %r; amplitude is treated as arbitrary",
                        raw_name, unit)
        return signal, clean or "NU"
    if table is None:
        return signal, clean
    standard, factors = table
    factor = {k.lower(): v for k, v in factors.items()}.get(clean.lower())
    if factor is None:
        raise SignalError(
            f"channel {raw_name!r} ({name}) has unknown unit {unit!r}; accepted: "
            f"{', '.join(factors)} (fix the header, or give the unit in the column name)"
        )
    return (signal * factor if factor != 1.0 else signal), standard


def check_physical_range(name: str, signal: np.ndarray, raw_name: str) -> None:
    """Raise SignalError when the median of a channel lies outside its kind's physical range.

    Isolated out-of-range samples are left for the per-window quality checks; a median outside
    the range means the whole channel is mislabelled (wrong unit, gain or channel).
    """
    bounds = PHYSICAL_RANGE.get(kind_of(name))
    finite = signal[np.isfinite(signal)]
    if bounds is None or finite.size == 0:
        return
    median = float(np.median(finite))
    if not bounds[0] <= median <= bounds[1]:
        raise SignalError(
            f"channel {raw_name!r} ({name}): median {median:.4g} outside the physical range "
            f"[{bounds[0]:g}, {bounds[1]:g}]; check the unit and gain"
        )


def check_sampling_rate(sampling_rate: float, what: str, *, waveform: bool = True) -> float:
    """``sampling_rate`` as a float, or a SignalError naming ``what`` when it cannot be one.

    It must be a finite number > 0 and, for a pulse waveform (``waveform``), inside
    :data:`PLAUSIBLE_SAMPLING_RATE`.
    """
    try:
        rate = float(sampling_rate)
    except (TypeError, ValueError):
        raise SignalError(f"{what}: sampling rate {sampling_rate!r} is not a number") from None
    if not math.isfinite(rate) or rate <= 0:
        raise SignalError(f"{what}: sampling rate must be a finite number > 0 Hz, got {rate:g}")
    low, high = PLAUSIBLE_SAMPLING_RATE
    if waveform and not low <= rate <= high:
        raise SignalError(f"{what}: sampling rate {rate:g} Hz is outside the plausible range "
                          f"{low:g}-{high:g} Hz of a pulse waveform; check the rate and its unit")
    return rate


def renamed_fs(sampling_rate: float | None, fs: float | None) -> float | None:
    """The rate given as ``sampling_rate``, or by the deprecated keyword ``fs`` (with a warning).

    ``sampling_rate`` is the one name across the package, as in NeuroKit2.
    """
    if fs is None:
        return sampling_rate
    warnings.warn("the keyword fs= is deprecated; use sampling_rate=", DeprecationWarning,
                  stacklevel=3)
    if sampling_rate is not None and sampling_rate != fs:
        raise ConfigError(f"sampling_rate={sampling_rate} and fs={fs} disagree; give only "
                          "sampling_rate")
    return fs


def unique_name(name: str, taken: set[str]) -> str:
    """``name`` if free, else ``name_2``, ``name_3``… (a second ABP stays distinguishable)."""
    if name not in taken:
        return name
    index = 2
    while f"{name}_{index}" in taken:
        index += 1
    return f"{name}_{index}"


def build_channels(raw: list[tuple[str, np.ndarray, float, str, float]]) -> dict:
    """Channels keyed by canonical name from ``(raw_name, signal, fs, unit, start_s)`` tuples.

    Sampling rates and units are checked and units converted, physical ranges checked; a
    repeated canonical name gets a suffix.
    """
    from cardiosbi.io.recording import Channel

    channels: dict = {}
    for raw_name, signal, fs, unit, start_s in raw:
        name = unique_name(canonical_name(raw_name), set(channels))
        check_sampling_rate(fs, f"channel {raw_name!r} ({name})",
                            waveform=kind_of(name) in WAVEFORM_KINDS)
        values, standard = to_standard_unit(name, np.asarray(signal, dtype=np.float64), unit,
                                            raw_name)
        check_physical_range(name, values, raw_name)
        channels[name] = Channel(name=name, signal=values, fs=float(fs), unit=standard,
                                 raw_name=raw_name, start_s=float(start_s))
    return channels
