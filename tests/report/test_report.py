"""`cardiosbi report` on a real infer run of the shipped sample record v136s (it has PPG, ABP
and ECG): the page is parsed back and its figures and numbers checked against the run's CSVs."""

from __future__ import annotations

import base64
import io
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from cardiosbi.cli.main import run as run_cli
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.report import ReportOptions, render_report
from cardiosbi.report.waveforms import load_traces, locate_recording
from tests.report.page import parse, table_rows

POSTERIOR = "tests/data/infer/hr_sv_windkessel_posterior.pt"


@pytest.fixture(scope="module")
def infer_run(tmp_path_factory, request):
    root = request.config.rootpath
    out = tmp_path_factory.mktemp("infer") / "run"
    code = run_cli(["infer", str(root / "data" / "samples" / "v136s"), f"posterior={root / POSTERIOR}",
                    "--out", str(out), "n_samples=100"])
    assert code == 0
    return out


@pytest.fixture(scope="module")
def report(infer_run):
    path = render_report(infer_run)
    return path, parse(path.read_text())


def close(cell: str, value: float) -> bool:
    """A page cell (4 significant digits) shows ``value``."""
    if pd.isna(value):
        return cell == ""
    return np.isclose(float(cell), value, rtol=1e-3, atol=1e-9)


def test_page_has_every_section(report, infer_run):
    path, page = report
    assert path == infer_run / "report.html"
    assert {"provenance", "how-to-read", "overview", "record-v136s"} <= set(page.section_ids)
    for heading in ("Waveforms and detected beats", "Biomarker posteriors over time",
                    "Signal quality", "Reference checks", "HR vs ECG", "MAP vs ABP"):
        assert heading in page.headings
    provenance = dict(page.tables["table-1"][i][:2] for i in range(len(page.tables["table-1"])))
    assert provenance["Posterior file"].endswith("hr_sv_windkessel_posterior.pt")
    assert provenance["cardiosbi version (run)"]


def test_every_image_is_a_real_png(report):
    _, page = report
    # 3 waveform panels (PPG, ABP, ECG) + close-up + biomarkers + HR vs ECG
    assert len(page.images) == 6
    for image in page.images:
        prefix, data = image["src"].split(",", 1)
        assert prefix == "data:image/png;base64"
        picture = Image.open(io.BytesIO(base64.b64decode(data)))
        picture.load()
        assert picture.format == "PNG"
        assert picture.width >= 600 and picture.height >= 200
        # not a blank canvas: a real plot has many distinct colours
        assert len(picture.convert("RGB").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 50


def test_quality_tables_show_the_run_numbers(report, infer_run):
    _, page = report
    quality = pd.read_csv(infer_run / "preprocess" / "records" / "v136s.csv")
    rows = table_rows(page, "quality-v136s")
    assert len(rows) == len(quality) == 37
    for row, (_, expected) in zip(rows, quality.iterrows(), strict=True):
        assert close(row["start_s"], expected["start_s"])
        assert row["accepted"] == str(expected["accepted"])
        assert row["reason"] == ("" if pd.isna(expected["reason"]) else expected["reason"])
        for column in ("hr_ppg", "hr_ecg", "map_abp"):
            assert close(row[column], expected[column])
    counts = {r["windows"]: int(r["count"]) for r in table_rows(page, "quality-counts-v136s")}
    assert counts["accepted"] == quality["accepted"].sum()
    reasons = quality.loc[~quality["accepted"], "reason"].str.split(";").explode().value_counts()
    for reason, n in reasons.items():
        assert counts[f"rejected: {reason}"] == n
    beside = pd.read_csv(infer_run / "report_tables" / "v136s_quality.csv")
    pd.testing.assert_frame_equal(beside, quality)


def test_estimate_and_overview_tables_match_the_run(report, infer_run):
    _, page = report
    estimates = pd.read_csv(infer_run / "estimates" / "v136s.csv").dropna(subset=["parameter"])
    rows = table_rows(page, "estimates-v136s")
    assert [r["parameter"] for r in rows] == list(estimates["parameter"])
    for row, (_, expected) in zip(rows, estimates.iterrows(), strict=True):
        for column in ("median", "ci50_low", "ci90_high"):
            assert close(row[column], expected[column])
    summary = pd.read_csv(infer_run / "summary.csv").set_index("parameter")
    (overview,) = table_rows(page, "overview-table")
    assert int(overview["n_accepted"]) == 14 and overview["status"] == "ok"
    assert close(overview["hr median [bpm]"], summary.loc["hr", "median"])
    assert close(overview["sv median [mL]"], summary.loc["sv", "median"])


def test_hr_against_ecg_is_recomputed_independently(report, infer_run):
    _, page = report
    quality = pd.read_csv(infer_run / "preprocess" / "records" / "v136s.csv")
    accepted = quality[quality["accepted"]].dropna(subset=["hr_ecg", "hr_ppg"])
    ppg_error = (accepted["hr_ppg"] - accepted["hr_ecg"]).abs().mean()
    estimates = pd.read_csv(infer_run / "estimates" / "v136s.csv")
    hr = estimates[(estimates["parameter"] == "hr") & (estimates["reject"].astype(str) == "False")]
    joined = hr.merge(quality[["start_s", "hr_ecg"]], on="start_s").dropna(subset=["hr_ecg"])
    posterior_error = (joined["median"] - joined["hr_ecg"]).abs().mean()
    rows = {r["estimator"]: r for r in table_rows(page, "agreement-v136s-HR-vs-ECG")}
    ppg_row = rows["hr_ppg (beat detection)"]
    assert int(ppg_row["windows"]) == len(accepted) and close(ppg_row["mean_abs_difference"],
                                                              ppg_error)
    assert ppg_error < 1.0  # the sample's PPG and ECG beats agree (quickstart checks the same)
    post_row = rows["hr (posterior median)"]
    assert int(post_row["windows"]) == len(joined)
    assert close(post_row["mean_abs_difference"], posterior_error)
    cohort = table_rows(page, "agreement-table")
    assert {r["estimator"] for r in cohort} == set(rows)


def test_drawn_beats_are_the_beats_the_quality_checks_counted(infer_run, request):
    traces, duration = load_traces(request.config.rootpath / "data/samples/v136s.hea", {}, 300)
    assert duration == 300 and [t.kind for t in traces] == ["ppg", "abp", "ecg"]
    quality = pd.read_csv(infer_run / "preprocess" / "records" / "v136s.csv")
    starts, ends = quality["start_s"], quality["start_s"] + quality["duration_s"]
    for trace in traces:
        times = trace.times[trace.beats]
        counted = np.searchsorted(times, ends) - np.searchsorted(times, starts)
        np.testing.assert_array_equal(counted, quality[f"{trace.kind}_beats"])
    ppg = traces[0]
    assert ppg.peaks is not None and abs(ppg.peaks.size - ppg.beats.size) <= 2


def test_moved_recordings_are_found_by_relative_path_or_name(request, tmp_path):
    data = request.config.rootpath / "data"
    assert locate_recording("samples/v136s.hea", {}, str(data)) == data / "samples/v136s.hea"
    assert locate_recording("/gone/v136s.hea", {}, str(data / "samples")) == \
        data / "samples/v136s.hea"
    assert locate_recording("/gone/v136s.hea", {}, None) is None
    cache = tmp_path / "cache"
    cache.mkdir()
    assert locate_recording("vitaldb:7", {"cache_dir": str(cache)}, None) is None
    (cache / "7.vital").write_bytes(b"")
    assert locate_recording("vitaldb:7", {"cache_dir": str(cache)}, None) == cache / "7.vital"


def test_map_reference_explains_why_nothing_is_compared(report):
    _, page = report
    (absent,) = page.classed_text["absent"]
    assert "ABP reference exists" in absent and "map" in absent


def _cohort(infer_run, tmp_path):
    """A three-record cohort built from the real run: v136s with its recorded path moved away,
    a copy whose estimates carry a `model` column and whose quality table lost its ECG, and a
    failed record."""
    run = tmp_path / "cohort"
    shutil.copytree(infer_run, run, ignore=shutil.ignore_patterns("report*"))
    for folder, name in (("preprocess/records", "v136s.csv"), ("estimates", "v136s.csv")):
        shutil.copy(run / folder / name, run / folder / "v136s_copy.csv")
    quality = pd.read_csv(run / "preprocess/records/v136s_copy.csv")
    quality.assign(hr_ecg=np.nan).to_csv(run / "preprocess/records/v136s_copy.csv", index=False)
    estimates = pd.read_csv(run / "estimates/v136s_copy.csv")
    estimates.insert(6, "model", "apw")
    # a site-suffixed MAP estimate (the test posterior has none): relabel the SV rows, so the
    # MAP-vs-ABP comparison runs on real posterior rows (its numbers are recomputed below)
    relabel = estimates["parameter"] == "sv"
    estimates.loc[relabel, ["parameter", "unit"]] = ["map_radial", "mmHg"]
    estimates.to_csv(run / "estimates/v136s_copy.csv", index=False)
    records = pd.read_csv(run / "preprocess/summary.csv")
    records["source"] = "moved/away/v136s.hea"
    copy = records.iloc[0].copy()
    copy["record"] = "v136s_copy"
    failed = {"record": "broken", "source": "moved/away/broken.hea", "status": "failed",
              "reason": "SignalError: header unreadable", "n_windows": 0, "n_accepted": 0}
    records = pd.concat([records, copy.to_frame().T, pd.DataFrame([failed])], ignore_index=True)
    records.to_csv(run / "preprocess/summary.csv", index=False)
    summary = pd.read_csv(run / "summary.csv")
    summary.insert(0, "model", "apw")
    summary.to_csv(run / "summary.csv", index=False)
    return run


def test_cohort_overview_failures_cap_and_moved_recordings(infer_run, tmp_path, request):
    root = request.config.rootpath
    run = _cohort(infer_run, tmp_path)
    page = parse(render_report(run, tmp_path / "capped.html",
                               ReportOptions(max_records=1, waveform_s=20)).read_text())
    overview = table_rows(page, "overview-table")
    assert [r["record"] for r in overview] == ["v136s", "v136s_copy", "broken"]
    assert overview[2]["status"] == "failed" and "header unreadable" in overview[2]["reason"]
    assert [s for s in page.section_ids if s.startswith("record-")] == ["record-v136s"]
    notes = " ".join(page.classed_text["note"])
    assert "first 1 records only; 1 more" in notes and "was not found from here" in notes
    assert len(page.images) == 2  # no waveforms without the recording: biomarkers + HR vs ECG
    assert (tmp_path / "capped_tables" / "overview.csv").exists()

    options = ReportOptions(recordings=str(root / "data" / "samples"), waveform_s=20)
    page = parse(render_report(run, tmp_path / "full.html", options).read_text())
    # both: 3 waveforms, close-up, biomarkers; v136s: HR vs ECG; the copy: MAP vs ABP
    assert len(page.images) == 2 * 6
    rows = table_rows(page, "estimates-v136s_copy")
    assert {r["model"] for r in rows} == {"apw"}
    assert {r["parameter"] for r in rows} == {"hr", "map_radial", "co"}
    absent = " ".join(page.classed_text["absent"])
    assert "No ECG reference in this recording" in absent
    assert "apw:hr median [bpm]" in table_rows(page, "overview-table")[0]
    glossary = {r["biomarker"]: r for r in table_rows(page, "glossary")}
    assert glossary["map_radial"]["unit"] == "mmHg"  # the registry's entry of its base, map
    assert glossary["map_radial"]["definition"].startswith("Mean arterial pressure")
    quality = pd.read_csv(run / "preprocess/records/v136s_copy.csv")
    estimates = pd.read_csv(run / "estimates/v136s_copy.csv")
    kept = estimates[(estimates["parameter"] == "map_radial")
                     & (estimates["reject"].astype(str) == "False")]
    joined = kept.merge(quality[quality["accepted"]][["start_s", "map_abp"]], on="start_s")
    (agreement,) = table_rows(page, "agreement-v136s_copy-MAP-vs-ABP")
    assert agreement["estimator"] == "map_radial [apw] (posterior median)"
    assert int(agreement["windows"]) == len(joined.dropna(subset=["map_abp"])) > 0
    assert close(agreement["mean_abs_difference"],
                 (joined["median"] - joined["map_abp"]).abs().mean())
    assert "first 20 s of 300 s" in " ".join(page.classed_text["note"])


def test_real_cohort_run_with_a_failed_record(tmp_path, request):
    root = request.config.rootpath
    real = root / "tests" / "data" / "real"
    listing = tmp_path / "cohort.txt"
    listing.write_text(f"{real / 'v292s.hea'}\n{real / '041s' / '041s.hea'}\nabsent.vital\n")
    out = tmp_path / "run"
    assert run_cli(["infer", str(listing), f"posterior={root / POSTERIOR}", "--out", str(out),
                    "n_samples=50"]) == 0
    assert run_cli(["report", str(out), "waveform_s=60"]) == 0
    page = parse((out / "report.html").read_text())
    overview = {r["record"]: r for r in table_rows(page, "overview-table")}
    assert set(overview) == {"v292s", "041s", "absent"}
    assert overview["absent"]["status"] == "failed"
    assert "recording not found" in overview["absent"]["reason"]
    assert {"record-v292s", "record-041s"} <= set(page.section_ids)
    assert "record-absent" not in page.section_ids
    # v292s: 3 waveforms + close-up + biomarkers + HR vs ECG; 041s (16 s) the same
    assert len(page.images) == 12
    quality = pd.read_csv(out / "preprocess" / "records" / "v292s.csv")
    accepted = quality[quality["accepted"]].dropna(subset=["hr_ecg", "hr_ppg"])
    rows = {r["estimator"]: r for r in table_rows(page, "agreement-v292s-HR-vs-ECG")}
    assert close(rows["hr_ppg (beat detection)"]["mean_abs_difference"],
                 (accepted["hr_ppg"] - accepted["hr_ecg"]).abs().mean())


def test_run_where_every_record_failed_still_reports_the_failures(tmp_path, request):
    listing = tmp_path / "cohort.txt"
    listing.write_text("absent.vital\n")
    out = tmp_path / "run"
    posterior = request.config.rootpath / POSTERIOR
    assert run_cli(["infer", str(listing), f"posterior={posterior}", "--out", str(out)]) == 2
    page = parse(render_report(out, tmp_path / "pages").read_text())  # a folder, created
    assert (tmp_path / "pages" / "report.html").exists()
    (row,) = table_rows(page, "overview-table")
    assert row["status"] == "failed" and "recording not found" in row["reason"]
    assert not [s for s in page.section_ids if s.startswith("record-")] and not page.images


def test_a_folder_that_is_not_an_infer_run_is_a_one_line_error(tmp_path, capsys, infer_run):
    with pytest.raises(InputFileError, match="not a `cardiosbi infer` output folder"):
        render_report(tmp_path)
    preprocess = tmp_path / "pre"
    shutil.copytree(infer_run, preprocess, ignore=shutil.ignore_patterns("report*"))
    info = (preprocess / "run.json").read_text().replace('"infer"', '"preprocess"')
    (preprocess / "run.json").write_text(info)
    with pytest.raises(InputFileError, match="written by `cardiosbi preprocess`"):
        render_report(preprocess)
    assert run_cli(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not a `cardiosbi infer` output folder" in err
    with pytest.raises(ConfigError):
        render_report(infer_run, tmp_path / "x.html", ReportOptions(waveform_s=0))


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
def test_page_renders_in_headless_chromium(report, tmp_path):
    path, _ = report
    shot = tmp_path / "report.png"
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
                    f"--screenshot={shot}", "--window-size=1300,4000", path.as_uri()],
                   check=True, capture_output=True, timeout=120)
    picture = Image.open(shot)
    assert picture.format == "PNG" and picture.width >= 1000
