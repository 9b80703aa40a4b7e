"""Input paths checked up front, so a missing file is one clear line, not a deep traceback."""

from __future__ import annotations

import os
from pathlib import Path

from cardiosbi.errors import InputFileError


def existing_path(path: str | os.PathLike | None, what: str) -> Path:
    """Return ``path`` as a Path if it exists, else raise InputFileError naming ``what``."""
    if path is None or str(path) == "":
        raise InputFileError(f"no {what} given")
    resolved = Path(path).expanduser()
    if not resolved.exists():
        raise InputFileError(f"{what} not found: {resolved}")
    return resolved


SAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "samples"


def sample_record() -> Path:
    """The shipped real sample record (``cardiosbi/assets/samples/v136s``, without extension).

    It is package data, so an installed wheel finds it wherever it runs.
    """
    record = SAMPLES_DIR / "v136s"
    if not record.with_suffix(".hea").is_file() or not record.with_suffix(".mat").is_file():
        raise InputFileError(
            f"the shipped sample record is missing from {SAMPLES_DIR}; reinstall cardiosbi"
        )
    return record
