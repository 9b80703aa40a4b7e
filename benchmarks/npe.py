"""NPE benchmarks: two moons vs sbi, throughput. (The FitzHugh–Nagumo study lives in
experiments/fhn/study.py.)

    python benchmarks/npe.py moons       # same simulations, NSF vs sbi's NSF: C2ST, NLL, time
                                         # (--seeds 0 1 --theta-maps box soft_box unbounded:
                                         #  paired repeats; --reuse OLD.json: earlier fits' rows)
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

from cardiosbi.diagnostics.c2st import c2st
from cardiosbi.inference import NPEConfig, train_npe
from simulators.benchmark_tasks import TwoMoons

# ---------------------------------------------------------------------------------------------
# shared helpers


def _machine() -> str:
    load = os.getloadavg()[0]
    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"torch threads {torch.get_num_threads()}, load {load:.2f}")


def _write(out: Path, name: str, rows: list[dict], table: str, meta: dict) -> None:
    _write_json(out / f"{name}.json", {"meta": meta, "rows": rows})
    (out / f"{name}.md").write_text(table + "\n")
    print(table)


def _write_json(path: Path, payload: dict) -> None:
    """Atomic: a killed run leaves the previous file or the new one, never half of one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(payload, indent=2))
    partial.replace(path)


def _markdown(rows: list[dict], columns: list[str]) -> str:
    def fmt(v):
        return f"{v:.4g}" if isinstance(v, float) else str(v)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(fmt(r.get(c, "")) for c in columns) + " |" for r in rows]
    return "\n".join(lines)


def _tensor(a) -> torch.Tensor:
    return torch.as_tensor(np.asarray(a), dtype=torch.float32)


# ---------------------------------------------------------------------------------------------
# (b) two moons: our NSF against sbi's NSF on the same simulations

# θ maps for ours, as (prior half-width given to ours, model.estimator.theta_map): "box" = logit
# onto the prior box then z-scoring (models before 2026-11-23); "soft_box" = affine inside the
# box, logarithmic near its bounds, then z-scoring; "truncated" = z-scoring only, draws rejected
# outside the box and the density renormalised, as sbi does; "unbounded" = z-scoring only, no
# box at all (draws may leave it).
MOONS_THETA_MAPS = {"box": (1.0, "logit"), "soft_box": (1.0, "soft_box"),
                    "truncated": (1.0, "truncated"), "unbounded": (float("inf"), "logit")}


def run_moons(args) -> None:
    """Per simulation seed: train ours (each θ map) and sbi on the same simulations; C2ST on
    ``--n-obs`` observations, NLL on 2,000 fresh pairs, train wall time, sampling rate."""
    task = TwoMoons()
    n_sims = 1000 if args.quick else args.n_sims
    n_ref = 500 if args.quick else args.n_ref
    max_epochs = 5 if args.quick else 10_000
    rows: list[dict] = []
    fitted = {_ours_key(m, args.recipe) for m in args.theta_maps} | (set() if args.skip_sbi else {"sbi"})
    reused = _reused_rows(args.reuse, {"n_sims": n_sims, "n_obs": args.n_obs, "n_ref": n_ref},
                          args.seeds, fitted)
    for seed in args.seeds:
        data = _moons_data(task, seed, n_sims, args.n_obs)
        fits = {_ours_key(m, args.recipe): _fit_ours(data, m, seed, max_epochs, args.legacy_flow, args.recipe)
                for m in args.theta_maps}
        if not args.skip_sbi:
            fits["sbi"] = _fit_sbi(data, seed, max_epochs)
        scores = {name: _score_moons(task, data, fit, n_ref, seed) for name, fit in fits.items()}
        for name, fit in fits.items():
            rows.append({"seed": seed, "estimator": fit["label"], "key": name, **scores[name],
                         "train_s": fit["train_s"], "epochs": fit["epochs"]})
            print({k: v for k, v in rows[-1].items() if k != "c2st_per_obs"}, flush=True)
        rows += [r for r in reused if r["seed"] == seed]
        # Every finished seed is on disk (per-observation C2ST included) before the next starts.
        _write_json(Path(args.out) / "npe_moons.seeds.json", {"meta": {"seeds_done": seed}, "rows": rows})
    rows += _moons_summary(rows, args)
    columns = ["seed", "estimator", "c2st", "c2st_sd", "val_nll", "val_nll_flow", "train_s", "epochs",
               "samples_per_s"]
    _write(Path(args.out), "npe_moons", rows, _markdown(rows, columns),
           {"machine": _machine(), "n_sims": n_sims, "n_obs": args.n_obs, "n_ref": n_ref,
            "seeds": args.seeds, "legacy_flow": args.legacy_flow, "recipe": args.recipe, "reused_from": args.reuse,
            "note": "paired rows: ours minus sbi per observation (C2ST) / per seed (NLL, time ratio)"})


def _ours_key(theta_map: str, recipe: str) -> str:
    return f"ours-{theta_map}" if recipe == "sbi" else f"ours-{theta_map}-{recipe}"


def _reused_rows(paths: list[str], meta: dict, seeds: list[int], fitted: set[str]) -> list[dict]:
    """Per-seed rows of estimators fitted in earlier runs on the same simulations (same sizes and
    seeds give the same simulations, observations and reference draws), marked ``reused``.
    Their times were taken under that run's load."""
    rows = []
    for path in paths:
        old = json.loads(Path(path).read_text())
        mismatch = {k: (old["meta"].get(k), v) for k, v in meta.items() if old["meta"].get(k) != v}
        if mismatch:
            raise SystemExit(f"--reuse {path}: different sizes (old, now): {mismatch}")
        taken = {(r["key"], r["seed"]) for r in rows}
        rows += [{**_with_flow_nll(r), "reused": path} for r in old["rows"]
                 if r["seed"] in seeds and r["key"] not in fitted and (r["key"], r["seed"]) not in taken]
    return rows


def _with_flow_nll(row: dict) -> dict:
    """Rows written before 2026-11-23 10:00 have one NLL: the flow's (for sbi, without its
    in-box normalisation, so its normalised NLL is unknown: NaN)."""
    if "val_nll_flow" in row:
        return row
    return {**row, "val_nll_flow": row["val_nll"],
            "val_nll": float("nan") if row["key"] == "sbi" else row["val_nll"]}


def _moons_data(task, seed: int, n_sims: int, n_obs: int) -> dict:
    rng = np.random.default_rng(seed)
    theta = task.sample_prior(n_sims, rng)
    data = {"theta": theta, "x": task.simulate(theta, rng)}
    data["theta_val"] = task.sample_prior(2000, rng)
    data["x_val"] = task.simulate(data["theta_val"], rng)
    data["theta_obs"] = task.sample_prior(n_obs, rng)
    data["x_obs"] = task.simulate(data["theta_obs"], rng)
    return data


# Training recipes for ours: "sbi" = sbi's settings (batch 200, lr 5e-4 constant, patience 20,
# 10 % validation, grad-clip 5); "default" = our TrainerConfig defaults (batch 256, lr 1e-3 halved
# on validation plateaus, patience 20, 10 % validation, grad-clip 5).
MOONS_RECIPES = {
    "sbi": {"batch_size": 200, "learning_rate": 5e-4, "patience": 20, "val_fraction": 0.1,
            "lr_schedule": "none", "gradient_clip": 5.0},
    "default": {},
}


def _fit_ours(data: dict, theta_map: str, seed: int, max_epochs: int, legacy_flow: bool,
              recipe: str) -> dict:
    """Our zuko NSF at sbi's sizes, trained with ``recipe``; the flow architecture is the
    library default (or, with ``legacy_flow``, the one before the residual/LU defaults)."""
    from cardiosbi.inference.estimators import LEGACY_FLOW

    bound, name = MOONS_THETA_MAPS[theta_map]
    estimator = {"kind": "nsf", "transforms": 5, "hidden": [50, 50], "bins": 10, "passes": 2,
                 **(LEGACY_FLOW if legacy_flow else {}), "theta_map": name}
    config = NPEConfig.from_dict({
        "model": {"estimator": estimator},
        "trainer": {**MOONS_RECIPES[recipe], "max_epochs": max_epochs, "accelerator": "cpu",
                    "reject_calibration_rows": 200},
        "seed": seed,
    })
    torch.manual_seed(seed)
    started = time.perf_counter()
    posterior = train_npe(_tensor(data["theta"]), _tensor(data["x"]), ["theta0", "theta1"],
                          torch.full((2,), -bound), torch.full((2,), bound), config)
    train_s = time.perf_counter() - started
    gen = torch.Generator().manual_seed(seed)
    theta_val, x_val = _tensor(data["theta_val"]), _tensor(data["x_val"])
    with torch.no_grad():
        nll = float(-posterior.log_prob(theta_val, x_val).mean())
        nll_flow = float(-posterior.log_prob_given(theta_val, posterior.embed(x_val)).mean())
    flow = "legacy flow" if legacy_flow else "default flow"
    trained = "" if recipe == "sbi" else f", {recipe} training"
    return {"label": f"cardiosbi NPE (zuko NSF, {flow}, θ {theta_map}{trained})", "train_s": train_s,
            "epochs": posterior.training["epochs"], "val_nll": nll, "val_nll_flow": nll_flow,
            "sample": lambda xo, n: posterior.sample((n,), x=xo, generator=gen)[:, 0]}


def _fit_sbi(data: dict, seed: int, max_epochs: int) -> dict:
    from sbi.inference import NPE
    from sbi.neural_nets import posterior_nn
    from sbi.utils import BoxUniform

    torch.manual_seed(seed)
    prior = BoxUniform(-torch.ones(2), torch.ones(2))
    trainer = NPE(prior=prior, density_estimator=posterior_nn("nsf"), show_progress_bars=False)
    started = time.perf_counter()
    estimator = trainer.append_simulations(_tensor(data["theta"]), _tensor(data["x"])).train(
        max_num_epochs=max_epochs)
    train_s = time.perf_counter() - started
    posterior = trainer.build_posterior(estimator)
    x_val = _tensor(data["x_val"])
    with torch.no_grad():
        log_q = estimator.log_prob(_tensor(data["theta_val"])[None], condition=x_val)[0]
        # sbi's flow density normalised over the box by the in-box fraction of its draws,
        # estimated as ours is (same number of draws per window).
        nll = float(-(log_q - _sbi_log_in_box_mass(estimator, x_val, prior)).mean())
    return {"label": f"sbi {_sbi_version()} NPE (nflows NSF)", "train_s": train_s,
            "epochs": int(trainer.summary["epochs_trained"][-1]), "val_nll": nll,
            "val_nll_flow": float(-log_q.mean()),
            "sample": lambda xo, n: posterior.sample((n,), x=xo, show_progress_bars=False)}


def _sbi_log_in_box_mass(estimator, x: torch.Tensor, prior) -> torch.Tensor:
    from cardiosbi.inference.npe_posterior import IN_BOX_DRAWS

    torch.manual_seed(0)
    counts = []
    for block in x.split(max(1, 2**20 // IN_BOX_DRAWS)):
        draws = estimator.sample((IN_BOX_DRAWS,), condition=block)
        inside = ((draws > prior.base_dist.low) & (draws < prior.base_dist.high)).all(dim=-1)
        counts.append(inside.sum(dim=0))
    return torch.log(torch.cat(counts).clamp(min=0.5) / IN_BOX_DRAWS)


def _score_moons(task, data: dict, fit: dict, n_ref: int, seed: int) -> dict:
    """C2ST per observation against analytic reference draws (same reference draws for every
    estimator of a seed), and the median sampling rate."""
    rng = np.random.default_rng([seed, 7])
    scores, rates = [], []
    for xo in data["x_obs"]:
        reference = task.sample_posterior(xo, n_ref, rng)
        started = time.perf_counter()
        draws = fit["sample"](_tensor(xo)[None], n_ref)
        rates.append(n_ref / (time.perf_counter() - started))
        scores.append(c2st(reference, draws, seed=seed))
    return {"c2st": float(np.mean(scores)), "c2st_sd": float(np.std(scores)),
            "c2st_per_obs": scores, "val_nll": fit["val_nll"], "val_nll_flow": fit["val_nll_flow"],
            "samples_per_s": float(np.median(rates))}


def _moons_summary(rows: list[dict], args) -> list[dict]:
    """Pooled rows over seeds, and ours-minus-sbi paired differences (per observation for C2ST)."""
    summary = []
    keys = dict.fromkeys(r["key"] for r in rows)
    for key in keys:
        mine = [r for r in rows if r["key"] == key]
        c2sts = np.concatenate([r["c2st_per_obs"] for r in mine])
        summary.append({"seed": "all", "estimator": mine[0]["estimator"], "key": key,
                        "c2st": float(c2sts.mean()), "c2st_sd": float(c2sts.std()),
                        "val_nll": float(np.mean([r["val_nll"] for r in mine])),
                        "val_nll_flow": float(np.mean([r["val_nll_flow"] for r in mine])),
                        "train_s": float(np.mean([r["train_s"] for r in mine])),
                        "epochs": float(np.mean([r["epochs"] for r in mine])),
                        "samples_per_s": float(np.mean([r["samples_per_s"] for r in mine]))})
    pairs = [(key, "sbi") for key in keys if key != "sbi" and "sbi" in keys]
    pairs += [(key, "ours-box") for key in keys if key.startswith("ours-") and key != "ours-box"
              and "ours-box" in keys]
    seeds = {key: {r["seed"] for r in rows if r["key"] == key} for key in keys}
    return summary + [_paired(rows, key, other) for key, other in pairs if seeds[key] & seeds[other]]


def _paired(rows: list[dict], key: str, other: str) -> dict:
    """``key`` minus ``other`` on the same seeds: C2ST per observation (mean, sd, SE), NLL per
    seed (mean difference), train time and sampling rate per seed (mean ratio)."""
    base = {r["seed"]: r for r in rows if r["key"] == other}
    mine = [r for r in rows if r["key"] == key and r["seed"] in base]
    diff = np.concatenate([np.subtract(r["c2st_per_obs"], base[r["seed"]]["c2st_per_obs"]) for r in mine])
    return {
        "seed": "paired", "estimator": f"{key} − {other}", "key": f"{key}-{other}",
        "c2st": float(diff.mean()), "c2st_sd": float(diff.std(ddof=1)) if len(diff) > 1 else 0.0,
        "c2st_se": float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0,
        "val_nll": float(np.mean([r["val_nll"] - base[r["seed"]]["val_nll"] for r in mine])),
        "val_nll_flow": float(np.mean([r["val_nll_flow"] - base[r["seed"]]["val_nll_flow"] for r in mine])),
        "train_s": float(np.mean([r["train_s"] / base[r["seed"]]["train_s"] for r in mine])),
        "samples_per_s": float(np.mean([r["samples_per_s"] / base[r["seed"]]["samples_per_s"]
                                        for r in mine])),
    }


def _sbi_version() -> str:
    import sbi

    return sbi.__version__


# ---------------------------------------------------------------------------------------------
# (c) throughput: posterior samples per second and windows summarised per second

def run_throughput(args) -> None:
    """Samples/s for one window and windows summarised/s, for each model as built and with its
    NSF bins' softmax switched (``fast_spline``; same weights), timed back to back."""
    rows = []
    from cardiosbi.default_models import load_default_posterior

    flow = "legacy flow" if args.legacy_flow else "default flow"
    models = {f"cardio-shaped (2x1000 series, default resnet1d + NSF, {flow})":
              _cardio_shaped_posterior(args),
              "two-moons NSF (sbi sizes: 5 transforms, 50 hidden, 10 bins)": _moons_shaped_posterior()}
    models.update({f"shipped `{name}` (1x1000 series, as trained)": load_default_posterior(name)
                   for name in ("apw", "ppg")})
    models.update(_fhn_posterior(Path(args.fhn_model)))
    for label, posterior in models.items():
        x = torch.randn((args.windows, *posterior.network.x_shape), device=args.device)
        rates = {on: _rates(_with_fast_spline(posterior, on).to(args.device), x, args)
                 for on in (True, False)}
        rows.append({"model": label, "device": args.device,
                     "fast_spline_as_built": posterior.config.model.estimator.fast_spline,
                     "samples_per_s_one_window": rates[True][0],
                     "samples_per_s_zuko_softmax": rates[False][0],
                     "samples_ratio": rates[True][0] / rates[False][0],
                     "windows_summarised_per_s": rates[True][1],
                     "windows_per_s_zuko_softmax": rates[False][1],
                     "windows_ratio": rates[True][1] / rates[False][1]})
        print(rows[-1], flush=True)
    columns = ["model", "device", "fast_spline_as_built", "samples_per_s_one_window",
               "samples_per_s_zuko_softmax", "samples_ratio", "windows_summarised_per_s",
               "windows_per_s_zuko_softmax", "windows_ratio"]
    _write(Path(args.out), "npe_throughput", rows, _markdown(rows, columns),
           {"machine": _machine(), "samples": args.samples, "windows": args.windows})


def _fhn_posterior(path: Path) -> dict:
    """The FHN NPE written by experiments/fhn/study.py, when there is one."""
    if not path.is_file():
        print(f"throughput: no FHN model at {path}, skipping its row (write it with "
              "`python experiments/fhn/study.py train_conditions=[clean,noisy]`, or pass "
              "--fhn-model PATH)", flush=True)
        return {}
    from cardiosbi.inference import load_posterior

    return {"FHN (1x200 series, trained in experiments/fhn)": load_posterior(path)}


def _rates(posterior, x: torch.Tensor, args) -> tuple[float, float]:
    """(posterior samples/s for one window, windows summarised/s with 1,000 draws each)."""
    posterior.sample((10,), x=x[:2])  # warm-up
    started = time.perf_counter()
    posterior.sample((args.samples,), x=x[:1])
    _synchronize(args.device)
    one = args.samples / (time.perf_counter() - started)
    started = time.perf_counter()
    posterior.summarize(x, n=1000, batch_size=64)
    return one, args.windows / (time.perf_counter() - started)


def _with_fast_spline(posterior, on: bool):
    """The same posterior (same weights) rebuilt with ``fast_spline`` set to ``on``."""
    state = posterior.state()
    state["config"]["model"]["estimator"]["fast_spline"] = on
    rebuilt = type(posterior).from_state(state)
    rebuilt.input_spec = posterior.input_spec
    return rebuilt


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
    from cardiosbi.inference.estimators import LEGACY_FLOW

    estimator = dict(LEGACY_FLOW) if args.legacy_flow else {}
    config = NPEConfig.from_dict({"model": {"estimator": estimator},
                                  "trainer": {"max_epochs": 1, "accelerator": "cpu",
                                              "reject_calibration_rows": 32}})
    return train_npe(theta, x + 0.1 * torch.randn_like(x), [f"p{i}" for i in range(5)],
                     torch.zeros(5), torch.ones(5), config)


def _moons_shaped_posterior():
    """An NSF at the sizes of the two-moons comparison (b), trained for one epoch only to build
    it: sampling cost does not depend on the weights' values."""
    task = TwoMoons()
    rng = np.random.default_rng(0)
    theta = task.sample_prior(1000, rng)
    config = NPEConfig.from_dict({
        "model": {"estimator": {"kind": "nsf", "transforms": 5, "hidden": [50, 50], "bins": 10}},
        "trainer": {"max_epochs": 1, "accelerator": "cpu", "reject_calibration_rows": 32}})
    return train_npe(_tensor(theta), _tensor(task.simulate(theta, rng)), ["theta0", "theta1"],
                     -torch.ones(2), torch.ones(2), config)


# ---------------------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("part", choices=["moons", "throughput"])
    parser.add_argument("--out", default="runs/benchmarks")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--quick", action="store_true", help="tiny sizes (smoke run)")
    parser.add_argument("--n-sims", type=int, default=10_000)
    parser.add_argument("--n-obs", type=int, default=10, help="two moons observations for C2ST")
    parser.add_argument("--n-ref", type=int, default=5000, help="reference/posterior samples for C2ST")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="moons: simulation/training seeds (one full comparison each)")
    parser.add_argument("--theta-maps", nargs="*", choices=list(MOONS_THETA_MAPS), default=["box"],
                        help="moons: θ maps for ours (box: logit onto the prior box; soft_box: "
                             "affine inside the box, logarithmic near its bounds; unbounded: "
                             "z-scoring only, like sbi)")
    parser.add_argument("--reuse", nargs="*", default=[], metavar="JSON",
                        help="moons: npe_moons.json of earlier runs with the same sizes; their "
                             "per-seed rows of estimators not fitted now join the comparison")
    parser.add_argument("--recipe", choices=list(MOONS_RECIPES), default="sbi",
                        help="moons: train ours with sbi's settings or with our trainer defaults")
    parser.add_argument("--legacy-flow", action="store_true",
                        help="moons: ours with the flow architecture before the residual/LU defaults")
    parser.add_argument("--skip-sbi", action="store_true", help="moons: train and score ours only")
    parser.add_argument("--samples", type=int, default=100_000)
    parser.add_argument("--windows", type=int, default=256)
    parser.add_argument("--device", default="cpu", help="throughput: cpu or cuda")
    parser.add_argument("--fhn-model", default="runs/fhn/fhn_npe_clean.pt",
                        help="throughput: the FHN NPE written by experiments/fhn/study.py")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    logging.basicConfig(level=logging.WARNING)
    {"moons": run_moons, "throughput": run_throughput}[args.part](args)


if __name__ == "__main__":
    main()
