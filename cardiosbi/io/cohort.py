"""Cohorts: find the records of a folder, glob, list file or case list, and process them in
parallel workers with per-record error isolation and resume after interruption.

A *record reference* is a string: a file path (WFDB header, ``.vital``, CSV, Parquet),
``vitaldb:<caseid>`` for an open VitalDB case (downloaded to a cache on first use) or
``physionet:<database dir>/<record>`` for a WFDB record streamed from PhysioNet; the last two
need internet and are never used by the tests.
"""

from __future__ import annotations

import dataclasses
import glob as _glob
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from cardiosbi.errors import CardiosbiError, InputFileError
from cardiosbi.io.loader import RECORD_SUFFIXES
from cardiosbi.utils.paths import existing_path
from cardiosbi.utils.rundir import atomic_write_text

log = logging.getLogger(__name__)

LIST_SUFFIXES = {".txt", ".list", ".records"}
_GLOB_CHARS = set("*?[")


_OUTSIDE = ("points outside the list's folder; paths read from a list stay in its folder "
            "unless allow_outside_paths is set")


class RefusedEntry(str):
    """A list-file entry discovery refused: it stays in the cohort and fails as its own record.

    The string is ``<list file>#<entry>`` (never a readable path); ``refused_reason`` says why,
    and :func:`~cardiosbi.io.loader.load_recording` raises it as that record's error.
    """

    refused_reason: str

    def __new__(cls, value: str, reason: str) -> RefusedEntry:
        entry = super().__new__(cls, value)
        entry.refused_reason = reason
        return entry

    def __reduce__(self):  # picklable for worker processes, reason included
        return RefusedEntry, (str(self), self.refused_reason)


def _refused(list_file: Path, entry: str, reason: str) -> RefusedEntry:
    return RefusedEntry(f"{list_file}#{entry}", f"{list_file}: entry {entry!r} {reason}")


@dataclass(frozen=True)
class _Scope:
    """What a discovery carries down into the folders and list files it follows."""

    excluded: tuple[Path, ...] = ()
    allow_outside: bool = False
    following: frozenset[Path] = frozenset()  # list files being followed (a loop guard)


def discover_records(source: str | os.PathLike, *, exclude: Iterable[Path] = (),
                     allow_outside_paths: bool = False) -> list[str]:
    """Record references named by ``source``.

    ``source`` is one record file, a folder (searched recursively; a MIMIC ``RECORDS`` file is
    followed when present), a glob pattern (``'data/*.hea'``), a list file (``.txt``/``.list``
    or a file named ``RECORDS``: one path per line, relative to the list's folder; ``#``
    comments) or a CSV case list with a ``caseid`` column (VitalDB) or ``path`` column.
    Paths under ``exclude`` (e.g. the output folder) are skipped.

    Paths read from inside a list file or case list must stay inside the folder holding it
    (a data folder must not make the tool read files elsewhere) unless ``allow_outside_paths``;
    an entry refused for that, one that loops back into a list being followed, or one naming
    a folder without recordings becomes a :class:`RefusedEntry` that fails alone.
    """
    scope = _Scope(tuple(Path(p).resolve() for p in exclude), allow_outside_paths)
    return _discover(source, scope)


def _discover(source: str | os.PathLike, scope: _Scope) -> list[str]:
    text = str(source)
    if text.startswith(("vitaldb:", "physionet:")):
        return [text]
    if any(ch in text for ch in _GLOB_CHARS) and not Path(text).exists():
        found = sorted(_glob.glob(text, recursive=True))
        if not found:
            raise InputFileError(f"no file matches the pattern {text!r}")
        files = [Path(p) for p in found if Path(p).is_file()]
        keep = set(_record_files(files)) | {str(p) for p in files if p.suffix not in
                                             RECORD_SUFFIXES}
        return _unique([ref for path in found if Path(path).is_dir() or path in keep
                        for ref in _discover(path, scope)])
    if not Path(text).exists() and Path(text + ".hea").exists():
        text += ".hea"  # a WFDB record named without its header suffix
    path = existing_path(text, "recording or folder")
    if path.is_dir():
        refs = _folder_records(path, scope)
    elif path.name == "RECORDS" or path.suffix.lower() in LIST_SUFFIXES:
        refs = _list_records(path, scope)
    elif path.suffix.lower() == ".csv" and _is_case_list(path):
        refs = _case_list(path, scope)
    else:
        refs = [str(path)]
    if not refs:
        raise InputFileError(f"no recordings found in {path} (looked for "
                             f"{', '.join(sorted(RECORD_SUFFIXES))})")
    return refs


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _folder_records(folder: Path, scope: _Scope) -> list[str]:
    if (folder / "RECORDS").is_file():
        return _list_records(folder / "RECORDS", scope)
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(p.resolve().is_relative_to(e) for e in scope.excluded))
    return _record_files(files)


def _record_files(files: list[Path]) -> list[str]:
    """The recordings among ``files``: not segments, layouts or numerics of another record."""
    files = [p for p in files if p.suffix.lower() in RECORD_SUFFIXES]
    headers = [p for p in files if p.suffix.lower() == ".hea"]
    hidden = _segment_headers(headers) | _numerics_headers(headers)
    return [str(p) for p in files if p not in hidden and not p.name.endswith("_layout.hea")]


def _segment_headers(headers: list[Path]) -> set[Path]:
    """Headers that are segments of a multi-segment record in the same folder.

    A segment name that is not a plain file name hides nothing: its record fails alone when
    loaded, with the reason.
    """
    segments: set[Path] = set()
    for header in headers:
        lines = _header_lines(header)
        if lines and "/" in lines[0].split()[0]:
            for line in lines[1:]:
                name = line.split()[0]
                if name != "~" and "/" not in name and "\\" not in name and name != "..":
                    segments.add(header.with_name(name + ".hea"))
    return segments


def _numerics_headers(headers: list[Path]) -> set[Path]:
    """MIMIC numerics records (``<record>n.hea``) next to their waveform record."""
    names = {h.name for h in headers}
    return {h for h in headers if h.stem.endswith("n") and f"{h.stem[:-1]}.hea" in names}


def _header_lines(header: Path) -> list[str]:
    try:
        text = header.read_text(errors="replace")
    except OSError:
        return []
    return [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]


def _inside(folder: Path, entry: str) -> bool:
    """Whether ``entry`` (relative to ``folder``, or absolute) names a path inside ``folder``.

    Compared by name, not by following links: a folder of links into a database is fine.
    """
    target = Path(os.path.abspath(folder / entry))
    return target.is_relative_to(Path(os.path.abspath(folder)))


def _list_records(list_file: Path, scope: _Scope) -> list[str]:
    """Entries of a list file; MIMIC ``RECORDS`` lines may name sub-folders (``30/3000003/``)."""
    scope = dataclasses.replace(scope, following=scope.following | {list_file.resolve()})
    refs: list[str] = []
    headers: list[Path] = []
    for line in list_file.read_text(errors="replace").splitlines():
        entry = line.split("#", 1)[0].strip()
        if not entry:
            continue
        if entry.startswith(("vitaldb:", "physionet:")):
            refs.append(entry)
            continue
        if not (scope.allow_outside or _inside(list_file.parent, entry)):
            refs.append(_refused(list_file, entry, _OUTSIDE))
            continue
        target = (list_file.parent / entry).resolve()
        if target.is_dir() or entry.endswith("/"):
            refs += _listed_folder(list_file, entry, target, scope)
        elif target.suffix != ".hea" and target.with_suffix(".hea").exists():
            headers.append(target.with_suffix(".hea"))
        elif target.suffix == ".hea":
            headers.append(target)
        else:
            refs.append(str(target))  # a missing entry fails alone, as that record's error
    return _unique(refs + _record_files(headers))  # a record listed twice is done once


def _listed_folder(list_file: Path, entry: str, target: Path, scope: _Scope) -> list[str]:
    """The records of a folder a list names, or one refused entry saying why there are none."""
    if (target / "RECORDS").resolve() in scope.following:
        return [_refused(list_file, entry, "names a folder whose RECORDS is already being "
                                               "followed (a loop)")]
    try:
        return _discover(target, scope)
    except InputFileError as exc:  # a missing or empty folder fails alone, not the cohort
        return [_refused(list_file, entry, f"gives no recordings: {exc}")]


def _is_case_list(path: Path) -> bool:
    with path.open(errors="replace") as handle:
        header = handle.readline().strip().lower()
    return bool(re.fullmatch(r"(caseid|path)(,.*)?", header))


def _case_list(path: Path, scope: _Scope) -> list[str]:
    table = pd.read_csv(path)
    columns = {c.lower(): c for c in table.columns}
    if "caseid" in columns:
        return [f"vitaldb:{int(c)}" for c in table[columns["caseid"]].dropna()]
    return [str((path.parent / entry).resolve())
            if scope.allow_outside or _inside(path.parent, entry)
            else _refused(path, entry, _OUTSIDE)
            for entry in map(str, table[columns["path"]].dropna())]


def record_id(ref: str, root: str | os.PathLike | None = None) -> str:
    """A file-name-safe, unique name for a record reference (relative to ``root`` if given)."""
    if ref.startswith(("vitaldb:", "physionet:")):
        return re.sub(r"[^A-Za-z0-9_.-]+", "__", ref.replace(":", "_", 1))
    path = Path(ref)
    if root is not None:
        base = Path(root)
        base = base if base.is_dir() else base.parent
        try:
            path = path.resolve().relative_to(base.resolve())
        except ValueError:
            path = Path(path.name)
    else:
        path = Path(path.name)
    stem = str(path.with_suffix("")) if path.suffix.lower() in RECORD_SUFFIXES else str(path)
    return re.sub(r"[^A-Za-z0-9_.-]+", "__", stem).strip("_") or "record"


@dataclass
class RecordResult:
    """What processing one record gave: its output, or the reason it failed."""

    ref: str
    record_id: str
    ok: bool
    error: str = ""
    payload: dict = field(default_factory=dict)


def process_isolated(function: Callable[[str, str], dict], ref: str, rid: str) -> RecordResult:
    """Run ``function(ref, rid)``; any exception becomes a failed RecordResult with its reason.

    This is the isolation boundary of a cohort run: one corrupt record must never stop the
    others, so every exception type is caught here (and logged with its type).
    """
    try:
        return RecordResult(ref, rid, True, payload=function(ref, rid))
    except CardiosbiError as exc:
        return RecordResult(ref, rid, False, error=str(exc))
    except Exception as exc:  # noqa: BLE001 — isolation boundary, see docstring
        log.debug("record %s failed", ref, exc_info=True)
        return RecordResult(ref, rid, False, error=f"{type(exc).__name__}: {exc}"[:500])


def iter_results(refs: list[tuple[str, str]], function: Callable[[str, str], dict],
                 workers: int = 1) -> Iterator[RecordResult]:
    """Yield a RecordResult per ``(ref, record_id)`` as records finish, in worker processes.

    ``function`` must be picklable (a module-level function or ``functools.partial``). At most
    ``2 × workers`` records are in flight, so memory does not grow with the cohort size. When a
    worker process dies (e.g. killed for memory) the records it took down with it are retried
    one by one in a fresh process, so only the record that kills its process fails.
    """
    if workers <= 1:
        for ref, rid in refs:
            yield process_isolated(function, ref, rid)
        return
    pending = list(refs)
    while pending:
        lost: list[tuple[str, str]] = []
        with ProcessPoolExecutor(max_workers=workers) as pool:
            running: dict[Future, tuple[str, str]] = {}
            while (pending or running) and not lost:
                while pending and len(running) < 2 * workers:
                    ref, rid = pending.pop(0)
                    running[pool.submit(process_isolated, function, ref, rid)] = (ref, rid)
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    item = running.pop(future)
                    try:
                        yield future.result()
                    except BrokenProcessPool:
                        lost.append(item)
            lost += list(running.values())
        for ref, rid in lost:
            yield _run_alone(function, ref, rid)


def _run_alone(function: Callable[[str, str], dict], ref: str, rid: str) -> RecordResult:
    """Run one record in its own process; if that process dies, the record is the cause."""
    with ProcessPoolExecutor(max_workers=1) as pool:
        try:
            return pool.submit(process_isolated, function, ref, rid).result()
        except BrokenProcessPool:
            return RecordResult(ref, rid, False, error="worker process died")


def load_status(status_dir: Path) -> dict[str, dict]:
    """Status of every record already finished in an output folder (for resuming)."""
    statuses = {}
    for path in sorted(status_dir.glob("*.json")):
        try:
            statuses[path.stem] = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue  # a torn status file: that record is simply done again
    return statuses


def write_status(status_dir: Path, rid: str, status: dict) -> None:
    atomic_write_text(status_dir / f"{rid}.json", json.dumps(status, indent=1, default=float))
