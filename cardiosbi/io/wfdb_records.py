"""WFDB records through ``wfdb``: single/multi-segment, mixed rates, FLAC and .mat, MIMIC layouts.

Every channel is read at its own rate (``smooth_frames=False``); multi-segment records are
joined by wfdb (gaps and absent channels become NaN). A MIMIC numerics record (``<name>n``)
next to the waveform record is attached as numeric tracks.

Nothing is read on trust: the header's sampling rate must parse to what it says, segment names
must be files of the record's folder, each signal file must hold exactly the bytes the header
declares, and each channel's samples must sum to the header's checksum. The last catches a
header describing other data (e.g. three signals declared over a two-signal file of the same
size), which would otherwise be read as scrambled channels with confident wrong values.
"""

from __future__ import annotations

import datetime as _dt
import logging
import math
import re
from pathlib import Path

import numpy as np

from cardiosbi.errors import InputFileError
from cardiosbi.io.channels import PLAUSIBLE_SAMPLING_RATE, build_channels, numeric_name
from cardiosbi.io.recording import Numeric, Recording

log = logging.getLogger(__name__)


def load_wfdb(path: str | Path, *, numerics: bool = True, pn_dir: str | None = None
              ) -> Recording:
    """Read the WFDB record at ``path`` (with or without the ``.hea`` suffix).

    With ``pn_dir`` (e.g. ``"mimic4wdb/0.1.0/waves/p100/p10014354/81739927"``) the record is
    streamed from PhysioNet instead (needs internet; never used by the tests); its checksums
    are still verified, its header text and file sizes are not.
    """
    record_path = Path(path) if pn_dir else _record_path(path)
    if not pn_dir:
        _check_header_files(record_path)
    record = _read_checked(record_path, pn_dir)
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
    if numerics and not pn_dir and _header_file(numerics_path).exists():
        rec.numerics = _load_numerics(numerics_path, rec.start_time)
    return rec


def _record_path(path: str | Path) -> Path:
    path = Path(path)
    if path.suffix in {".hea", ".dat", ".mat"}:
        path = path.with_suffix("")
    if not _header_file(path).exists():
        raise InputFileError(f"WFDB header not found: {_header_file(path)}")
    return path


def _header_file(record_path: Path) -> Path:
    """``<record>.hea`` (``with_suffix`` would cut a record name that holds a dot)."""
    return record_path.with_name(record_path.name + ".hea")


def _read_checked(record_path: Path, pn_dir: str | None):
    """The record with physical ``e_p_signal``, read as digital samples to verify checksums."""
    import wfdb

    try:
        record = wfdb.rdrecord(str(record_path), smooth_frames=False, physical=False,
                               m2s=False, pn_dir=pn_dir)
    except Exception as exc:  # wfdb raises bare ValueError/IndexError/OSError on bad files
        raise InputFileError(f"cannot read WFDB record {record_path}: {_reason(exc)}") from None
    if not record.n_sig:
        raise InputFileError(f"WFDB record {record_path} has no signals")
    if not isinstance(record, wfdb.MultiRecord):
        _check_checksums(record, str(record_path))
        record.dac(expanded=True, return_res=64, inplace=True)
        return record
    for segment in record.segments:
        if segment is not None and getattr(segment, "e_d_signal", None) is not None:
            _check_checksums(segment, f"{record_path} (segment {segment.record_name})")
            segment.dac(expanded=True, return_res=64, inplace=True)
    try:
        return record.multi_to_single(physical=True, expanded=True, return_res=64)
    except Exception as exc:  # segments that wfdb cannot join (e.g. samples-per-frame differ)
        raise InputFileError(f"cannot join the segments of WFDB record {record_path}: "
                             f"{_reason(exc)}") from None


def _check_checksums(record, label: str) -> None:
    """Each channel's samples must sum, modulo 2^16, to the checksum its header line declares.

    Channels without a declared checksum, and skewed channels (whose read is shifted), are
    not checked.
    """
    declared = record.checksum or [None] * record.n_sig
    skews = record.skew or [None] * record.n_sig
    for name, samples, expected, skew in zip(record.sig_name, record.e_d_signal, declared,
                                             skews, strict=True):
        if expected is None or skew:
            continue
        actual = int(np.sum(samples, dtype=np.int64))
        if (actual - int(expected)) % 65536:
            raise InputFileError(
                f"WFDB record {label}: channel {name!r} fails its checksum (samples sum to "
                f"{actual % 65536}, header says {int(expected) % 65536}); the signal file is "
                "corrupt or the header does not describe it (number of signals, format, length)"
            )


def _header_lines(header_file: Path) -> list[str]:
    """Non-comment lines of a header, read as wfdb reads them (ASCII, other bytes dropped).

    A file of which more than 1 % are control characters is binary, not a header; saying so
    beats the syntax error its first line would give.
    """
    try:
        data = header_file.read_bytes()
    except OSError as exc:
        raise InputFileError(f"cannot read WFDB header {header_file}: {_reason(exc)}") from None
    controls = sum(byte < 32 and byte not in b"\t\n\r\f\v" for byte in data)
    if controls > 0.01 * len(data):
        raise InputFileError(f"WFDB header {header_file} is not a text file (binary content)")
    lines = [ln.strip() for ln in data.decode("ascii", errors="ignore").splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith("#")]
    if not lines:
        raise InputFileError(f"WFDB header {header_file} is empty")
    return lines


def _check_header_files(record_path: Path, *, segment: bool = False) -> None:
    """Check a record's header text and signal files (each segment's, for a multi-segment one).

    Runs before wfdb reads anything, so a bad header is reported by what is wrong with it
    rather than by the error it would cause deep inside wfdb.
    """
    import wfdb

    header_file = _header_file(record_path)
    lines = _header_lines(header_file)
    _check_counts(lines[0].split(), header_file)
    declared_rate = _declared_rate(lines[0].split(), header_file)
    segments = _segment_names(lines, header_file)
    if segment and segments:  # WFDB segments are single records; this also stops self-loops
        raise InputFileError(f"WFDB header {header_file}: a segment cannot itself have segments")
    try:
        header = wfdb.rdheader(str(record_path))
    except Exception as exc:  # wfdb raises bare ValueError/IndexError on malformed headers
        raise InputFileError(f"cannot read WFDB header {header_file}: {_reason(exc)}") from None
    if declared_rate is not None and not math.isclose(declared_rate, float(header.fs),
                                                      rel_tol=1e-9):
        raise InputFileError(
            f"WFDB header {header_file}: sampling rate {lines[0].split()[2]!r} would be read "
            f"as {float(header.fs):g} Hz; write it as a plain decimal number"
        )
    for name in segments:
        part = record_path.with_name(name)
        if not _header_file(part).exists():
            raise InputFileError(f"WFDB record {record_path}: segment header "
                                 f"{_header_file(part).name} not found")
        _check_header_files(part, segment=True)
    if not isinstance(header, wfdb.MultiRecord):
        _check_formats(header, header_file)
        _check_file_sizes(record_path, header)


def _check_counts(tokens: list[str], header_file: Path) -> None:
    """The record line's signal count must be a whole number > 0, and its sample count (when
    given; 0 in a layout header) a whole number: wfdb takes a malformed sample count for an
    absent one and reads the whole file."""
    n_sig = tokens[1] if len(tokens) > 1 else ""
    if not n_sig.isdigit() or int(n_sig) == 0:
        raise InputFileError(f"WFDB header {header_file}: number of signals {n_sig!r} is not a "
                             "whole number > 0")
    if len(tokens) > 3 and not tokens[3].isdigit():
        raise InputFileError(f"WFDB header {header_file}: number of samples {tokens[3]!r} is "
                             "not a whole number")


def _check_formats(header, header_file: Path) -> None:
    for name, fmt in zip(header.sig_name or [], header.fmt or [], strict=True):
        if fmt not in _FORMATS:
            raise InputFileError(f"WFDB header {header_file}: channel {name!r} has storage "
                                 f"format {fmt!r}, not a WFDB format ({', '.join(_FORMATS)})")


def _declared_rate(tokens: list[str], header_file: Path) -> float | None:
    """The sampling rate written on the record line (``fs[/counter[(base)]]``), checked.

    None when the line gives none (WFDB's default of 250 Hz then applies). wfdb's own parser
    turns ``-125`` into the default 250 Hz and ``1e9`` into 1 Hz, hence this check.
    """
    if len(tokens) < 3:
        return None
    text = re.match(r"[^/(]*", tokens[2]).group()
    try:
        rate = float(text)
    except ValueError:
        raise InputFileError(f"WFDB header {header_file}: sampling rate {tokens[2]!r} is not a "
                             "number") from None
    if not math.isfinite(rate) or rate <= 0:
        raise InputFileError(f"WFDB header {header_file}: sampling rate must be a finite number "
                             f"> 0 Hz, got {text!r}")
    if rate > PLAUSIBLE_SAMPLING_RATE[1]:
        raise InputFileError(f"WFDB header {header_file}: sampling rate {rate:g} Hz is above "
                             f"the plausible {PLAUSIBLE_SAMPLING_RATE[1]:g} Hz")
    return rate


def _segment_names(lines: list[str], header_file: Path) -> list[str]:
    """Segment names of a multi-segment header (not ``~`` gaps), each a plain file name.

    A name with a path separator would read a file outside the record's folder.
    """
    record_name = lines[0].split()[0]
    if "/" not in record_name:
        return []
    names = [line.split()[0] for line in lines[1:]]
    for name in names:
        if "/" in name or "\\" in name or name in {".", ".."}:
            raise InputFileError(f"WFDB header {header_file}: segment name {name!r} is not a "
                                 "file name in the record's folder")
    return [name for name in names if name != "~"]


# Bytes per sample of the uncompressed WFDB formats (FLAC and other formats are not checked).
_BYTES_PER_SAMPLE = {"8": 1.0, "16": 2.0, "61": 2.0, "80": 1.0, "160": 2.0, "212": 1.5,
                     "310": 4 / 3, "311": 4 / 3, "24": 3.0, "32": 4.0}
_FORMATS = [*_BYTES_PER_SAMPLE, "508", "516", "524"]  # with the FLAC formats


def _check_file_sizes(record_path: Path, header) -> None:
    """Compare each signal file's size with what the header declares, before wfdb reads it.

    A short file would be a reshape error inside wfdb; a longer one would be read silently in
    part, though it means the header's signal count or length is wrong. Both name the file.
    """
    if not header.sig_len or not header.file_name:
        return  # no length declared: wfdb takes it from the file size
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
        if not data.is_file():
            raise InputFileError(f"WFDB record {record_path}: signal file {data.name} not found")
        expected = int(np.ceil(bytes_per_frame * header.sig_len) + offset)
        actual = data.stat().st_size
        if actual < expected:
            raise InputFileError(
                f"WFDB record {record_path}: {data.name} holds {actual} bytes but the header "
                f"declares {header.sig_len} samples ({expected} bytes); the signal file is "
                "truncated or the header's sample count is wrong"
            )
        if actual - expected >= math.ceil(bytes_per_frame):
            raise InputFileError(
                f"WFDB record {record_path}: {data.name} holds {actual} bytes, more than the "
                f"{expected} bytes the header declares ({header.sig_len} samples); the header's "
                "number of signals or samples is wrong"
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
