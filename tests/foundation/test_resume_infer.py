"""`cardiosbi infer` resumes only what is still true: estimates are reused when the source file,
the posterior file and the settings are unchanged; each record draws from its own seeded
generator, so an interrupted run equals an uninterrupted one byte for byte; settings that
cannot work end the command with one line before any work."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from cardiosbi.cli.main import run
from cardiosbi.utils.seeding import record_seed

pytestmark = pytest.mark.usefixtures("one_torch_thread")

POSTERIOR = "tests/data/infer/hr_sv_windkessel_posterior.pt"


def _short_record(src, folder, name, seconds=32):
    """A renamed WFDB copy of ``src`` cut to ``seconds`` (4 windows of 8 s)."""
    import wfdb

    record = wfdb.rdrecord(str(src), sampto=int(seconds * 250))
    wfdb.wrsamp(name, fs=record.fs, units=record.units, sig_name=record.sig_name,
                p_signal=record.p_signal, fmt=["16"] * len(record.sig_name),
                write_dir=str(folder))
    return folder / f"{name}.hea"


@pytest.fixture(scope="module")
def cohort(tmp_path_factory, request):
    root = request.config.rootpath
    folder = tmp_path_factory.mktemp("cohort")
    _short_record(root / "tests/data/real/v292s", folder, "a")
    _short_record(root / "cardiosbi/assets/samples/v136s", folder, "b")
    return folder


@pytest.fixture(scope="module")
def posterior(request):
    return str(request.config.rootpath / POSTERIOR)


@pytest.fixture(scope="module")
def shifted_posterior(tmp_path_factory, posterior):
    """The test posterior with its parameter offset moved: a different file, other estimates."""
    payload = torch.load(posterior, map_location="cpu", weights_only=True)
    payload["state"]["weights"]["theta_mean"] = payload["state"]["weights"]["theta_mean"] + 5.0
    path = tmp_path_factory.mktemp("post") / "shifted.pt"
    torch.save(payload, path)
    return str(path)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, cohort, posterior):
    """An uninterrupted run over both records."""
    out = tmp_path_factory.mktemp("reference") / "run"
    assert run(["infer", str(cohort), f"posterior={posterior}", "--out", str(out),
                "n_samples=50"]) == 0
    return out


def _infer(source, posterior, out, *overrides):
    return run(["infer", str(source), f"posterior={posterior}", "--out", str(out),
                "n_samples=50", *overrides])


def _estimates(out, rid="a"):
    return pd.read_csv(out / "estimates" / f"{rid}.csv")


def _config(out):
    return yaml.safe_load((out / "config.yaml").read_text())


def test_record_seed_is_the_same_in_every_process_and_distinct_per_record():
    import os
    import subprocess
    import sys

    code = "from cardiosbi.utils.seeding import record_seed; print(record_seed(3, 'rec'))"
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                           env={**os.environ, "PYTHONHASHSEED": "12345"}, check=True).stdout.strip()
    assert other == str(record_seed(3, "rec"))  # not Python's salted hash()
    assert len({record_seed(0, "a"), record_seed(0, "b"), record_seed(1, "a")}) == 3
    assert 0 <= record_seed(7, "x") < 2**63


def test_interrupted_run_equals_uninterrupted_byte_for_byte(tmp_path, cohort, posterior,
                                                           reference):
    out = tmp_path / "run"
    assert _infer(cohort / "b.hea", posterior, out) == 0  # killed after its first record ...
    assert _infer(cohort, posterior, out) == 0            # ... and resumed over the cohort
    for rid in ("a", "b"):
        got = (out / "estimates" / f"{rid}.csv").read_bytes()
        assert got == (reference / "estimates" / f"{rid}.csv").read_bytes(), rid
    assert (out / "summary.csv").read_bytes() == (reference / "summary.csv").read_bytes()


def test_other_levels_or_draws_are_recomputed_and_config_agrees(tmp_path, cohort, posterior,
                                                                reference):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    assert _infer(cohort, posterior, out, "levels=[0.8,0.9]") == 0
    table = _estimates(out)
    assert "ci80_low" in table and "ci95_low" not in table
    assert _config(out)["levels"] == [0.8, 0.9]
    assert _infer(cohort, posterior, out, "levels=[0.8,0.9]", "n_samples=80") == 0
    after = _estimates(out)
    estimated = after["median"].notna()
    assert estimated.any() and not np.allclose(after.loc[estimated, "median"],
                                               table.loc[estimated, "median"])
    assert _config(out)["n_samples"] == 80


def test_another_posterior_is_recomputed(tmp_path, cohort, reference, shifted_posterior):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    before = _estimates(out)
    assert _infer(cohort, shifted_posterior, out) == 0
    after = _estimates(out)
    hr = after["parameter"].eq("hr") & after["median"].notna()
    assert hr.any()
    assert (after.loc[hr, "median"] - before.loc[hr, "median"]).abs().min() > 1.0
    assert _config(out)["posterior"] == shifted_posterior


def test_keep_refuses_a_changed_posterior_or_setting(tmp_path, cohort, reference,
                                                     shifted_posterior, posterior, capsys):
    out = tmp_path / "run"
    shutil.copytree(reference, out)
    files = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert _infer(cohort, shifted_posterior, out, "resume=keep") == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "record a" in err and "posterior file" in err and "resume=true" in err
    assert _infer(cohort, posterior, out, "resume=keep", "n_samples=60") == 2
    assert "n_samples" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == files  # untouched
    assert _infer(cohort, posterior, out, "resume=keep") == 0  # nothing changed: all kept


def test_changed_source_file_is_recomputed(tmp_path, cohort, posterior, request):
    folder = tmp_path / "cohort"
    shutil.copytree(cohort, folder)
    out = tmp_path / "run"
    assert _infer(folder, posterior, out) == 0
    # same name, other content: the v292s cut is replaced by a v136s cut
    _short_record(request.config.rootpath / "cardiosbi/assets/samples/v136s", folder, "a", seconds=24)
    assert _infer(folder, posterior, out, "resume=keep") == 2
    assert _infer(folder, posterior, out) == 0
    assert _estimates(out)["start_s"].max() == 16.0  # three 8-s windows now
    quality = pd.read_csv(out / "preprocess" / "records" / "a.csv")
    assert len(quality) == 3


def test_a_record_that_fails_now_loses_its_old_estimates(tmp_path, cohort, posterior):
    folder = tmp_path / "cohort"
    shutil.copytree(cohort, folder)
    out = tmp_path / "run"
    assert _infer(folder, posterior, out) == 0
    data = folder / "a.dat"
    data.write_bytes(data.read_bytes()[:1000])  # truncated
    assert _infer(folder, posterior, out) == 0
    summary = pd.read_csv(out / "preprocess" / "summary.csv").set_index("record")
    assert summary.loc["a", "status"] == "failed"
    assert not (out / "estimates" / "a.csv").exists() and not (out / "status" / "a.json").exists()
    assert set(pd.read_csv(out / "summary.csv")["record"]) == {"b"}


@pytest.mark.parametrize(("override", "message"), [
    ("n_samples=0", "n_samples=0: must be a positive number"),
    ("n_samples=abc", "n_samples must be an integer, got 'abc'"),
    ("levels=[1.5]", "levels=[1.5]: each credible level must lie strictly between 0 and 1"),
    ("levels=[0.9,0]", "strictly between 0 and 1"),
    ("workers=0", "workers must be >= 1"),
    ("sampling_rate=-125", "sampling_rate=-125.0: must be a positive number of Hz"),
    ("sampling_rate=nan", "must be a positive number of Hz"),
    ("resume=maybe", "resume='maybe': use true"),
])
def test_bad_settings_fail_before_any_work(override, message, tmp_path, cohort, posterior,
                                           capsys):
    out = tmp_path / "run"
    assert _infer(cohort, posterior, out, override) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists()


def test_fs_still_works_with_a_warning_and_the_config_records_the_rate(tmp_path, posterior,
                                                                      capsys, request):
    import wfdb

    record = wfdb.rdrecord(str(request.config.rootpath / "cardiosbi/assets/samples/v136s"), sampto=24 * 250,
                           channel_names=["PLETH", "ABP"])
    csv = tmp_path / "rec.csv"
    pd.DataFrame({"PLETH": record.p_signal[:, 0], "ABP [mmHg]": record.p_signal[:, 1]}).to_csv(
        csv, index=False)
    out = tmp_path / "run"
    assert _infer(csv, posterior, out, f"fs={record.fs}") == 0
    assert "fs= is deprecated; use sampling_rate=" in capsys.readouterr().err
    assert _config(out)["sampling_rate"] == record.fs
    assert _infer(csv, posterior, out, f"sampling_rate={record.fs}", "resume=keep") == 0
    assert _infer(csv, posterior, tmp_path / "two", "fs=100", "sampling_rate=250") == 2
