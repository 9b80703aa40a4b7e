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


def repository_root() -> Path | None:
    """The source checkout cardiosbi runs from (None for a plain pip install)."""
    root = Path(__file__).resolve().parents[2]
    return root if (root / "pyproject.toml").exists() else None


def sample_record() -> Path:
    """The shipped real sample record (``data/samples/v136s``), looked up in ./ then the checkout."""
    candidates = [Path.cwd() / "data" / "samples" / "v136s"]
    root = repository_root()
    if root is not None:
        candidates.append(root / "data" / "samples" / "v136s")
    for candidate in candidates:
        if candidate.with_suffix(".hea").exists():
            return candidate
    raise InputFileError(
        "the sample record data/samples/v136s was not found; run from the repository checkout"
    )
