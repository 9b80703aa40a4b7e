"""Discovery never crashes on a bad entry, never loops, and keeps list paths in their folder."""

from __future__ import annotations

import pickle

import pytest

from cardiosbi.errors import InputFileError
from cardiosbi.io import load_recording
from cardiosbi.io.cohort import RefusedEntry, discover_records
from tests.io.synthetic import write_pulse_record


@pytest.fixture
def tree(tmp_path):
    """``top/data`` (records a, b) beside ``top/elsewhere`` (record x)."""
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    data.mkdir()
    elsewhere.mkdir()
    for name in ("a", "b"):
        write_pulse_record(data, name, seconds=10)
    write_pulse_record(elsewhere, "x", seconds=10)
    return data, elsewhere


def _refused(refs):
    return {str(r).partition("#")[2]: r.refused_reason for r in refs
            if isinstance(r, RefusedEntry)}


def test_a_segment_name_with_a_slash_does_not_stop_discovery(tree):
    data, _ = tree
    (data / "multi.hea").write_text("multi/2 2 125 2500\na 1250\n../elsewhere/x 1250\n")
    refs = discover_records(data)
    assert sorted(r.rsplit("/", 1)[1] for r in refs) == ["b.hea", "multi.hea"]  # a: a segment
    with pytest.raises(InputFileError, match="not a file name in the record's folder"):
        load_recording(data / "multi.hea")


def test_records_listing_its_own_folder_is_a_loop_not_a_hang(tree):
    data, _ = tree
    (data / "RECORDS").write_text("a\n./\nb\n")
    refs = discover_records(data)
    assert [r.rsplit("/", 1)[1] for r in refs if not isinstance(r, RefusedEntry)] == [
        "a.hea", "b.hea"]
    assert "a loop" in _refused(refs)["./"]


def test_lists_that_follow_each_other_stop(tree, tmp_path):
    data, elsewhere = tree
    (data / "RECORDS").write_text("a\n../elsewhere/\n")
    (elsewhere / "RECORDS").write_text("x\n../data/\n")
    refs = discover_records(data, allow_outside_paths=True)
    assert sorted(r.rsplit("/", 1)[1] for r in refs if not isinstance(r, RefusedEntry)) == [
        "a.hea", "x.hea"]
    assert "a loop" in _refused(refs)["../data/"]


def test_list_entries_outside_the_folder_need_the_opt_in(tree):
    data, elsewhere = tree
    listing = data / "cohort.txt"
    listing.write_text(f"a\n../elsewhere/x\n{elsewhere / 'x.hea'}\nsub/../b\n")
    refs = discover_records(listing)
    assert set(_refused(refs)) == {"../elsewhere/x", str(elsewhere / "x.hea")}
    assert all("allow_outside_paths" in reason for reason in _refused(refs).values())
    kept = sorted(r.rsplit("/", 1)[1] for r in refs if not isinstance(r, RefusedEntry))
    assert kept == ["a.hea", "b.hea"]
    allowed = discover_records(listing, allow_outside_paths=True)
    assert not _refused(allowed)
    assert sorted(r.rsplit("/", 1)[1] for r in allowed) == ["a.hea", "b.hea", "x.hea"]


def test_case_list_paths_stay_in_their_folder(tree):
    data, elsewhere = tree
    cases = data / "cases.csv"
    cases.write_text(f"path\na.hea\n../elsewhere/x.hea\n{elsewhere / 'x.hea'}\n")
    refs = discover_records(cases)
    assert refs[0] == str(data / "a.hea")
    assert set(_refused(refs)) == {"../elsewhere/x.hea", str(elsewhere / "x.hea")}
    assert not _refused(discover_records(cases, allow_outside_paths=True))


def test_links_inside_the_folder_are_followed(tree):
    """Containment is by name: a folder of links into a database is a normal cohort."""
    data, elsewhere = tree
    for suffix in (".hea", ".dat"):
        (data / f"x{suffix}").symlink_to(elsewhere / f"x{suffix}")
    (data / "RECORDS").write_text("x\n")
    (ref,) = discover_records(data)
    assert not isinstance(ref, RefusedEntry)
    assert load_recording(ref).channels["abp"].fs == 125.0


def test_a_refused_entry_fails_as_its_own_record_in_any_process(tree):
    data, _ = tree
    (data / "RECORDS").write_text("../elsewhere/x\n")
    (entry,) = discover_records(data)
    again = pickle.loads(pickle.dumps(entry))  # as sent to a worker process
    assert again == entry and again.refused_reason == entry.refused_reason
    with pytest.raises(InputFileError, match="points outside the list's folder"):
        load_recording(again)


def test_a_listed_folder_without_records_fails_alone(tree):
    data, _ = tree
    (data / "empty").mkdir()
    (data / "RECORDS").write_text("a\nempty/\nmissing/\n")
    refs = discover_records(data)
    assert len(refs) == 3
    reasons = _refused(refs)
    assert "no recordings found" in reasons["empty/"] and "not found" in reasons["missing/"]
