"""`cardiosbi report` on a real infer run of the shipped sample record v136s (it has PPG, ABP
and ECG): the page is parsed back and its figures and numbers checked against the run's CSVs."""

from __future__ import annotations

import base64
import io
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.figure import Figure
from PIL import Image

from cardiosbi.cli.main import run as run_cli
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.report import ReportOptions, figures, render_report
from cardiosbi.report.waveforms import load_traces, locate_recording
from tests.report.browser import CHROMIUM, browser_problems, figure_problem, figure_problems
from tests.report.page import parse, table_rows

POSTERIOR = "tests/data/infer/hr_sv_windkessel_posterior.pt"


@pytest.fixture(scope="module")
def infer_run(tmp_path_factory, request):
    root = request.config.rootpath
    out = tmp_path_factory.mktemp("infer") / "run"
    code = run_cli(["infer", str(root / "cardiosbi" / "assets" / "samples" / "v136s"), f"posterior={root / POSTERIOR}",
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
                    "Signal quality", "Reference checks", "MAP vs ABP", "SBP vs ABP",
                    "DBP vs ABP", "Summary over windows"):
        assert heading in page.headings
    # the few windows without an ECG reference fall back to a beat rate, named in the heading
    assert any(h.startswith("HR vs ECG") for h in page.headings)
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
        assert figure_problem(base64.b64decode(data)) is None, image["alt"]


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
    # windows numbered by their place in the record (8 s grid), not by accepted-window rank
    assert [int(r["window"]) for r in rows] == list(range(37))
    beside = pd.read_csv(infer_run / "report_tables" / "v136s_quality.csv")
    assert list(beside["window"]) == list(range(37))
    pd.testing.assert_frame_equal(beside.drop(columns="window").rename(
        columns={"run_window": "window"}), quality)


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
    table = table_rows(page, "agreement-v136s-HR-vs-ECG")
    rows = {(r["reference"], r["estimator"]): r for r in table}
    ppg_row = rows["HR vs ECG", "hr_ppg (beat detection)"]
    assert int(ppg_row["windows"]) == len(accepted) and close(ppg_row["mean_abs_difference"],
                                                              ppg_error)
    assert ppg_error < 1.0  # the sample's PPG and ECG beats agree (quickstart checks the same)
    assert ppg_row["check"] == "beat detector (not the model)"
    post_row = rows["HR vs ECG", "hr (posterior median)"]
    assert int(post_row["windows"]) == len(joined)
    assert close(post_row["mean_abs_difference"], posterior_error)
    validity = hr["validity"].iloc[0] if "validity" in hr else "validated"
    assert post_row["check"] == "independent" and post_row["validity"] == validity
    cohort = table_rows(page, "agreement-table")
    assert {(r["reference"], r["estimator"]) for r in cohort} == set(rows)


def test_accepted_windows_without_an_ecg_fall_back_to_a_beat_rate(report, infer_run):
    """The test posterior reads the PPG and the ABP, so a beat-rate fallback is circular."""
    _, page = report
    quality = pd.read_csv(infer_run / "preprocess" / "records" / "v136s.csv")
    accepted = quality[quality["accepted"]]
    no_ecg = accepted[accepted["hr_ecg"].isna()]
    assert len(no_ecg) > 0 and no_ecg["hr_ppg"].notna().all()
    fallback = [r for r in table_rows(page, "agreement-v136s-HR-vs-ECG")
                if r["reference"] == "HR vs PPG beat rate"]
    assert fallback and all(r["check"] == "circular: the model reads this PPG"
                            for r in fallback if "posterior" in r["estimator"])
    beside = pd.read_csv(infer_run / "report_tables" / "v136s_hr-ecg.csv")
    on_ppg = beside[beside["reference"] == "HR vs PPG beat rate"].drop_duplicates("start_s")
    assert sorted(on_ppg["start_s"]) == sorted(no_ecg["start_s"])
    np.testing.assert_allclose(on_ppg.sort_values("start_s")["reference_value"],
                               no_ecg.sort_values("start_s")["hr_ppg"])
    circular = " ".join(page.classed_text["circular"])
    assert "HR vs PPG beat rate: circular: the model reads this PPG" in circular


def test_drawn_beats_are_the_beats_the_quality_checks_counted(infer_run, request):
    traces, duration = load_traces(request.config.rootpath / "cardiosbi/assets/samples/v136s.hea", {}, 300)
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
    data = request.config.rootpath / "cardiosbi" / "assets"
    assert locate_recording("samples/v136s.hea", {}, str(data)) == data / "samples/v136s.hea"
    assert locate_recording("/gone/v136s.hea", {}, str(data / "samples")) == \
        data / "samples/v136s.hea"
    assert locate_recording("/gone/v136s.hea", {}, None) is None
    cache = tmp_path / "cache"
    cache.mkdir()
    assert locate_recording("vitaldb:7", {"cache_dir": str(cache)}, None) is None
    (cache / "7.vital").write_bytes(b"")
    assert locate_recording("vitaldb:7", {"cache_dir": str(cache)}, None) == cache / "7.vital"


def test_pressure_references_explain_why_nothing_is_compared(report):
    _, page = report
    absent = page.classed_text["absent"]
    assert len(absent) == 3  # the test posterior estimates no MAP, SBP or DBP
    for text, biomarker in zip(absent, ("map", "sbp", "dbp"), strict=True):
        assert "ABP reference exists" in text and f"({biomarker} not among" in text


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

    options = ReportOptions(recordings=str(root / "cardiosbi" / "assets" / "samples"), waveform_s=20)
    page = parse(render_report(run, tmp_path / "full.html", options).read_text())
    # both: 3 waveforms, close-up, biomarkers, HR (the copy against the PPG beat rate, as its
    # ECG reference was removed); the copy: MAP vs ABP
    assert len(page.images) == 2 * 6 + 1
    rows = table_rows(page, "estimates-v136s_copy")
    assert {r["model"] for r in rows} == {"apw"}
    assert {r["parameter"] for r in rows} == {"hr", "map_radial", "co"}
    assert "HR vs PPG beat rate (no ECG)" in page.headings
    circular = " ".join(page.classed_text["circular"])
    assert "MAP vs ABP: circular: the model reads this ABP" in circular
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
    assert agreement["check"] == "circular: the model reads this ABP"
    assert int(agreement["windows"]) == len(joined.dropna(subset=["map_abp"])) > 0
    assert close(agreement["mean_abs_difference"],
                 (joined["median"] - joined["map_abp"]).abs().mean())
    assert "first 20 s of 300 s" in " ".join(page.classed_text["note"])


def test_real_cohort_run_with_a_failed_record(tmp_path, request):
    root = request.config.rootpath
    real = root / "tests" / "data" / "real"
    # a list file's entries must stay inside its folder: the records go beside it
    for path in [real / "v292s.hea", real / "v292s.mat", *(real / "041s").iterdir()]:
        shutil.copy(path, tmp_path / path.name)
    listing = tmp_path / "cohort.txt"
    listing.write_text("v292s.hea\n041s.hea\nabsent.vital\n")
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
    rows = {(r["reference"], r["estimator"]): r
            for r in table_rows(page, "agreement-v292s-HR-vs-ECG")}
    assert close(rows["HR vs ECG", "hr_ppg (beat detection)"]["mean_abs_difference"],
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


def test_tables_scroll_figures_fill_the_width_and_csvs_are_links(report):
    path, page = report
    styles = " ".join(page.styles.split())
    assert ".scroll { overflow-x: auto; max-width: 100%; }" in styles
    assert "img { width: 100%; max-width: 100%;" in styles
    html = path.read_text()
    assert html.count('<div class="scroll">') == html.count("<table") > 5
    csvs = set(re.findall(r"[\w.-]+\.csv", " ".join(
        " ".join(texts) for texts in page.classed_text.values())))
    linked = {Path(href).name for href in page.links}
    assert csvs and csvs <= linked
    for href in page.links:
        assert not Path(href).is_absolute() and (path.parent / href).is_file(), href


def test_rejection_reasons_have_a_readable_colour_legend(report, infer_run):
    path, _ = report
    quality = pd.read_csv(infer_run / "preprocess" / "records" / "v136s.csv")
    legend = figures.reason_legend(quality)
    rejected = quality[~quality["accepted"]]
    kinds = {c.split(":")[0] for r in rejected["reason"] for c in r.split(";")}
    assert len(legend) == len(kinds) and len({colour for colour, _, _ in legend}) == len(kinds)
    for colour, label, n in legend:
        kind = next(k for k, (words, c) in figures.REASON_KINDS.items() if c == colour)
        assert label.startswith(figures.REASON_KINDS[kind][0])
        assert n == sum(kind in {c.split(":")[0] for c in r.split(";")}
                        for r in rejected["reason"])
    html = path.read_text()
    for colour, label, n in legend:
        assert f'<span class="swatch" style="background: {colour}"></span>{label}: {n} window(s)' \
            in html


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
def test_page_renders_in_headless_chromium(report, tmp_path):
    """Every image loads, no table pushes the page past a 1024 px window, and every figure
    is a real plot (the checks below show each of these failing)."""
    path, _ = report
    assert browser_problems(path, tmp_path) == []
    assert figure_problems(path) == []


def _blank_png(figure: bool) -> bytes:
    """A white canvas, or (``figure``) matplotlib axes with ticks and labels but no data."""
    if not figure:
        buffer = io.BytesIO()
        Image.new("RGB", (1200, 400), "white").save(buffer, format="PNG")
        return buffer.getvalue()
    fig = Figure(figsize=(14, 3))
    axis = fig.subplots()
    axis.set_xlabel("time [s]")
    axis.set_ylabel("hr [bpm]")
    axis.set_title("nothing drawn")
    return figures.to_png(fig)


def _with_image(page: str, index: int, source: str) -> str:
    """``page`` with the ``index``-th image's source replaced."""
    parts = page.split('<img alt="')
    head, rest = parts[index + 1].split('src="', 1)
    parts[index + 1] = head + 'src="' + source + rest[rest.index('"'):]
    return '<img alt="'.join(parts)


@pytest.mark.parametrize("figure", [False, True], ids=["white canvas", "axes without data"])
def test_the_figure_check_reports_a_blank_figure(report, tmp_path, figure):
    path, _ = report
    blank = base64.b64encode(_blank_png(figure)).decode()
    broken = tmp_path / "report.html"
    broken.write_text(_with_image(path.read_text(), 2, f"data:image/png;base64,{blank}"))
    (problem,) = figure_problems(broken)
    assert problem.startswith("ecg (mV): ") and ("blank" in problem or "empty plot" in problem)


@pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH")
def test_the_browser_check_reports_a_missing_image_and_an_overflowing_table(report, tmp_path):
    path, _ = report
    page = _with_image(path.read_text(), 1, "abp_missing.png")
    page = page.replace(".scroll { overflow-x: auto; max-width: 100%; }", "")
    (tmp_path / "report.html").write_text(page)
    problems = browser_problems(tmp_path / "report.html", tmp_path)
    assert problems == ["abp (mmHg): not loaded", "page wider than a 1024 px window"]
    assert figure_problems(tmp_path / "report.html") == ["abp (mmHg): abp_missing.png not found"]
