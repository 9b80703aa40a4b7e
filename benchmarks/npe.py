"""NPE benchmarks: FitzHugh–Nagumo study vs a regression CNN, two moons vs sbi, throughput.

    python benchmarks/npe.py fhn         # train sizes x noise conditions; CNN vs NPE mean; coverage
    python benchmarks/npe.py moons       # same simulations, NSF vs sbi's NSF: C2ST, NLL, time
    python benchmarks/npe.py throughput  # posterior samples/s, windows summarised/s

Each part prints a markdown table and writes it, with the raw numbers as JSON, under
``--out`` (default runs/benchmarks, git-ignored). Results quoted in benchmarks/RESULTS.md.
``--quick`` shrinks every size for a smoke run. ``sbi`` is the ``bench`` extra.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from cardiosbi.baselines import RegressionCNNConfig, train_regression_cnn
from cardiosbi.diagnostics.accuracy import point_metrics
from cardiosbi.diagnostics.c2st import c2st
from cardiosbi.diagnostics.coverage import calibration_error, central_credibility
from cardiosbi.inference import NPEConfig, train_npe
from simulators import fhn
from simulators.benchmark_tasks import TwoMoons

# ---------------------------------------------------------------------------------------------
# shared helpers


def _machine() -> str:
    load = os.getloadavg()[0]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"torch threads {torch.get_num_threads()}, load {load:.2f}")


def _write(out: Path, name: str, rows: list[dict], table: str, meta: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    (out / f"{name}.md").write_text(table + "\n")
    print(table)


def _markdown(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# (a) FitzHugh–Nagumo: regression CNN vs NPE posterior mean, plus NPE coverage

# Epoch caps per train size: a CPU-time cut (shared 2-core box), ~equal work per size.
FHN_EPOCHS = {500: 40, 1000: 30, 4000: 15, 8000: 10}


def _fhn_data(n: int, noisy: bool, rng: np.random.Generator, infer_noise: bool = False):
    """(θ inferred (n, k), x (n, 1, T)). Noisy data draw σ, ρ from their prior; they are
    nuisances unless ``infer_noise``."""
    theta = fhn.sample_prior(n, rng, noisy=noisy)
    x = fhn.simulate(theta if noisy else theta[:, :2], rng)
    keep = theta if infer_noise else theta[:, :2]
    return keep, x[:, None, :]


def _npe_config(epochs: int, seed: int) -> NPEConfig:
    return NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": [16, 32, 32], "features": 32}},
        "trainer": {"max_epochs": epochs, "patience": 10, "batch_size": 64,
                    "accelerator": "cpu", "reject_calibration_rows": 200},
        "seed": seed,
    })


def _score_npe(posterior, theta, x, n_draws: int, seed: int) -> dict:
    draws = posterior.sample(_tensor(x), n_draws, generator=torch.Generator().manual_seed(seed))
    draws = draws.double().numpy()
    metrics = point_metrics(draws.mean(axis=0), theta)
    cred = central_credibility(draws, theta)
    _, calib = calibration_error(cred)
    return {"median_rel_error": metrics["median_rel_error"], "r2": metrics["r2"],
            "coverage90": (cred <= 0.9).mean(axis=0), "calib_error": calib}


def run_fhn(args) -> None:
    sizes = [200, 400] if args.quick else args.sizes
    n_test = 200 if args.quick else args.n_test
    rng = np.random.default_rng(args.seed)
    tests = {cond: _fhn_data(n_test, cond == "noisy", rng) for cond in ("clean", "noisy")}
    low, high = fhn.prior_bounds(noisy=False)
    rows: list[dict] = []
    for train_cond in ("clean", "noisy"):
        pool = _fhn_data(max(sizes), train_cond == "noisy", rng)
        for size in sizes:
            theta, x = pool[0][:size], pool[1][:size]
            epochs = 3 if args.quick else FHN_EPOCHS.get(size, 50)
            started = time.perf_counter()
            cnn = train_regression_cnn(theta, x, list(fhn.PARAMETERS), RegressionCNNConfig(
                max_epochs=epochs, patience=10, seed=args.seed))
            cnn_time = time.perf_counter() - started
            started = time.perf_counter()
            npe = train_npe(_tensor(theta), _tensor(x), list(fhn.PARAMETERS), _tensor(low),
                            _tensor(high), _npe_config(epochs, args.seed))
            npe_time = time.perf_counter() - started
            for test_cond, (theta_t, x_t) in tests.items():
                cnn_m = point_metrics(cnn.predict(_tensor(x_t)).numpy(), theta_t)
                npe_m = _score_npe(npe, theta_t, x_t, args.draws, args.seed)
                rows.append({
                    "train": train_cond, "test": test_cond, "n_train": size, "epochs_cap": epochs,
                    "cnn_mre": float(np.mean(cnn_m["median_rel_error"])),
                    "cnn_r2": float(np.mean(cnn_m["r2"])),
                    "npe_mre": float(np.mean(npe_m["median_rel_error"])),
                    "npe_r2": float(np.mean(npe_m["r2"])),
                    "npe_cov90": float(np.mean(npe_m["coverage90"])),
                    "npe_calib_err": float(np.mean(npe_m["calib_error"])),
                    "cnn_epochs": cnn.training["epochs"], "npe_epochs": npe.training["epochs"],
                    "cnn_s": round(cnn_time, 1), "npe_s": round(npe_time, 1),
                    "per_param": {"cnn": {k: np.asarray(v).tolist() for k, v in cnn_m.items()},
                                  "npe": {k: np.asarray(v).tolist() for k, v in npe_m.items()}},
                })
                print({k: v for k, v in rows[-1].items() if k != "per_param"}, flush=True)
            if size == max(sizes) and train_cond == "clean":
                npe.save(Path(args.out) / "fhn_npe_clean.pt")
    rows += _fhn_noise_inference(args, rng, max(sizes), n_test)
    columns = ["train", "test", "n_train", "cnn_mre", "cnn_r2", "npe_mre", "npe_r2", "npe_cov90",
               "npe_calib_err", "cnn_epochs", "npe_epochs", "cnn_s", "npe_s"]
    _write(Path(args.out), "npe_fhn", rows, _markdown(rows, columns),
           {"machine": _machine(), "n_test": n_test, "draws": args.draws, "seed": args.seed})


def _fhn_noise_inference(args, rng, size: int, n_test: int) -> list[dict]:
    """Noisy train and test, inferring (θ0, θ1, σ, ρ) jointly (the published generalisation)."""
    theta, x = _fhn_data(size, True, rng, infer_noise=True)
    theta_t, x_t = _fhn_data(n_test, True, rng, infer_noise=True)
    names = list(fhn.parameter_names(noisy=True))
    low, high = fhn.prior_bounds(noisy=True)
    epochs = 3 if args.quick else FHN_EPOCHS.get(size, 50)
    started = time.perf_counter()
    cnn = train_regression_cnn(theta, x, names, RegressionCNNConfig(max_epochs=epochs, patience=10,
                                                                    seed=args.seed))
    cnn_time = time.perf_counter() - started
    started = time.perf_counter()
    npe = train_npe(_tensor(theta), _tensor(x), names, _tensor(low), _tensor(high),
                    _npe_config(epochs, args.seed))
    npe_time = time.perf_counter() - started
    cnn_m = point_metrics(cnn.predict(_tensor(x_t)).numpy(), theta_t)
    npe_m = _score_npe(npe, theta_t, x_t, args.draws, args.seed)
    rows = []
    for j, name in enumerate(names):
        rows.append({
            "train": "noisy (4 params)", "test": f"noisy: {name}", "n_train": size,
            "epochs_cap": epochs,
            "cnn_mre": float(cnn_m["median_rel_error"][j]), "cnn_r2": float(cnn_m["r2"][j]),
            "npe_mre": float(npe_m["median_rel_error"][j]), "npe_r2": float(npe_m["r2"][j]),
            "npe_cov90": float(npe_m["coverage90"][j]), "npe_calib_err": float(npe_m["calib_error"][j]),
            "cnn_epochs": cnn.training["epochs"], "npe_epochs": npe.training["epochs"],
            "cnn_s": round(cnn_time, 1), "npe_s": round(npe_time, 1),
        })
        print(rows[-1], flush=True)
    return rows


# ---------------------------------------------------------------------------------------------
# (b) two moons: our NSF against sbi's NSF on the same simulations

def run_moons(args) -> None:
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn
    from sbi.utils import BoxUniform

    task = TwoMoons()
    rng = np.random.default_rng(args.seed)
    n_sims = 1000 if args.quick else args.n_sims
    n_ref = 500 if args.quick else args.n_ref
    theta = task.sample_prior(n_sims, rng)
    x = task.simulate(theta, rng)
    theta_val = task.sample_prior(2000, rng)
    x_val = task.simulate(theta_val, rng)
    theta_obs = task.sample_prior(args.n_obs, rng)
    x_obs = task.simulate(theta_obs, rng)
    max_epochs = 5 if args.quick else 2**31 - 1

    # Ours: zuko coupling NSF with sbi's default sizes and training settings.
    config = NPEConfig.from_dict({
        "model": {"estimator": {"kind": "nsf", "transforms": 5, "hidden": [50, 50], "bins": 10,
                                "passes": 2}},
        "trainer": {"batch_size": 200, "learning_rate": 5e-4, "patience": 20, "val_fraction": 0.1,
                    "lr_schedule": "none", "gradient_clip": 5.0, "max_epochs": min(max_epochs, 10_000),
                    "accelerator": "cpu", "reject_calibration_rows": 200},
        "seed": args.seed,
    })
    torch.manual_seed(args.seed)
    started = time.perf_counter()
    # --unbounded: z-scoring only, like sbi's default, instead of our bijection onto the box.
    bound = float("inf") if args.unbounded else 1.0
    ours = train_npe(_tensor(theta), _tensor(x), ["theta0", "theta1"], torch.full((2,), -bound),
                     torch.full((2,), bound), config)
    ours_train = time.perf_counter() - started
    if args.skip_sbi:
        _moons_ours_only(args, task, rng, ours, ours_train, theta_val, x_val, x_obs, n_ref)
        return

    torch.manual_seed(args.seed)
    prior = BoxUniform(-torch.ones(2), torch.ones(2))
    trainer = NPE(prior=prior, density_estimator=posterior_nn("nsf"), show_progress_bars=False)
    started = time.perf_counter()
    estimator = trainer.append_simulations(_tensor(theta), _tensor(x)).train(max_num_epochs=max_epochs)
    sbi_train = time.perf_counter() - started
    sbi_posterior = trainer.build_posterior(estimator)
    sbi_epochs = trainer.summary["epochs_trained"][-1]

    with torch.no_grad():
        nll_ours = float(-ours.log_prob(_tensor(theta_val), _tensor(x_val)).mean())
        # sbi's flow density, without its (rejection-estimated) leakage normalisation.
        nll_sbi = float(-estimator.log_prob(_tensor(theta_val)[None], condition=_tensor(x_val)).mean())

    c2st_ours, c2st_sbi, rate_ours, rate_sbi = [], [], [], []
    gen = torch.Generator().manual_seed(args.seed)
    for i in range(args.n_obs):
        reference = task.sample_posterior(x_obs[i], n_ref, rng)
        xo = _tensor(x_obs[i])[None]
        started = time.perf_counter()
        ours_draws = ours.sample(xo, n_ref, generator=gen)[:, 0]
        rate_ours.append(n_ref / (time.perf_counter() - started))
        started = time.perf_counter()
        sbi_draws = sbi_posterior.sample((n_ref,), x=xo, show_progress_bars=False)
        rate_sbi.append(n_ref / (time.perf_counter() - started))
        c2st_ours.append(c2st(reference, ours_draws, seed=args.seed))
        c2st_sbi.append(c2st(reference, sbi_draws, seed=args.seed))
        print(f"obs {i}: c2st ours {c2st_ours[-1]:.3f} sbi {c2st_sbi[-1]:.3f}", flush=True)

    rows = [
        {"estimator": "cardiosbi NPE (zuko NSF)", "c2st": float(np.mean(c2st_ours)),
         "c2st_sd": float(np.std(c2st_ours)), "val_nll": nll_ours, "train_s": round(ours_train, 1),
         "epochs": ours.training["epochs"], "samples_per_s": float(np.median(rate_ours))},
        {"estimator": f"sbi {_sbi_version()} NPE (nflows NSF)", "c2st": float(np.mean(c2st_sbi)),
         "c2st_sd": float(np.std(c2st_sbi)), "val_nll": nll_sbi, "train_s": round(sbi_train, 1),
         "epochs": int(sbi_epochs), "samples_per_s": float(np.median(rate_sbi))},
    ]
    rows.append({
        "estimator": "ratio ours/sbi", "c2st": rows[0]["c2st"] / rows[1]["c2st"],
        "val_nll": rows[0]["val_nll"] - rows[1]["val_nll"],
        "train_s": rows[0]["train_s"] / rows[1]["train_s"],
        "samples_per_s": rows[0]["samples_per_s"] / rows[1]["samples_per_s"],
    })
    columns = ["estimator", "c2st", "c2st_sd", "val_nll", "train_s", "epochs", "samples_per_s"]
    _write(Path(args.out), "npe_moons", rows, _markdown(rows, columns),
           {"machine": _machine(), "n_sims": n_sims, "n_obs": args.n_obs, "n_ref": n_ref,
            "seed": args.seed, "note": "ratio row: val_nll is a difference (ours - sbi)"})


def _moons_ours_only(args, task, rng, ours, train_s, theta_val, x_val, x_obs, n_ref) -> None:
    """Our estimator alone (e.g. the --unbounded variant), scored like the comparison."""
    gen = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():
        nll = float(-ours.log_prob(_tensor(theta_val), _tensor(x_val)).mean())
    scores = []
    for i in range(args.n_obs):
        reference = task.sample_posterior(x_obs[i], n_ref, rng)
        draws = ours.sample(_tensor(x_obs[i])[None], n_ref, generator=gen)[:, 0]
        scores.append(c2st(reference, draws, seed=args.seed))
        print(f"obs {i}: c2st ours {scores[-1]:.3f}", flush=True)
    label = "cardiosbi NPE (zuko NSF" + (", unbounded θ)" if args.unbounded else ")")
    rows = [{"estimator": label, "c2st": float(np.mean(scores)), "c2st_sd": float(np.std(scores)),
             "val_nll": nll, "train_s": round(train_s, 1), "epochs": ours.training["epochs"]}]
    name = "npe_moons_unbounded" if args.unbounded else "npe_moons_ours"
    _write(Path(args.out), name, rows,
           _markdown(rows, ["estimator", "c2st", "c2st_sd", "val_nll", "train_s", "epochs"]),
           {"machine": _machine(), "n_obs": args.n_obs, "n_ref": n_ref, "seed": args.seed})


def _sbi_version() -> str:
    import sbi

    return sbi.__version__


# ---------------------------------------------------------------------------------------------
# (c) throughput: posterior samples per second and windows summarised per second

def run_throughput(args) -> None:
    rows = []
    models = {"cardio-shaped (2x1000 series, default resnet1d + NSF)": _cardio_shaped_posterior(args)}
    fhn_model = Path(args.out) / "fhn_npe_clean.pt"
    if fhn_model.exists():
        from cardiosbi.inference import load_posterior

        models["FHN (1x200 series, trained in `fhn`)"] = load_posterior(fhn_model)
    for label, (posterior) in models.items():
        posterior = posterior.to(args.device)
        x = torch.randn((args.windows, *posterior.network.x_shape), device=args.device)
        posterior.sample(x[:2], 10)  # warm-up
        started = time.perf_counter()
        posterior.sample(x[:1], args.samples)
        _synchronize(args.device)
        one = args.samples / (time.perf_counter() - started)
        started = time.perf_counter()
        posterior.summarize(x, n=1000, batch_size=64)
        windows = args.windows / (time.perf_counter() - started)
        rows.append({"model": label, "samples_per_s_one_window": one,
                     "windows_summarised_per_s": windows, "device": args.device})
        print(rows[-1], flush=True)
    _write(Path(args.out), "npe_throughput", rows,
           _markdown(rows, ["model", "device", "samples_per_s_one_window", "windows_summarised_per_s"]),
           {"machine": _machine(), "samples": args.samples, "windows": args.windows})


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def _cardio_shaped_posterior(args):
    """An NPE with the default embedding on APW+PPG-shaped windows (2 channels, 8 s at 125 Hz).

    Trained for one epoch on synthetic series only to build the network: throughput does not
    depend on the weights' values.
    """
    n = 256
    t = torch.linspace(0, 8, 1000)
    theta = torch.rand(n, 5)
    x = torch.stack([torch.sin(2 * torch.pi * (1 + theta[:, :1]) * t),
                     torch.cos(2 * torch.pi * (1 + theta[:, 1:2]) * t)], dim=1)
    config = NPEConfig.from_dict({"trainer": {"max_epochs": 1, "accelerator": "cpu",
                                              "reject_calibration_rows": 32}})
    return train_npe(theta, x + 0.1 * torch.randn_like(x), [f"p{i}" for i in range(5)],
                     torch.zeros(5), torch.ones(5), config)


# ---------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["fhn", "moons", "throughput"])
    parser.add_argument("--out", default="runs/benchmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 4000, 8000])
    parser.add_argument("--n-test", type=int, default=2000)
    parser.add_argument("--draws", type=int, default=1000, help="posterior draws per test case")
    parser.add_argument("--n-sims", type=int, default=10_000)
    parser.add_argument("--n-obs", type=int, default=5, help="two moons observations for C2ST")
    parser.add_argument("--n-ref", type=int, default=5000, help="reference/posterior samples for C2ST")
    parser.add_argument("--unbounded", action="store_true", help="moons: no box bijection for ours")
    parser.add_argument("--skip-sbi", action="store_true", help="moons: train and score ours only")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="throughput: cpu or cuda")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    {"fhn": run_fhn, "moons": run_moons, "throughput": run_throughput}[args.part](args)


if __name__ == "__main__":
    main()
