"""Real PPG/ABP pairs (cut by the infer window and quality code), record-level splits, resumable
CVAE training, and ``cardiosbi train-hybrid`` end to end on the shipped sample record."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cardiosbi.cli.main import run
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.hybrid import (
    CVAEConfig,
    HybridPosterior,
    HybridTrainerConfig,
    fit_cvae,
    gather_pairs,
)
from cardiosbi.hybrid.fit import TrainHybridConfig
from cardiosbi.hybrid.pairs import PairsConfig, rejection_counts
from cardiosbi.hybrid.training import split_records
from cardiosbi.inference import load_posterior
from cardiosbi.io import load_recording
from tests.conftest import REAL_RECORDS, REPO_ROOT
from tests.hybrid.conftest import TINY, synthetic_pairs

WINDOW_S, HOP_S, LENGTH = 8.0, 2.0, 1000


def _without_abp(src, folder, name="noabp", seconds=60):
    """A WFDB copy of ``src`` (first ``seconds``) with its ECG and PPG but no ABP channel."""
    import wfdb

    record = wfdb.rdrecord(str(src), sampto=int(seconds * 250))
    keep = [i for i, n in enumerate(record.sig_name) if n != "ABP"]
    folder.mkdir(parents=True, exist_ok=True)
    wfdb.wrsamp(name, fs=record.fs, units=[record.units[i] for i in keep],
                sig_name=[record.sig_name[i] for i in keep], p_signal=record.p_signal[:, keep],
                fmt=["16"] * len(keep), write_dir=str(folder))
    return folder


def _copies(src, root, folders=("a", "b")):
    """Verbatim copies of a WFDB record in sub-folders of ``root`` (same file name in each)."""
    for folder in folders:
        (root / folder).mkdir(parents=True, exist_ok=True)
        for suffix in (".hea", ".mat"):
            shutil.copy(src.with_suffix(suffix), root / folder)
    return root


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    return [str(REPO_ROOT / "cardiosbi" / "assets" / "samples" / "v136s.hea"),
            str(REAL_RECORDS / "v292s.hea"),
            str(_without_abp(REPO_ROOT / "cardiosbi" / "assets" / "samples" / "v136s", root / "noabp"))]


@pytest.fixture(scope="module")
def gathered(sources, apw, tmp_path_factory):
    out = tmp_path_factory.mktemp("pairs")
    config = TrainHybridConfig(pairs=PairsConfig(min_pairs=10, min_records=2))
    pairs, counts = gather_pairs(sources, out, apw, config)
    return pairs, counts, pd.read_csv(out / "pairs.csv"), out, config


# --- pairs ---------------------------------------------------------------------------------------
def test_accepted_pairs_are_aligned_physiological_and_z_scored(gathered):
    pairs, counts, *_ = gathered
    assert set(pairs.records) == {"v136s", "v292s"} and counts["records_with_pairs"] == 2
    assert pairs.ppg.shape == pairs.apw.shape == (len(pairs), LENGTH) and len(pairs) > 50
    assert np.isfinite(pairs.apw).all() and np.isfinite(pairs.ppg).all()
    # ABP stays in mmHg: physiological values, the quality gate's pulse pressures
    assert pairs.apw.min() > 20 and pairs.apw.max() < 250
    pulse_pressure = pairs.apw.max(1) - pairs.apw.min(1)
    assert (pulse_pressure > 10).all() and (pulse_pressure < 150).all()
    # each pressure window sits at its own record's labelled MAP (the rows line up)...
    map_window = pairs.apw.mean(1)
    np.testing.assert_allclose(map_window, pairs.table["map_abp"], atol=5.0)
    by_record = pd.Series(map_window).groupby(pairs.records).mean()
    assert abs(by_record["v136s"] - by_record["v292s"]) > 10  # ... which differ between records
    # PPG z-scored per window and shifted onto the pressure
    np.testing.assert_allclose(pairs.ppg.mean(1), 0.0, atol=1e-4)
    np.testing.assert_allclose(pairs.ppg.std(1), 1.0, atol=1e-3)
    apw = (pairs.apw - pairs.apw.mean(1, keepdims=True)) / pairs.apw.std(1, keepdims=True)
    assert np.median((apw * pairs.ppg).mean(1)) > 0.5


def test_pairs_csv_lists_every_window_with_its_reason(gathered, sources):
    pairs, counts, table, *_ = gathered
    assert {"record", "window", "start_s", "accepted", "reason"} <= set(table.columns)
    for record, source in zip(["v136s", "v292s"], sources[:2], strict=True):
        duration = load_recording(source).duration_s
        rows = table[table["record"] == record]
        assert len(rows) == int((duration - WINDOW_S) // HOP_S) + 1
        assert rows["start_s"].is_monotonic_increasing and rows["start_s"].is_unique
        assert rows["accepted"].sum() == (pairs.records == record).sum()
        np.testing.assert_array_equal(rows.loc[rows["accepted"], "start_s"],
                                      pairs.table.loc[pairs.records == record, "start_s"])
    rejected = table[~table["accepted"].astype(bool)]
    assert len(rejected) and rejected["reason"].notna().all()
    assert rejected["reason"].str.fullmatch(r"[a-z_]+(:[a-z_]+)?(;[a-z_]+(:[a-z_]+)?)*").all()
    assert table.loc[table["accepted"].astype(bool), "reason"].fillna("").eq("").all()
    assert counts["rejections"] == rejection_counts(table)
    assert counts["windows"] == int((table["reason"] != "record_failed").sum())


def test_a_record_without_abp_fails_alone_with_its_reason(gathered):
    pairs, counts, table, *_ = gathered
    assert counts["records"] == 3 and counts["records_failed"] == 1
    failed = table[table["record"] == "noabp"]
    assert len(failed) == 1 and not failed["accepted"].iloc[0]
    assert failed["reason"].iloc[0] == "record_failed"
    assert "abp" in failed["error"].iloc[0].lower()
    assert "noabp" not in set(pairs.records)


def test_too_few_pairs_is_an_input_error_naming_the_main_rejections(gathered, sources, apw):
    pairs, _, table, out, config = gathered
    reasons = table.loc[~table["accepted"].astype(bool), "reason"].str.split(";").explode()
    top = reasons.value_counts().index[0]
    strict = TrainHybridConfig(pairs=PairsConfig(min_pairs=10_000, min_records=2))
    with pytest.raises(InputFileError, match=rf"only {len(pairs)} usable .* {top} \(") as error:
        gather_pairs(sources, out, apw, strict)          # the cut pairs are reused (resume)
    assert "10000 pairs" in str(error.value)
    strict = TrainHybridConfig(pairs=PairsConfig(min_pairs=10, min_records=3))
    with pytest.raises(InputFileError, match="from 2 records"):
        gather_pairs(sources, out, apw, strict)
    with pytest.raises(InputFileError, match=r"only 0 usable .*record_failed \(1\)"):
        gather_pairs(sources[2:], out / "none", apw, config)


def test_same_file_name_in_two_folders_is_two_records(apw, v136s, tmp_path):
    root = _copies(v136s, tmp_path / "cohort")
    config = TrainHybridConfig(pairs=PairsConfig(min_pairs=10, min_records=2))
    pairs, counts = gather_pairs([str(root)], tmp_path / "out", apw, config)
    assert counts["records_with_pairs"] == 2 and len(set(pairs.records)) == 2
    table = pd.read_csv(tmp_path / "out" / "pairs.csv")
    assert table.groupby("record").size().nunique() == 1 and table["record"].nunique() == 2
    held = split_records(pairs.records, 0.5, seed=0)
    assert held.any() and not held.all()


# --- record-level split --------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(counts=st.lists(st.integers(1, 6), min_size=2, max_size=12),
       fraction=st.floats(0.01, 0.99), seed=st.integers(0, 2**32 - 1))
def test_split_records_never_puts_a_record_on_both_sides(counts, fraction, seed):
    records = np.repeat([f"rec{i}" for i in range(len(counts))], counts)
    np.random.default_rng(seed).shuffle(records)
    held = split_records(records, fraction, seed)
    assert held.shape == records.shape and held.dtype == bool
    val, train = set(records[held]), set(records[~held])
    assert not val & train and val and train
    assert len(val) == min(len(counts) - 1, max(1, round(fraction * len(counts))))
    assert np.array_equal(held, split_records(records, fraction, seed))  # seeded


def test_split_records_needs_two_records():
    with pytest.raises(ConfigError, match="at least 2 records"):
        split_records(np.array(["only"] * 5), 0.2, 0)


# --- training ------------------------------------------------------------------------------------
def _trainer(**options) -> HybridTrainerConfig:
    return HybridTrainerConfig(**{"min_epochs": 1, "batch_size": 32, "patience": 50,
                                  "kl_warmup_epochs": 2, "progress_bar": False,
                                  "accelerator": "cpu", **options})


def test_interrupted_training_resumes_from_last_checkpoint(tmp_path):
    pairs, _ = synthetic_pairs(160, 64, records=4)
    model = CVAEConfig(**TINY)
    first_cvae, first = fit_cvae(pairs, model, _trainer(max_epochs=2), checkpoint_dir=tmp_path)
    assert (tmp_path / "last.ckpt").exists() and not first["resumed"] and first["epochs"] == 2
    assert [row["epoch"] for row in first["history"]] == [0, 1]
    assert not set(first["train_records"]) & set(first["val_records"])
    assert first["train_pairs"] + first["val_pairs"] == len(pairs)
    # "killed" after two epochs; the same command with the full budget continues
    cvae, summary = fit_cvae(pairs, model, _trainer(max_epochs=4), checkpoint_dir=tmp_path)
    assert summary["resumed"] and summary["epochs"] == 4
    assert [row["epoch"] for row in summary["history"]] == [2, 3]
    assert summary["best_val_loss"] <= first["best_val_loss"]
    assert summary["val_records"] == first["val_records"]
    # a finished run re-run trains nothing more and returns the same best network
    again, rerun = fit_cvae(pairs, model, _trainer(max_epochs=4), checkpoint_dir=tmp_path)
    assert rerun["resumed"] and rerun["epochs"] == 4 and rerun["history"] == []
    for (name, a), b in zip(cvae.state_dict().items(), again.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    # without a checkpoint folder nothing is resumed
    _, fresh = fit_cvae(pairs, model, _trainer(max_epochs=1))
    assert not fresh["resumed"] and fresh["epochs"] == 1


# --- the command ---------------------------------------------------------------------------------
TINY_RUN = ["cvae.channels=[4,8]", "cvae.latent_dim=2", "cvae.hidden=16",
            "training.max_epochs=1", "training.min_epochs=1", "training.progress_bar=false",
            "pairs.min_pairs=10", "posterior.n_apw=2", "posterior.reject_windows=8",
            "posterior.reject_draws=16", "device=cpu"]


def test_cli_train_hybrid_end_to_end_and_resume(v136s, tmp_path, capsys):
    records = _copies(v136s, tmp_path / "records")
    out = tmp_path / "run"
    args = ["train-hybrid", str(records), "--out", str(out), "pairs.min_records=2", *TINY_RUN]
    assert run(args) == 0
    assert f"{out}/hybrid.pt" in capsys.readouterr().out
    hybrid = load_posterior(out / "hybrid.pt")
    assert isinstance(hybrid, HybridPosterior) and hybrid.n_apw == 2
    assert hybrid.cvae.config.channels == [4, 8] and hybrid.cvae.length == LENGTH
    assert torch.isfinite(hybrid.reject_width90).all()   # calibrated on the held-out record
    table = pd.read_csv(out / "pairs.csv")
    assert sorted(table["record"].unique()) == ["a__v136s", "b__v136s"]
    training = json.loads((out / "training.json").read_text())
    assert training["pairs"]["pairs"] == int(table["accepted"].sum())
    assert training["pairs"]["records_with_pairs"] == 2 and training["epochs"] == 1
    assert len(training["train_records"]) == len(training["val_records"]) == 1
    assert set(training["train_records"]) != set(training["val_records"])
    assert not training["resumed"]
    # a re-run into the same folder resumes: the pairs and the finished training are reused
    stamp = (out / "pairs" / "source0" / "status" / "a__v136s.json").stat().st_mtime_ns
    assert run(args) == 0
    assert json.loads((out / "training.json").read_text())["resumed"]
    assert (out / "pairs" / "source0" / "status" / "a__v136s.json").stat().st_mtime_ns == stamp


def test_cli_with_one_record_is_a_one_line_user_error(v136s, tmp_path, capsys):
    out = tmp_path / "run"
    code = run(["train-hybrid", str(v136s.with_suffix(".hea")), "--out", str(out),
                "pairs.min_records=1", *TINY_RUN])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "Traceback" not in err
    last = err.splitlines()[-1]            # after the INFO log lines of the pair cutting
    assert last.startswith("cardiosbi train-hybrid: error:") and "at least 2 records" in last
    assert (out / "pairs.csv").exists() and not (out / "hybrid.pt").exists()


def test_cli_unknown_key_exits_2_with_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert run(["train-hybrid", "x", "training.bogus=1"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "bogus" in err
    assert not (tmp_path / "runs").exists()


# --- pre-training on simulated pairs --------------------------------------------------------------
def _windkessel_store(tmp_path, window_s):
    assert run(["simulate", f"out={tmp_path}/sim", "simulator=windkessel", "n=24", "shard_size=12",
                f"measurement.window_s={window_s}", "plots=false", "seed=3"]) == 0
    return tmp_path / "sim"


def test_pretraining_on_a_simulated_store_then_real_pairs(v136s, tmp_path, capsys):
    store = _windkessel_store(tmp_path, 8)
    records = _copies(v136s, tmp_path / "records")
    out = tmp_path / "run"
    args = ["train-hybrid", str(records), "--out", str(out), "pairs.min_records=2", *TINY_RUN,
            f"pretrain.store={store}", "pretrain.ppg_channel=aortic_root/PPG",
            "pretrain.apw_channel=aortic_root/P", "pretrain.max_epochs=1"]
    assert run(args) == 0
    training = load_posterior(out / "hybrid.pt").training
    assert training["pretrain"]["train_pairs"] + training["pretrain"]["val_pairs"] == 24
    assert training["pretrain"]["epochs"] >= 1


def test_pretraining_store_of_another_window_length_is_refused(v136s, tmp_path, capsys):
    store = _windkessel_store(tmp_path, 2)
    records = _copies(v136s, tmp_path / "records")
    args = ["train-hybrid", str(records), "--out", str(tmp_path / "run"), "pairs.min_records=2",
            *TINY_RUN, f"pretrain.store={store}", "pretrain.ppg_channel=aortic_root/PPG",
            "pretrain.apw_channel=aortic_root/P"]
    assert run(args) == 2
    assert "250-sample windows" in capsys.readouterr().err


def test_resuming_with_other_settings_is_refused(v136s, tmp_path, capsys):
    records = _copies(v136s, tmp_path / "records")
    out = tmp_path / "run"
    base = ["train-hybrid", str(records), "--out", str(out), "pairs.min_records=2", *TINY_RUN]
    assert run(base) == 0
    assert run([*base, "cvae.latent_dim=3"]) == 2
    assert "cvae.latent_dim" in capsys.readouterr().err.splitlines()[-1]
    assert run([*base, "pairs.workers=2"]) == 0   # where/how fast it runs is not a setting
