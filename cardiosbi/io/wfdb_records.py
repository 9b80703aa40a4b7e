"""WFDB records through ``wfdb``: single/multi-segment, mixed rates, FLAC and .mat, MIMIC layouts.

Every channel is read at its own rate (``smooth_frames=False``); multi-segment records are
joined by wfdb (gaps and absent channels become NaN). A MIMIC numerics record (``<name>n``)
next to the waveform record is attached as numeric tracks.
"""

from __future__ import annotations

import datetime as _dt
import logging
from pathlib import Path

import numpy as np

from cardiosbi.errors import InputFileError
from cardiosbi.io.channels import build_channels, numeric_name
from cardiosbi.io.recording import Numeric, Recording

log = logging.getLogger(__name__)


def load_wfdb(path: str | Path, *, numerics: bool = True, pn_dir: str | None = None
              ) -> Recording:
    """Read the WFDB record at ``path`` (with or without the ``.hea`` suffix).

    With ``pn_dir`` (e.g. ``"mimic4wdb/0.1.0/waves/p100/p10014354/81739927"``) the record is
    streamed from PhysioNet instead (needs internet; never used by the tests).
    """
    import wfdb

    record_path = Path(path) if pn_dir else _record_path(path)
    if not pn_dir:
        _check_file_sizes(record_path)
    try:
        record = wfdb.rdrecord(str(record_path), smooth_frames=False, physical=True,
                               pn_dir=pn_dir)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError/OSError on bad files
        raise InputFileError(f"cannot read WFDB record {record_path}: {_reason(exc)}") from None
    signals = record.e_p_signal
    if signals is None or len(signals) == 0:
        raise InputFileError(f"WFDB record {record_path} has no signals")
    _check_lengths(record, record_path)
    raw = [
        (name, np.asarray(sig, dtype=np.float64), float(record.fs) * int(spf), unit or "", 0.0)
        for name, sig, spf, unit in zip(record.sig_name, signals, record.samps_per_frame,
                                        record.units, strict=True)
    ]
    rec = Recording(
        name=record_path.name, channels=build_channels(raw), source=str(record_path),
        format="wfdb", start_time=_start_time(record),
        metadata={"comments": list(record.comments or []), "frame_rate": float(record.fs)},
    )
    numerics_path = record_path.with_name(record_path.name + "n")
    if numerics and not pn_dir and numerics_path.with_suffix(".hea").exists():
        rec.numerics = _load_numerics(numerics_path, rec.start_time)
    return rec


def _record_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix in {".hea", ".dat", ".mat"}:
        path = path.with_suffix("")
    if not path.with_suffix(".hea").exists():
        raise InputFileError(f"WFDB header not found: {path.with_suffix('.hea')}")
    return path


# Bytes per sample of the uncompressed WFDB formats (FLAC and other formats are not checked).
_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "61": 2.0, "80": 1.0, "160": 2.0, "212": 1.5,
                     "310": 4 / 3, "311": 4 / 3, "24": 3.0, "32": 4.0}


def _check_file_sizes(record_path: Path) -> None:
    """Compare each signal file's size with what the header declares, before wfdb reads it.

    wfdb reports a short file as a reshape error; this names the file and both sizes.
    """
    import wfdb

    try:
        header = wfdb.rdheader(str(record_path))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on malformed headers
        raise InputFileError(f"cannot read WFDB header {record_path}.hea: {_reason(exc)}") from None
    if isinstance(header, wfdb.MultiRecord) or not header.sig_len or not header.file_name:
        return
    offsets = header.byte_offset or [None] * header.n_sig
    per_file: dict[str, list[float]] = {}
    for name, fmt, spf, offset in zip(header.file_name, header.fmt, header.samps_per_frame,
                                      offsets, strict=True):
        if fmt not in _BYTES_PER_SAMPLE:
            return
        entry = per_file.setdefault(name, [0.0, float(offset or 0)])
        entry[0] += _BYTES_PER_SAMPLE[fmt] * int(spf)
    for name, (bytes_per_frame, offset) in per_file.items():
        data = record_path.parent / name
        if not data.exists():
            raise InputFileError(f"WFDB record {record_path}: signal file {data.name} not found")
        expected = int(np.ceil(bytes_per_frame * header.sig_len) + offset)
        actual = data.stat().st_size
        if actual < expected:
            raise InputFileError(
                f"WFDB record {record_path}: {data.name} holds {actual} bytes but the header "
                f"declares {header.sig_len} samples ({expected} bytes); the signal file is "
                "truncated or the header's sample count is wrong"
            )


def _check_lengths(record, record_path: Path) -> None:
    """A signal shorter than the header says means a truncated signal file."""
    expected = record.sig_len
    for name, sig, spf in zip(record.sig_name, record.e_p_signal, record.samps_per_frame,
                              strict=True):
        if expected and len(sig) != expected * spf:
            raise InputFileError(
                f"WFDB record {record_path}: channel {name!r} has {len(sig)} samples, header "
                f"declares {expected * spf}; the signal file is truncated or the header is wrong"
            )


def _start_time(record) -> _dt.datetime | None:
    if record.base_time is None:
        return None
    date = record.base_date or _dt.date(1970, 1, 1)
    return _dt.datetime.combine(date, record.base_time)


def _load_numerics(path: Path, start: _dt.datetime | None) -> dict[str, Numeric]:
    """Numeric channels of a MIMIC numerics record, timed relative to the waveform start."""
    import wfdb

    try:
        record = wfdb.rdrecord(str(path), smooth_frames=False, physical=True)
    except Exception as exc:  # a broken numerics record must not lose the waveforms
        log.warning("numerics record %s unreadable (%s); ignored", path, _reason(exc))
        return {}
    offset = 0.0
    own_start = _start_time(record)
    if start is not None and own_start is not None:
        offset = (own_start - start).total_seconds()
    numerics: dict[str, Numeric] = {}
    for name, sig, spf, unit in zip(record.sig_name, record.e_p_signal, record.samps_per_frame,
                                    record.units, strict=True):
        values = np.asarray(sig, dtype=np.float64)
        times = offset + np.arange(values.size) / (float(record.fs) * int(spf))
        keep = np.isfinite(values)
        key = numeric_name(name)
        numerics[key] = Numeric(key, times[keep], values[keep], unit or "", name)
    return numerics


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:200]
