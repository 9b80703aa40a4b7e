"""Bad files through ``preprocess`` and ``infer``, table-driven: each fails alone, with its reason.

One folder holds a good synthetic record and one bad file per row; the cohort is run once (and
once through ``cardiosbi infer``) and every row is checked against its expected outcome, with
the good record still processed. List-file rows (``./``, ``../x``) need a ``RECORDS`` file,
which decides what a folder holds, so they have a folder of their own.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cardiosbi.signals.cohort import preprocess_cohort
from tests.io.synthetic import write_pulse_record

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def _edit_header(header: Path, old: str, new: str) -> None:
    text = header.read_text()
    assert old in text
    header.write_text(text.replace(old, new, 1))


def truncated(folder: Path, name: str) -> None:
    data = write_pulse_record(folder, name).with_suffix(".dat")
    data.write_bytes(data.read_bytes()[:5000])


def corrupt_samples(folder: Path, name: str) -> None:
    """Samples overwritten in place: the file size is right, the checksums are not."""
    data = write_pulse_record(folder, name).with_suffix(".dat")
    content = bytearray(data.read_bytes())
    content[4000:4400] = bytes(400)
    data.write_bytes(bytes(content))


def more_signals_declared(folder: Path, name: str) -> None:
    """Three signals of 5000 samples declared over two of 7500: the same 30000 bytes."""
    header = write_pulse_record(folder, name)
    lines = header.read_text().splitlines()
    lines[0] = f"{name} 3 125 5000"
    header.write_text("\n".join([*lines, lines[2].replace("PLETH", "PLETH2")]) + "\n")


def rate(value: str) -> Callable[[Path, str], None]:
    """A good record whose header's sampling rate is then written as ``value``."""

    def build(folder: Path, name: str) -> None:
        _edit_header(write_pulse_record(folder, name), f"{name} 2 125 ", f"{name} 2 {value} ")

    return build


def missing_dat(folder: Path, name: str) -> None:
    write_pulse_record(folder, name).with_suffix(".dat").unlink()


def empty_header(folder: Path, name: str) -> None:
    (folder / f"{name}.hea").write_bytes(b"")


def garbage_header(folder: Path, name: str) -> None:
    (folder / f"{name}.hea").write_bytes(np.random.default_rng(3).bytes(300))


def slash_segment(folder: Path, name: str) -> None:
    """A multi-segment header whose second segment names a file outside the folder."""
    write_pulse_record(folder, f"{name}_1")
    (folder / f"{name}.hea").write_text(f"{name}/2 2 125 15000\n{name}_1 7500\n../{name}_2 7500\n")


def csv_without_rate(folder: Path, name: str) -> None:
    pd.DataFrame({"ABP [mmHg]": np.full(2000, 90.0), "PLETH": np.zeros(2000)}).to_csv(
        folder / f"{name}.csv", index=False)


def not_vital(folder: Path, name: str) -> None:
    (folder / f"{name}.vital").write_text("this is not a VitalDB file\n")


def flat_abp(folder: Path, name: str) -> None:
    write_pulse_record(folder, name, abp=90.0)


def nan_abp(folder: Path, name: str) -> None:
    write_pulse_record(folder, name, abp=np.nan)


@dataclass(frozen=True)
class Row:
    name: str
    build: Callable[[Path, str], None]  # writes the row's file(s) into a folder
    reason: str  # expected in the record's failure reason, or in every window's reason
    read_fails: bool = True  # False: read fine, every window rejected


ROWS = [
    Row("truncated", truncated, "truncated"),
    Row("corrupt_samples", corrupt_samples, "fails its checksum"),
    Row("more_signals", more_signals_declared, "channel 'ABP' fails its checksum"),
    Row("rate_negative", rate("-125"), "sampling rate must be a finite number > 0 Hz, got '-125'"),
    Row("rate_zero", rate("0"), "sampling rate must be a finite number > 0 Hz, got '0'"),
    Row("rate_huge", rate("1e9"), "sampling rate 1e+09 Hz is above the plausible"),
    Row("missing_dat", missing_dat, "signal file missing_dat.dat not found"),
    Row("empty", empty_header, "is empty"),
    Row("garbage", garbage_header, "is not a text file (binary content)"),
    Row("slash_segment", slash_segment, "segment name '../slash_segment_2' is not a file name"),
    Row("no_rate", csv_without_rate, "needs its sampling rate"),
    Row("not_vital", not_vital, "cannot read VitalDB file"),
    Row("flat_abp", flat_abp, "flat:abp", read_fails=False),
    Row("nan_abp", nan_abp, "missing:abp", read_fails=False),
]


@pytest.fixture(scope="module")
def cohort(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("bad_files")
    write_pulse_record(folder, "good")
    for row in ROWS:
        row.build(folder, row.name)
    return folder


@pytest.fixture(scope="module")
def prepared(cohort, tmp_path_factory) -> tuple[pd.DataFrame, Path]:
    out = tmp_path_factory.mktemp("prepared")
    summary = preprocess_cohort(cohort, out, save_windows=False, table_format="csv")
    return summary.set_index("record"), out


def _check_good(summary: pd.DataFrame, windows: pd.DataFrame) -> None:
    assert summary.loc["good", "status"] == "ok"
    assert len(windows) == 7 and windows["accepted"].all()


def test_every_file_is_a_record_and_nothing_else(prepared):
    summary, _out = prepared
    # Segments of slash_segment are hidden; a broken file is still listed, as a failure.
    assert set(summary.index) == {"good"} | {row.name for row in ROWS}


@pytest.mark.parametrize("row", ROWS, ids=[row.name for row in ROWS])
def test_bad_file_fails_alone_with_its_reason(prepared, row):
    summary, out = prepared
    _check_good(summary, pd.read_csv(out / "records" / "good.csv"))
    if row.read_fails:
        assert summary.loc[row.name, "status"] == "failed"
        assert row.reason in summary.loc[row.name, "reason"]
        assert "\n" not in summary.loc[row.name, "reason"]
    else:
        assert summary.loc[row.name, "status"] == "ok"
        assert summary.loc[row.name, "n_accepted"] == 0
        reasons = pd.read_csv(out / "records" / f"{row.name}.csv")["reason"]
        assert reasons.str.contains(row.reason, regex=False).all()


def test_infer_over_the_bad_folder_estimates_the_good_record(cohort, tmp_path, capsys):
    from cardiosbi.cli.main import run

    out = tmp_path / "infer"
    assert run(["infer", str(cohort), "--out", str(out), "posterior=apw", "n_samples=20"]) == 0
    prepared = pd.read_csv(out / "preprocess" / "summary.csv").set_index("record")
    for row in ROWS:
        assert prepared.loc[row.name, "status"] == ("failed" if row.read_fails else "ok")
        if row.read_fails:
            assert row.reason in prepared.loc[row.name, "reason"]
    estimates = pd.read_csv(out / "estimates" / "good.csv")
    assert estimates["window"].nunique() == 7 and estimates["median"].notna().any()
    assert "good" in set(pd.read_csv(out / "summary.csv")["record"])
    assert "Traceback" not in capsys.readouterr().err


@pytest.fixture(scope="module")
def listed(tmp_path_factory) -> Path:
    """``listed/RECORDS`` naming its good record, its own folder, a file beside the folder,
    an absolute path and a missing sub-folder."""
    top = tmp_path_factory.mktemp("lists")
    folder, outside = top / "listed", top / "outside"
    folder.mkdir()
    outside.mkdir()
    write_pulse_record(folder, "good")
    write_pulse_record(outside, "x")
    (folder / "RECORDS").write_text(f"good\n./\n../outside/x\n{outside / 'x.hea'}\nabsent/\n")
    return folder


def test_list_entries_fail_alone(listed, tmp_path):
    summary = preprocess_cohort(listed, tmp_path, save_windows=False, table_format="csv")
    by_source = summary.set_index("source")
    _check_good(summary.set_index("record"), pd.read_csv(tmp_path / "records" / "good.csv"))
    reasons = {entry: by_source.loc[f"{listed / 'RECORDS'}#{entry}", "reason"]
               for entry in ("./", "../outside/x", str(listed.parent / "outside" / "x.hea"),
                             "absent/")}
    assert "a loop" in reasons["./"]
    assert "points outside the list's folder" in reasons["../outside/x"]
    assert "allow_outside_paths" in reasons[str(listed.parent / "outside" / "x.hea")]
    assert "gives no recordings" in reasons["absent/"] and "not found" in reasons["absent/"]
    assert (summary["status"] == "failed").sum() == 4
    assert not (tmp_path / "records" / "x.csv").exists()
