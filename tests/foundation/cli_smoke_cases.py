"""Tiny runs of every CLI command, used by test_cli.py.

Each entry: command -> (arguments, check). Arguments may use ``{tmp}`` (the test's temporary
folder, also the working directory) and ``{repo}`` (the repository root). ``check(tmp)``
asserts on what the command wrote. Add an entry when a command becomes available.
"""

from __future__ import annotations

from pathlib import Path


def _check_quickstart(tmp: Path) -> None:
    import pandas as pd

    summary = pd.read_csv(tmp / "qs" / "summary.csv")
    assert set(summary["model"]) == {"apw", "hybrid"} and {"hr", "co"} <= set(summary["parameter"])
    agreement = pd.read_csv(tmp / "qs" / "agreement.csv").set_index(["comparison", "estimate"])
    # the sample's PPG and ECG heart rates agree on accepted windows
    assert agreement.loc[("HR vs ECG", "PPG beats"), "mean_abs_difference"] < 1.0
    assert (tmp / "qs" / "infer" / "report.html").exists()


def _check_train(tmp: Path) -> None:
    from cardiosbi.inference import load_posterior

    posterior = load_posterior(tmp / "trained" / "posterior.pt")
    assert posterior.parameter_names == ["theta0", "theta1"]
    assert (tmp / "trained" / "training.json").exists()


def _check_preprocess(tmp: Path) -> None:
    import pandas as pd

    summary = pd.read_csv(tmp / "pre" / "summary.csv")
    assert list(summary["status"]) == ["ok"] and summary["n_accepted"].iloc[0] > 0
    table = pd.read_csv(tmp / "pre" / "records" / "041s.csv")
    assert {"record", "start_s", "accepted", "reason", "hr_ppg", "map_abp"} <= set(table.columns)


def _check_evaluate(tmp: Path) -> None:
    import pandas as pd

    summary = pd.read_csv(tmp / "ev" / "summary.csv")
    assert list(summary["parameter"]) == ["theta0", "theta1", "joint"]
    assert (tmp / "ev" / "coverage.png").stat().st_size > 0


def _simulated_store(tmp: Path) -> None:
    import zarr

    group = zarr.open_group(tmp / "sim" / "dataset.zarr", mode="r")
    assert group["x/aortic_root/P"].shape == (8, 250)
    assert (tmp / "sim" / "summary" / "summary.json").exists()


def _check_calibrate(tmp: Path) -> None:
    import torch

    from cardiosbi.calibration import RopePosterior
    from cardiosbi.inference import load_posterior

    rope = load_posterior(tmp / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior) and rope.reference_embeddings.shape[0] == 60
    assert rope.sample((5,), x=torch.zeros(3, 2)).shape == (5, 3, 2)


def _check_run_network(tmp: Path) -> None:
    import json

    import numpy as np

    summary = json.loads((tmp / "rn" / "summary.json").read_text())
    assert summary["cycles"] == 1 and summary["failures"] == []
    table = np.loadtxt(tmp / "rn" / "common_carotid_artery_P.csv", delimiter=",", skiprows=1)
    assert table.shape == (100, 6) and np.isfinite(table).all()


def _check_infer(tmp: Path) -> None:
    import pandas as pd

    estimates = pd.read_csv(tmp / "inf" / "estimates" / "041s.csv")
    accepted = estimates[estimates["accepted"]]
    assert set(accepted["parameter"]) == {"hr", "sv", "co"}  # CO derived per draw
    co = accepted.pivot(index="window", columns="parameter", values="mean")
    assert ((co["co"] - co["hr"] * co["sv"] / 1000).abs() <= 0.5 * co["co"]).all()
    assert (accepted["ci90_low"] <= accepted["median"]).all()
    assert (accepted["median"] <= accepted["ci90_high"]).all()
    assert estimates.loc[~estimates["accepted"], "median"].isna().all()
    # the record summary counts exactly the accepted windows not flagged for rejection
    kept = accepted[accepted["reject"].astype(str) == "False"].groupby("parameter").size()
    summary = pd.read_csv(tmp / "inf" / "summary.csv").set_index("parameter")
    assert not kept.empty and summary["windows"].to_dict() == kept.to_dict()


def _check_report(tmp: Path) -> None:
    page = (tmp / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 5 and "HR vs ECG" in page
    assert (tmp / "report_tables" / "v136s_quality.csv").exists()


def _check_train_hybrid(tmp: Path) -> None:
    from cardiosbi.inference import load_posterior

    hybrid = load_posterior(tmp / "hy" / "hybrid.pt")
    assert hybrid.kind == "hybrid" and hybrid.input_spec["channels"] == ["digital/PPG"]
    table = (tmp / "hy" / "pairs.csv").read_text()
    assert "accepted" in table.splitlines()[0]


SMOKE_CASES: dict[str, tuple[list[str], object]] = {
    "run-network": (["{repo}/tests/data/hemodynamics/boileau2015/cca/cca.yaml", "--out", "{tmp}/rn",
                     "--dx", "0.004", "--cycles", "1", "compile=false"], _check_run_network),
    "quickstart": (["--out", "{tmp}/qs", "n_samples=100"], _check_quickstart),
    "simulate": (["out={tmp}/sim", "simulator=windkessel", "n=8", "shard_size=4",
                  "measurement.window_s=2", "plots=false"],
                 _simulated_store),
    "preprocess": (["{repo}/tests/data/real/041s/041s.hea", "--out", "{tmp}/pre", "format=csv"],
                   _check_preprocess),
    "train": (["--out", "{tmp}/trained", "data.num_simulations=300", "trainer.max_epochs=2",
               "trainer.reject_calibration_samples=50"], _check_train),
    "evaluate": (["--out", "{tmp}/ev", "posterior={repo}/tests/data/diagnostics/linear_gaussian_posterior.pt",
                  "data.num_simulations=50", "diagnostics.n_samples=50",
                  "diagnostics.joint_hpd_draws=5", "diagnostics.ppc_replicates=10"], _check_evaluate),
    "calibrate": (["--out", "{tmp}/cal",
                   "posterior={repo}/tests/data/diagnostics/linear_gaussian_posterior.pt",
                   "calibration={repo}/tests/data/calibration/calibration.npz",
                   "reference={repo}/tests/data/calibration/reference.npz",
                   "rope.fine_tune=false"], _check_calibrate),
    "infer": (["{repo}/tests/data/real/041s/041s.hea", "--out", "{tmp}/inf", "n_samples=50",
               "posterior={repo}/tests/data/infer/hr_sv_windkessel_posterior.pt"], _check_infer),
    "report": (["{repo}/tests/data/report/v136s_run", "out={tmp}/report.html",
                "recordings={repo}/cardiosbi/assets/samples", "waveform_s=60"], _check_report),
    "train-hybrid": (["{repo}/cardiosbi/assets/samples/v136s.hea", "{repo}/tests/data/real/v292s.hea",
                      "--out", "{tmp}/hy", "cvae.channels=[4,8]", "cvae.latent_dim=2",
                      "cvae.hidden=16", "training.max_epochs=1", "training.min_epochs=1",
                      "pairs.min_pairs=10", "pairs.min_records=2", "posterior.n_apw=2",
                      "posterior.reject_windows=8", "posterior.reject_draws=16"],
                     _check_train_hybrid),
}

# Commands that read an input: arguments naming a file that does not exist.
MISSING_INPUT_CASES: dict[str, list[str]] = {
    "run-network": ["{tmp}/absent.yaml"],
    "quickstart": ["record={tmp}/absent"],
    "preprocess": ["{tmp}/absent.hea", "--out", "{tmp}/pre"],
    "train": ["data=tensor_file", "data.path={tmp}/absent.pt"],
    "evaluate": ["posterior={tmp}/absent.pt"],
    "infer": ["{tmp}/absent.hea", "posterior={repo}/tests/data/infer/hr_sv_windkessel_posterior.pt",
              "--out", "{tmp}/inf"],
    "calibrate": ["posterior={tmp}/absent.pt", "calibration={tmp}/a.npz", "reference={tmp}/b.npz"],
    "report": ["{tmp}/absent_run"],
    "train-hybrid": ["{tmp}/absent.hea", "--out", "{tmp}/hy"],
}
