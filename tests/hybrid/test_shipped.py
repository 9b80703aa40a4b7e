"""The shipped hybrid model: its file, its card, and `infer` choosing it for a PPG-only record."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from cardiosbi.cli.main import run
from cardiosbi.default_models import (
    DEFAULT_SET,
    load_default_posterior,
    model_card,
)
from cardiosbi.hybrid import HybridPosterior
from cardiosbi.hybrid.posterior import payload_sha256
from cardiosbi.inference.serialization import posterior_payload
from cardiosbi.io import load_recording


def test_shipped_hybrid_embeds_the_shipped_apw_posterior():
    hybrid = load_default_posterior("hybrid")
    assert isinstance(hybrid, HybridPosterior)
    # the same weights, config and input spec as the shipped apw (its file also carries
    # validation and OOD metadata, which the payload hash leaves out)
    assert hybrid.apw_sha256 == payload_sha256(posterior_payload(load_default_posterior("apw")))
    assert hybrid.parameter_names == load_default_posterior("apw").parameter_names
    # its reject thresholds come from real held-out records, one per biomarker
    assert np.isfinite(hybrid.reject_width90.numpy()).all()
    pairs = hybrid.training["pairs"]
    assert pairs["records"] == 85 and pairs["pairs"] >= 1000
    assert "record_failed" in pairs["rejections"]
    assert set(hybrid.training["val_records"]).isdisjoint(hybrid.training["train_records"])


def test_the_card_describes_the_hybrid():
    card = model_card("hybrid")
    for needed in ("cross-validat", "85", "Known limits", "SV", "train-hybrid"):
        assert needed in card, needed


@pytest.mark.parametrize("name", DEFAULT_SET)
def test_default_set_has_one_model_per_channel_kind(name):
    kinds = {"apw": ["radial/P"], "hybrid": ["digital/PPG"]}
    assert load_default_posterior(name).input_spec["channels"] == kinds[name]


def test_infer_reads_a_ppg_only_recording_with_the_hybrid(tmp_path, capsys):
    recording = load_recording("cardiosbi/assets/samples/v136s.hea")
    ppg = recording.channel("ppg")
    path = tmp_path / "ppg_only.csv"
    pd.DataFrame({"PLETH": ppg.signal[: int(64 * ppg.fs)]}).to_csv(path, index=False)
    out = tmp_path / "inf"
    code = run(["infer", str(path), "--out", str(out), f"fs={ppg.fs}", "n_samples=64"])
    assert code == 0
    summary = pd.read_csv(out / "summary.csv")
    # the apw model has no arterial channel to read (listed as failed); the hybrid reads the PPG
    assert set(summary.dropna(subset=["parameter"])["model"]) == {"hybrid"}
    estimates = pd.read_csv(out / "hybrid" / "estimates" / "ppg_only.csv")
    assert {"hr", "map_radial", "co"} <= set(estimates["parameter"].dropna())
    failed = pd.read_csv(out / "apw" / "preprocess" / "summary.csv")
    assert (failed["status"] == "failed").all()
