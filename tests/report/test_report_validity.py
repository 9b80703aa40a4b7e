"""The report shows each number with its validity: withheld (rejected) estimates with their
reason, unvalidated biomarkers greyed with the model card's note, flagged summaries, circular
reference checks named as such, and one window numbering shared by every model of a run."""

from __future__ import annotations

import shutil

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from cardiosbi.cli.main import run as run_cli
from cardiosbi.report import ReportOptions, figures, render_report
from cardiosbi.report.references import (
    INDEPENDENT,
    UNKNOWN_CHECK,
    agreement,
    check_of,
    compare,
    references_for,
)
from cardiosbi.report.run import UNRECORDED_REASON, with_status
from cardiosbi.report.tables import numbered, numbered_estimates
from tests.conftest import REPO_ROOT
from tests.report.page import cell_attrs, parse, table_rows

POSTERIOR = REPO_ROOT / "tests/data/infer/hr_sv_windkessel_posterior.pt"
RECORD = REPO_ROOT / "cardiosbi/assets/samples/v136s"
AT_BOUND = ("at prior bound (median near the upper bound 350 ms, the value may lie beyond what "
            "was simulated)")
SV_NOTE = "no real-data reference for SV in the validation set"
OPTIONS = ReportOptions(recordings=str(RECORD.parent), waveform_s=16)


def quality_table(accepted: list[bool], **columns) -> pd.DataFrame:
    """A quality table on an 8 s grid; ``window`` counts accepted windows as infer does."""
    accepted = np.asarray(accepted)
    window = np.where(accepted, np.cumsum(accepted) - 1, -1)
    table = pd.DataFrame({"record": "r", "window": window, "start_s": 8.0 * np.arange(accepted.size),
                          "duration_s": 8.0, "accepted": accepted,
                          "reason": np.where(accepted, "", "low_quality:ppg")})
    return table.assign(**columns)


def estimate_rows(quality: pd.DataFrame, parameter: str, medians, status, validity="validated",
                  reason="") -> pd.DataFrame:
    kept = quality[quality["accepted"]]
    medians = np.asarray(medians, dtype=float)
    return pd.DataFrame({"window": kept["window"].to_numpy(), "start_s": kept["start_s"].to_numpy(),
                         "duration_s": 8.0, "parameter": parameter, "unit": "u",
                         "median": medians, "ci50_low": medians - 1, "ci50_high": medians + 1,
                         "ci90_low": medians - 2, "ci90_high": medians + 2, "status": status,
                         "reject": np.asarray(status) == "rejected", "reject_reason": reason,
                         "validity": validity, "validity_note": ""})


def test_runs_without_the_validity_columns_read_as_before():
    legacy = pd.DataFrame({"window": [0, 1, -1], "start_s": [0.0, 8.0, 16.0],
                           "parameter": ["hr", "hr", np.nan], "median": [70.0, 71.0, np.nan],
                           "reject": ["False", "True", np.nan]})
    table = with_status(legacy)
    assert list(table["reject"]) == [False, True, False]
    assert list(table["status"]) == ["ok", "rejected", ""]
    assert list(table["reject_reason"]) == ["", UNRECORDED_REASON, ""]
    assert list(table["validity"]) == ["validated", "validated", ""]
    new = legacy.assign(status=["unvalidated", "rejected", np.nan],
                        reject_reason=["", AT_BOUND, np.nan], validity="in silico only",
                        validity_note="why", at_bound=["False", "True", np.nan])
    table = with_status(new)
    assert list(table["status"]) == ["unvalidated", "rejected", ""]
    assert list(table["reject_reason"]) == ["", AT_BOUND, ""]
    assert list(table["at_bound"]) == [False, True, False]
    assert list(table["validity"]) == ["in silico only", "in silico only", ""]


def test_models_that_reject_different_windows_share_the_window_numbers():
    apw = quality_table([True, True, False, True])
    hybrid = quality_table([False, True, True, True])
    assert list(apw["window"]) != list(hybrid["window"])
    assert list(numbered(apw)["window"]) == list(numbered(hybrid)["window"]) == [0, 1, 2, 3]
    assert list(numbered(hybrid)["run_window"]) == [-1, 0, 1, 2]
    estimates = estimate_rows(hybrid, "hr", [70, 71, 72], ["ok"] * 3)
    assert list(numbered_estimates(estimates, hybrid)["window"]) == [1, 2, 3]


def test_hr_falls_back_per_window_and_circular_checks_are_named():
    quality = quality_table([True, True, True, False],
                            hr_ecg=[60.0, np.nan, np.nan, 61.0], hr_ppg=[60.5, 62.0, np.nan, 1.0],
                            hr_abp=[60.2, 62.4, 63.0, 1.0], map_abp=[80.0, 81.0, 82.0, 1.0],
                            sbp_abp=[120.0, 121.0, np.nan, 1.0], dbp_abp=[60.0, 61.0, 62.0, 1.0])
    estimates = pd.concat([
        estimate_rows(quality, "hr", [61, 63, 64], ["ok", "ok", "rejected"], reason=AT_BOUND),
        estimate_rows(quality, "sbp_radial", [118, 125, 130], ["unvalidated"] * 3,
                      validity="known bias"),
    ])
    apw, hybrid = frozenset({"abp"}), frozenset({"ppg"})
    hr, map_, sbp, _ = references_for(apw)
    assert [s.channel for s in hr.sources] == ["ecg", "ppg", "abp"]
    assert [s.channel for s in references_for(hybrid)[0].sources] == ["ecg", "abp", "ppg"]
    assert check_of(map_.sources[0], apw) == "circular: the model reads this ABP"
    assert check_of(map_.sources[0], hybrid) == INDEPENDENT
    assert check_of(hr.sources[0], None) == INDEPENDENT  # no model reads the ECG
    assert check_of(hr.sources[1], None) == UNKNOWN_CHECK

    rows = compare(hr, quality, estimates, apw)
    model = rows[rows["estimator"] == "hr (posterior median)"]
    # window 0 against the ECG, window 1 against the PPG beat rate, window 2 withheld
    assert list(model["reference"]) == ["HR vs ECG", "HR vs PPG beat rate"]
    assert list(model["reference_value"]) == [60.0, 62.0]
    assert list(model["difference"]) == [1.0, 1.0]
    assert set(model["check"]) == {INDEPENDENT}
    # window 2's reference is the ABP beat rate itself (no ECG, no PPG); the rejected window 3
    # is no reference at all
    beats = rows[rows["estimator"] == "hr_abp (beat detection)"]
    assert list(beats["start_s"]) == [0.0, 8.0] and list(beats["estimate"]) == [60.2, 62.4]

    rows = compare(sbp, quality, estimates, apw)
    assert list(rows["estimate"]) == [118.0, 125.0]       # window 2 has no SBP reference
    assert set(rows["check"]) == {"circular: the model reads this ABP"}
    (summary,) = agreement(rows).to_dict("records")
    assert summary["validity"] == "known bias" and summary["windows"] == 2
    assert summary["mean_difference"] == pytest.approx(1.0)    # (-2 + 4) / 2


def test_the_biomarker_panel_greys_unvalidated_and_withholds_rejected_estimates():
    quality = quality_table([True, True, True, True], hr_ecg=[60.0, 61.0, 62.0, 63.0])
    rows = estimate_rows(quality, "lvet", [200, 210, 349.6, 215],
                         ["unvalidated", "unvalidated", "rejected", "unvalidated"],
                         validity="in silico only")
    rows["validity_note"] = "LVET is not observed in the validation data"
    rows.loc[2, "reject_reason"] = AT_BOUND
    fig, axis = plt.subplots()
    figures._biomarker_panel(axis, "lvet", with_status(rows), quality)
    lines = {line.get_label(): line for line in axis.get_lines()}
    median = lines["posterior median" + figures.NOT_VALIDATED_SUFFIX]
    assert median.get_color() == figures.UNVALIDATED_COLOR
    assert np.isnan(median.get_ydata()[2])        # the withheld value is not drawn
    assert np.nanmax(median.get_ydata()) == 215
    withheld = lines["estimate withheld: at prior bound"]
    assert list(withheld.get_xdata()) == [20.0] and withheld.get_ydata()[0] < 0.5  # under it
    assert "posterior median" not in lines
    assert axis.get_title("left").startswith("lvet: not validated on real data (in silico "
                                             "only): LVET is not observed")
    plt.close(fig)


def test_withheld_estimates_are_sorted_by_the_reasons_infer_gives():
    kinds = figures.estimate_reject_kinds
    assert kinds(AT_BOUND) == {"at prior bound"}
    assert kinds("hr: interval too wide (90% width 5.44 > 4.42 bpm); sv: interval too wide "
                 "(90% width 76 > 71.3 mL)") == {"interval too wide"}
    assert kinds(f"interval too wide (90% width 9 > 8 bpm); {AT_BOUND}; input outside the "
                 "training distribution (score 7.1 > 4.2)") == {
        "interval too wide", "at prior bound", "input outside the training distribution"}
    assert kinds(UNRECORDED_REASON) == {"flagged by the posterior"}
    assert kinds("something new") == {"other reason"} and kinds("") == set()


def test_reason_legend_counts_windows_per_kind_of_reason():
    quality = quality_table([True, False, False, False])
    quality["reason"] = ["", "missing:ppg;missing:abp", "low_quality:ppg;missing:ppg",
                         "strange:ecg"]
    legend = figures.reason_legend(quality)
    assert legend == [(figures.REASON_KINDS["missing"][1], "missing data (PPG, ABP)", 2),
                      (figures.REASON_KINDS["low_quality"][1], "low signal quality (PPG)", 1),
                      (figures.REASON_KINDS["other"][1], "other reason (ECG)", 1)]


@pytest.fixture(scope="module")
def models_run(tmp_path_factory):
    """A two-model run in the layout of `posterior=default`: the real infer run of the test
    posterior as model "a", and as model "b" a copy whose first window was rejected (so its
    run numbers windows differently) and whose estimates carry the validity columns."""
    root = tmp_path_factory.mktemp("models") / "run"
    assert run_cli(["infer", str(RECORD), f"posterior={POSTERIOR}", "--out",
                    str(root / "a"), "n_samples=20"]) == 0
    shutil.copytree(root / "a", root / "b")
    quality_path = root / "b/preprocess/records/v136s.csv"
    quality = pd.read_csv(quality_path)
    first = quality.index[quality["accepted"]][0]
    quality.loc[first, ["accepted", "reason"]] = [False, "low_quality:ppg"]
    quality["window"] = np.where(quality["accepted"], quality["accepted"].cumsum() - 1, -1)
    quality.to_csv(quality_path, index=False)

    estimates = pd.read_csv(root / "b/estimates/v136s.csv")
    estimates = estimates[estimates["start_s"] != quality.loc[first, "start_s"]].copy()
    estimates["window"] = estimates["start_s"].map(quality.set_index("start_s")["window"])
    hr = estimates["parameter"] == "hr"
    estimates["status"] = np.where(estimates["reject"].astype(str) == "True", "rejected", "ok")
    estimates["reject_reason"] = np.where(estimates["status"] == "rejected",
                                          "interval too wide (90% width 9 > 8 bpm)", "")
    bound = estimates.index[hr][:2]
    estimates.loc[bound, ["status", "reject_reason", "reject"]] = ["rejected", AT_BOUND, True]
    estimates["validity"] = np.where(estimates["parameter"] == "sv", "in silico only",
                                     "validated")
    estimates["validity_note"] = np.where(estimates["parameter"] == "sv", SV_NOTE, "")
    sv = (estimates["parameter"] == "sv") & (estimates["status"] == "ok")
    estimates.loc[sv, "status"] = "unvalidated"
    estimates["ood_score"] = 1.5
    estimates.to_csv(root / "b/estimates/v136s.csv", index=False)

    summaries = []
    for model in ("a", "b"):
        # "a": a summary from before infer wrote validity and flags; "b": sv flagged
        summary = pd.read_csv(root / model / "summary.csv").drop(columns=["validity", "flag"],
                                                                  errors="ignore")
        if model == "b":
            summary["validity"] = np.where(summary["parameter"] == "sv", "in silico only",
                                           "validated")
            summary["flag"] = np.where(summary["parameter"] == "sv",
                                       f"not validated on real data: {SV_NOTE}", "")
        summary.to_csv(root / model / "summary.csv", index=False)
        summaries.append(summary.assign(model=model))
    pd.concat(summaries).to_csv(root / "summary.csv", index=False)
    index = render_report(root, options=OPTIONS)
    return root, index


def test_withheld_and_unvalidated_estimates_are_greyed_with_their_reason(models_run):
    root, _ = models_run
    page = parse((root / "report_b.html").read_text())
    rows = table_rows(page, "estimates-v136s")
    cells = cell_attrs(page, "estimates-v136s")
    estimates = pd.read_csv(root / "b/estimates/v136s.csv").dropna(subset=["parameter"])
    assert len(rows) == len(estimates) and "ood_score" in rows[0]
    for row, attrs, (_, expected) in zip(rows, cells, estimates.iterrows(), strict=True):
        assert row["status"] == expected["status"]
        if expected["status"] == "rejected":
            assert row["note"] == expected["reject_reason"]
            assert attrs["median"]["class"] == "rejected"
            assert attrs["median"]["title"] == expected["reject_reason"]
        elif expected["status"] == "unvalidated":
            assert row["note"] == "not validated on real data (in silico only)"
            assert attrs["median"]["class"] == "unvalidated"
            assert attrs["note"]["title"] == f"{row['note']}: {SV_NOTE}"
        else:
            assert row["note"] == "" and "class" not in attrs["median"]
    assert sum(r["note"] == AT_BOUND for r in rows) == 2

    summary = {r["parameter"]: (r, a) for r, a in zip(table_rows(page, "summary-v136s"),
                                                      cell_attrs(page, "summary-v136s"),
                                                      strict=True)}
    row, attrs = summary["sv"]
    assert row["validity"] == "in silico only" and SV_NOTE in row["flag"]
    assert attrs["median"]["class"] == "flagged" and attrs["flag"]["class"] == "reason"
    assert summary["hr"][0]["flag"] == "" and "class" not in summary["hr"][1]["median"]
    overview = cell_attrs(page, "overview-table")[0]
    assert overview["sv median [mL]"]["class"] == "flagged"
    assert SV_NOTE in overview["sv median [mL]"]["title"]
    assert "class" not in overview["hr median [bpm]"]


def test_withheld_estimates_are_left_out_of_the_reference_checks(models_run):
    root, _ = models_run
    page = parse((root / "report_b.html").read_text())
    estimates = pd.read_csv(root / "b/estimates/v136s.csv")
    quality = pd.read_csv(root / "b/preprocess/records/v136s.csv")
    kept = estimates[(estimates["parameter"] == "hr") & (estimates["status"] != "rejected")]
    joined = kept.merge(quality[quality["accepted"]][["start_s", "hr_ecg"]], on="start_s")
    rows = {(r["reference"], r["estimator"]): r
            for r in table_rows(page, "agreement-v136s-HR-vs-ECG")}
    assert int(rows["HR vs ECG", "hr (posterior median)"]["windows"]) == \
        joined["hr_ecg"].notna().sum()


def test_every_model_numbers_a_stretch_of_signal_the_same_way(models_run):
    root, _ = models_run
    numbers = {}
    for model in ("a", "b"):
        page = parse((root / f"report_{model}.html").read_text())
        numbers[model] = {float(r["start_s"]): int(r["window"])
                          for r in table_rows(page, "estimates-v136s")}
        for row in table_rows(page, "quality-v136s"):
            assert int(row["window"]) == round(float(row["start_s"]) / 8)
    shared = set(numbers["a"]) & set(numbers["b"])
    assert len(shared) > 5 and all(numbers["a"][s] == numbers["b"][s] for s in shared)
    raw_a = pd.read_csv(root / "a/estimates/v136s.csv").set_index("start_s")["window"]
    raw_b = pd.read_csv(root / "b/estimates/v136s.csv").set_index("start_s")["window"]
    assert any(raw_a[s].iloc[0] != raw_b[s].iloc[0] for s in shared)  # the runs' own numbers differ


def test_the_index_shows_flags_and_links_the_summary(models_run):
    root, index = models_run
    page = parse(index.read_text())
    rows = table_rows(page, "summary")
    assert {"validity", "flag"} <= set(rows[0])
    flagged = [r for r in rows if r["flag"]]
    assert {(r["model"], r["parameter"]) for r in flagged} == {("b", "sv")}
    assert {r["validity"] for r in rows if r["model"] == "a"} == {"validated"}
    assert 'class="flagged"' in index.read_text()
    assert "summary.csv" in page.links and (index.parent / "summary.csv").is_file()
    assert {"report_a.html", "report_b.html"} <= set(page.links)
