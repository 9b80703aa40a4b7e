"""``load_recording``: pick the loader from the file type."""

from __future__ import annotations

from pathlib import Path

from cardiosbi.errors import InputFileError
from cardiosbi.io.channels import renamed_fs
from cardiosbi.io.recording import Recording
from cardiosbi.utils.paths import existing_path

RECORD_SUFFIXES = {".hea": "wfdb", ".vital": "vital", ".csv": "table", ".parquet": "table"}


def load_recording(path: str | Path, *, sampling_rate: float | None = None,
                   fs: float | None = None) -> Recording:
    """Load a WFDB record (``.hea`` or its base name), a ``.vital`` file, or a CSV/Parquet file.

    ``sampling_rate`` [Hz] is required for CSV/Parquet and ignored otherwise (the files declare
    theirs); ``fs`` is its deprecated name. ``physionet:<database dir>/<record>`` streams a WFDB
    record from PhysioNet (online only). A list-file entry that discovery refused (a
    :class:`~cardiosbi.io.cohort.RefusedEntry`) raises its reason, so it fails as its record.
    """
    from cardiosbi.io.tabular import load_table
    from cardiosbi.io.vital import load_vital
    from cardiosbi.io.wfdb_records import load_wfdb

    sampling_rate = renamed_fs(sampling_rate, fs)
    reason = getattr(path, "refused_reason", None)
    if reason:
        raise InputFileError(reason)
    if str(path).startswith("physionet:"):
        directory, _, name = str(path).split(":", 1)[1].rpartition("/")
        return load_wfdb(name, pn_dir=directory)
    path = Path(path)
    if not path.exists() and path.with_suffix(".hea").exists():
        path = path.with_suffix(".hea")
    path = existing_path(path, "recording")
    kind = RECORD_SUFFIXES.get(path.suffix.lower())
    if kind == "wfdb" or path.suffix.lower() in {".dat", ".mat"}:
        return load_wfdb(path)
    if kind == "vital":
        return load_vital(path)
    if kind == "table":
        return load_table(path, sampling_rate=sampling_rate)
    raise InputFileError(
        f"unknown recording type {path.suffix!r} ({path.name}); expected one of "
        f"{', '.join(sorted(RECORD_SUFFIXES))}"
    )
