"""End to end: `cardiosbi quickstart` on the shipped sample, its outputs checked for content."""

from html.parser import HTMLParser

import pandas as pd
import pytest

from cardiosbi.cli.main import run


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.links = []

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            self.links.append(dict(attrs).get("href"))


@pytest.fixture(scope="module")
def quickstart(tmp_path_factory):
    out = tmp_path_factory.mktemp("quickstart")
    # the default draws: with few, a window near the reject threshold flips in or out
    assert run(["quickstart", "--out", str(out)]) == 0
    return out


def test_every_biomarker_of_both_models_is_summarised(quickstart):
    summary = pd.read_csv(quickstart / "summary.csv")
    expected = {"apw": {"hr", "sv", "co", "lvet", "svr", "map_radial", "sbp_radial", "dbp_radial"},
                "hybrid": {"hr", "sv", "co", "lvet", "svr", "map_radial", "sbp_radial",
                           "dbp_radial"}}
    for model, names in expected.items():
        rows = summary[summary["model"] == model]
        # a biomarker whose every window is flagged too uncertain is left out, never invented
        assert set(rows["parameter"]) <= names and {"hr"} <= set(rows["parameter"])
        assert (rows["ci90_low"] <= rows["median"]).all() and (rows["median"] <= rows["ci90_high"]).all()
        assert (rows["windows"] > 0).all()


def test_heart_rate_agrees_with_the_ecg(quickstart):
    agreement = pd.read_csv(quickstart / "agreement.csv").set_index(["comparison", "estimate"])
    assert agreement.loc[("HR vs ECG", "PPG beats"), "mean_abs_difference"] < 1.0
    for model, windows in (("apw", 10), ("hybrid", 3)):  # the PPG model flags more windows
        row = agreement.loc[("HR vs ECG", f"{model} posterior")]
        assert row["windows"] >= windows and row["mean_abs_difference"] < 5.0  # bpm


def test_pressure_posterior_is_near_the_arterial_line(quickstart):
    agreement = pd.read_csv(quickstart / "agreement.csv").set_index(["comparison", "estimate"])
    row = agreement.loc[("MAP vs ABP", "apw posterior")]
    assert row["windows"] >= 10 and row["mean_abs_difference"] < 15.0  # mmHg


def test_checks_against_a_channel_the_model_reads_are_labelled_circular(quickstart):
    agreement = pd.read_csv(quickstart / "agreement.csv")
    pressures = agreement[agreement["comparison"].str.contains("ABP")]
    by_model = pressures.groupby("estimate")["check"].agg(set).to_dict()
    assert by_model["apw posterior"] == {"circular (model reads ABP)"}
    assert by_model["hybrid posterior"] == {"independent"}  # the hybrid reads the PPG only


def test_summary_carries_each_numbers_validity(quickstart):
    summary = pd.read_csv(quickstart / "summary.csv", keep_default_na=False)
    assert {"validity", "flag"} <= set(summary.columns)
    # an unvalidated biomarker is always flagged, so the table brackets it
    unvalidated = summary[summary["validity"] != "validated"]
    assert (unvalidated["flag"] != "").all()


def test_the_report_links_one_page_per_model(quickstart):
    index = quickstart / "infer" / "report.html"
    parser = _Links()
    parser.feed(index.read_text())
    pages = sorted(link for link in parser.links if link.endswith(".html"))
    assert pages == ["report_apw.html", "report_hybrid.html"]
    assert all((index.parent / link).is_file() for link in parser.links)  # CSV links too
    for link in pages:
        page = (index.parent / link).read_text()
        assert page.count("data:image/png;base64,") >= 3 and "record-v136s" in page


@pytest.mark.slow
def test_from_scratch_trains_and_uses_its_own_model(tmp_path):
    assert run(["quickstart", "--from-scratch", "--out", str(tmp_path), "n_samples=100",
                "scratch.n=400", "scratch.max_epochs=3"]) == 0
    summary = pd.read_csv(tmp_path / "summary.csv")
    assert set(summary["model"]) == {"scratch"}
    assert (tmp_path / "scratch" / "posterior" / "posterior.pt").exists()
