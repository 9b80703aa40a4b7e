"""Run directories: every command writes into one folder that records how it was run."""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import subprocess
import tempfile
from pathlib import Path

from omegaconf import DictConfig, OmegaConf

import cardiosbi


def git_revision() -> str | None:
    """The git revision of the source tree cardiosbi runs from, if it is a checkout."""
    root = Path(cardiosbi.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def make_run_dir(base: str | os.PathLike, command: str) -> Path:
    """Create ``base/<command>-<UTC timestamp>`` (unique) and return it."""
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(base) / f"{command}-{stamp}"
    suffix = 1
    while path.exists():
        suffix += 1
        path = Path(base) / f"{command}-{stamp}-{suffix}"
    path.mkdir(parents=True)
    return path


def write_run_info(run_dir: Path, cfg: DictConfig, command: str) -> None:
    """Save the resolved config and provenance (version, git revision, time) in ``run_dir``."""
    atomic_write_text(run_dir / "config.yaml", OmegaConf.to_yaml(cfg, resolve=True))
    info = {
        "command": command,
        "cardiosbi_version": cardiosbi.__version__,
        "git_revision": git_revision(),
        "started_utc": _dt.datetime.now(_dt.UTC).isoformat(),
    }
    atomic_write_text(run_dir / "run.json", json.dumps(info, indent=2))


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` atomically (temp file in the same folder, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's content, read in 1 MiB chunks (recordings can be gigabytes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def files_sha256(paths: list[Path]) -> str:
    """One sha256 over several files: their names and content digests, in the given order."""
    digest = hashlib.sha256()
    for path in paths:
        digest.update(f"{Path(path).name}\0{file_sha256(path)}\n".encode())
    return digest.hexdigest()
