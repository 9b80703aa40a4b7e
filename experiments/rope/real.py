"""RoPE on real ICU recordings (issue #7): HR and MAP from ABP and from PPG, before and after.

Posteriors: the shipped default models (``apw``: one radial pressure channel; ``ppg``: one
normalised PPG channel), trained on our 1D PWDB-116 simulations. Real data: the 25 CinC 2015
records of ``records`` (radial ABP, PPG, ECG at 250 Hz), cut into the models' 8-s windows by
the same preprocessing as ``cardiosbi infer``, keeping windows that end by ``crop_s`` (before
any VT alarm). Labels per window: HR from the ECG R-peaks and MAP from the arterial line (mean
over whole beats) — what a bedside monitor measures. They label two of the posteriors'
parameters (``hr``, ``map_radial``); the others (SV, LVET, SVR, …) stay unlabelled nuisances.

Design per seed: the records are shuffled; ``n_test_records`` are the test set, and the
calibration set is every accepted window of the first k records of the rest, for k in
``calibration_records``. Windows of one record are strongly correlated, so the calibration size
that matters is the number of records (patients), not of windows. Methods: the naive NPE,
OT-only (no fine-tuning, γ = 0.5), FT-only (fine-tuned encoder, no OT), RoPE with the paper's
γ = 0.5 and τ = 1, and RoPE at τ = 1, τ* and ``extra_taus`` with γ chosen from ``gamma_grid``
by the held-out calibration windows' LPP of (HR, MAP) (Gaussian-marginal approximation).
A test set of a dozen patients covers a small part of the simulated population, and balanced
transport (τ = 1) must still use every reference simulation: the relaxed simulation marginal
(τ < 1) is what lets a test window ignore simulations no real window resembles.

Reference set n_s: each model's shipped reference set (its embeddings of all 4,096 training-store
simulations, 80 % of which trained the NPE): no fresh prior simulations can be made on a CPU,
and the mixture's resolution grows with n_s (HR posteriors are ~3 bpm wide on a 110-bpm prior
range). Fine-tuning targets are the reference simulation nearest in (HR, MAP).
Metrics per parameter on the test windows: absolute error of the posterior median, bias, 90 %
coverage, 90 % width and ACAUC (0 calibrated, > 0 overconfident).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import study  # noqa: E402  (sibling module of this script)

from cardiosbi.calibration import (  # noqa: E402
    FineTuneConfig,
    NearestSimulation,
    RopePosterior,
    TransportConfig,
    fine_tune_encoder,
)
from cardiosbi.calibration.finetune import calibration_split  # noqa: E402
from cardiosbi.calibration.metrics import coverage_deviation  # noqa: E402
from cardiosbi.calibration.recordings import LabelledWindows, labelled_windows  # noqa: E402
from cardiosbi.calibration.rope import select_gamma  # noqa: E402
from cardiosbi.default_models import load_default_posterior, load_default_reference  # noqa: E402
from cardiosbi.errors import ConfigError  # noqa: E402
from cardiosbi.inference import NPEPosterior  # noqa: E402
from cardiosbi.io.cohort import discover_records  # noqa: E402
from cardiosbi.utils.paths import existing_path  # noqa: E402
from cardiosbi.utils.progress import progress  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


@dataclass
class RealStudyConfig:
    records: str = "../shared/data/real/cinc2015_vtach"
    crop_s: float = 280.0
    models: list[str] = field(default_factory=lambda: ["apw", "ppg"])
    labels: dict[str, str] = field(default_factory=dict)      # parameter -> quality column
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    n_test_records: int = 13
    calibration_records: list[int] = field(default_factory=lambda: [1, 3, 6, 12])
    n_samples: int = 400
    fine_tune_steps: int = 400
    fine_tune_lr: float = 1e-4
    gamma: float = 0.5
    gamma_grid: list[float] = field(default_factory=list)  # γ per variant by held-out LPP
    tau_star: float = 0.9
    extra_taus: list[float] = field(default_factory=list)  # more semi-balanced variants
    merge: list[str] = field(default_factory=list)  # result folders of separate runs to join
    out: str = "runs/rope_real"


def real_windows(cfg: RealStudyConfig, posterior) -> LabelledWindows:
    """Every accepted window with finite labels, prepared exactly as ``cardiosbi infer`` does."""
    folder = existing_path(REPO / cfg.records, "real records folder")
    refs = discover_records(folder, exclude=[folder / "index.csv"])  # a summary, not a record
    return labelled_windows(progress(refs, desc="records", unit="record"), posterior,
                            cfg.labels, until_s=cfg.crop_s)


def window_metrics(draws: torch.Tensor, theta: torch.Tensor, names: list[str]) -> list[dict]:
    """Per parameter: |median − truth|, bias, 90 % coverage and width, ACAUC."""
    median = draws.median(0).values
    low, high = draws.quantile(0.05, dim=0), draws.quantile(0.95, dim=0)
    deviation = coverage_deviation(draws, theta)
    rows = []
    for j, name in enumerate(names):
        error = median[:, j] - theta[:, j]
        inside = (low[:, j] <= theta[:, j]) & (theta[:, j] <= high[:, j])
        rows.append(dict(parameter=name, mae=float(error.abs().mean()),
                         bias=float(error.mean()), cov90=float(inside.float().mean()),
                         width90=float((high[:, j] - low[:, j]).mean()),
                         acauc=float(deviation[:, j].mean() - 0.5)))
    return rows


def is_mixture(posterior) -> bool:
    """An OT mixture (solved over all test windows at once), not FT-only's plain flow."""
    return (isinstance(posterior, RopePosterior)
            and not isinstance(posterior, study.TunedEncoderPosterior))


def labelled_draws(posterior, x: torch.Tensor, columns: list[int], n: int,
                   generator: torch.Generator) -> torch.Tensor:
    """Posterior draws (n, B, k_labelled) of the labelled parameters, in chunks of windows."""
    with torch.no_grad():
        if is_mixture(posterior):
            return posterior.sample((n,), x=x, generator=generator)[..., columns]
        return torch.cat([posterior.sample((n,), x=chunk, generator=generator)[..., columns]
                          for chunk in x.split(256)], dim=1)


@dataclass
class ModelSetup:
    """Everything one default model's seeds share."""

    model: str
    npe: NPEPosterior
    names: list[str]
    columns: list[int]
    real: LabelledWindows
    reference: torch.Tensor
    cache: torch.Tensor
    simulator: NearestSimulation  # nearest reference simulation's embedding


def run_model(cfg: RealStudyConfig, model: str) -> list[dict]:
    """All seeds, sizes and methods of one default model."""
    npe = load_default_posterior(model)
    names = list(cfg.labels)
    columns = [npe.parameter_names.index(name) for name in names]
    real = real_windows(cfg, npe)
    reference = load_default_reference(model)
    setup = ModelSetup(model, npe, names, columns, real, reference.embeddings,
                       RopePosterior(npe, reference.embeddings,
                                     cache_draws=cfg.n_samples).cached_draws(),
                       NearestSimulation(reference.theta[:, columns], reference.embeddings,
                                         npe.low.float()[columns], npe.high.float()[columns]))
    print(f"{model}: {len(real.x)} labelled windows from {len(np.unique(real.record))} "
          f"records; {len(reference.theta)} reference simulations", flush=True)
    return [row for seed in cfg.seeds for row in run_seed(cfg, setup, seed)]


def run_seed(cfg: RealStudyConfig, setup: ModelSetup, seed: int) -> list[dict]:
    """One shuffle of the records: every calibration size and method on the test records."""
    npe, real = setup.npe, setup.real
    order = np.random.default_rng(1000 + seed).permutation(np.unique(real.record))
    test = np.isin(real.record, order[:cfg.n_test_records])
    pool = order[cfg.n_test_records:]
    draw = torch.Generator().manual_seed(seed)

    def method_rows(method, posterior, size, n_windows=0):
        draws = labelled_draws(posterior, real.x[test], setup.columns, cfg.n_samples, draw)
        extra = {"gamma": posterior.transport.gamma} if is_mixture(posterior) else {}
        return [dict(model=setup.model, seed=seed, records=size, windows=n_windows,
                     method=method, **extra, **row)
                for row in window_metrics(draws, real.theta[test], setup.names)]

    ot_only = RopePosterior(npe, setup.reference, transport=TransportConfig(gamma=cfg.gamma),
                            cache_draws=cfg.n_samples)
    uncalibrated = method_rows("NPE", npe, 0) + method_rows(
        "OT-only", with_cache(ot_only, setup.cache), 0)
    rows = []
    for size in progress(cfg.calibration_records, desc=f"{setup.model} seed {seed}",
                         unit="size"):
        if size > len(pool):
            raise ConfigError(f"{size} calibration records requested, {len(pool)} left after "
                              f"{cfg.n_test_records} test records")
        calibration = np.isin(real.record, pool[:size])
        rows += [dict(r, records=size) for r in uncalibrated]
        for method, posterior in calibrated_variants(cfg, setup, calibration, seed).items():
            rows += method_rows(method, posterior, size, int(calibration.sum()))
    return rows


def calibrated_variants(cfg: RealStudyConfig, setup: ModelSetup, calibration: np.ndarray,
                        seed: int) -> dict:
    """FT-only and the RoPE variants built from one calibration set (boolean window mask)."""
    npe, real, reference = setup.npe, setup.real, setup.reference
    n = int(calibration.sum())
    tune = FineTuneConfig(learning_rate=cfg.fine_tune_lr, max_steps=cfg.fine_tune_steps,
                          batch_size=min(100, n), seed=seed)
    encoder = fine_tune_encoder(npe.embedding_net, real.theta[calibration], real.x[calibration],
                                setup.simulator, tune, embeds=True)
    variants = {"FT-only": study.TunedEncoderPosterior(npe, reference, encoder),
                "RoPE (γ = 0.5)": RopePosterior(npe, reference, encoder,
                                                TransportConfig(gamma=cfg.gamma),
                                                cache_draws=cfg.n_samples)}
    for method, tau in rope_variants(cfg).items():
        rope = RopePosterior(npe, reference, encoder, TransportConfig(gamma=cfg.gamma, tau=tau),
                             cache_draws=cfg.n_samples)
        if cfg.gamma_grid:
            rope.transport = select_gamma(with_cache(rope, setup.cache), real.theta[calibration],
                                          real.x[calibration], calibration_split(n, tune),
                                          cfg.gamma_grid, setup.columns)
        variants[method] = rope
    return {method: with_cache(posterior, setup.cache) for method, posterior in variants.items()}


def rope_variants(cfg: RealStudyConfig) -> dict[str, float]:
    """Method name -> τ of the RoPE variants whose γ is selected (when a grid is given)."""
    suffix = " (γ sel.)" if cfg.gamma_grid else ""
    taus = {f"RoPE{suffix}": 1.0, f"RoPE*{suffix}": cfg.tau_star}
    taus.update({f"RoPE (τ = {tau:g}){suffix}": tau for tau in cfg.extra_taus})
    return taus


def with_cache(posterior, cache: torch.Tensor):
    """Share the reference posteriors' cached draws (same NPE and references for all)."""
    if isinstance(posterior, RopePosterior) and posterior.cache_draws:
        posterior._cache = cache
    return posterior


def plot(table: pd.DataFrame, path: Path) -> None:
    """Per model and parameter: |error| and 90 % coverage versus calibration records."""
    stats = table.groupby(["model", "parameter", "method", "records"])[["mae", "cov90"]].mean()
    panels = table[["model", "parameter"]].drop_duplicates().to_numpy()
    fig, axes = plt.subplots(2, len(panels), figsize=(3.6 * len(panels), 6.5), squeeze=False)
    for col, (model, parameter) in enumerate(panels):
        for method in table["method"].unique():
            part = stats.loc[(model, parameter, method)]
            axes[0, col].plot(part.index, part["mae"], marker="o", label=method)
            axes[1, col].plot(part.index, part["cov90"], marker="o", label=method)
        axes[0, col].set_title(f"{model}: {parameter}")
        axes[0, col].set_ylabel("mean |median − label|")
        axes[1, col].set_ylabel("90 % coverage")
        axes[1, col].axhline(0.9, color="k", lw=0.8)
        axes[1, col].set_ylim(0, 1)
        for ax in axes[:, col]:
            ax.set_xscale("log")
            ax.set_xlabel("calibration records")
    axes[0, 0].legend(fontsize=8)
    fig.suptitle("RoPE on 25 ICU records (CinC 2015): test records' windows, mean over seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds: rows (model, parameter, method), columns (metric, records)."""
    metrics = ["mae", "bias", "cov90", "width90", "acauc"]
    means = table.groupby(["model", "parameter", "method", "records"], sort=False)[metrics].mean()
    return means.unstack("records")


def run(cfg: RealStudyConfig) -> pd.DataFrame:
    """Run the models (or join the ``merge`` folders' results); write table, figure, summary."""
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if cfg.merge:  # e.g. one process per model, run side by side
        table = pd.concat([pd.read_csv(existing_path(Path(folder) / "results.csv", "results"))
                           for folder in cfg.merge], ignore_index=True)
        table.to_csv(out / "results.csv", index=False)
    else:
        rows = []
        for model in cfg.models:
            rows += run_model(cfg, model)
            pd.DataFrame(rows).to_csv(out / "results.csv", index=False)
            print(f"{model} done at {time.perf_counter() - started:.0f} s", flush=True)
        table = pd.DataFrame(rows)
    plot(table, out / "coverage_error.png")
    with pd.option_context("display.width", 200, "display.max_columns", 40):
        print(summary(table).round(3).to_string())
    print(f"total {time.perf_counter() - started:.0f} s; results in {out}")
    return table


def main(argv: list[str]) -> None:
    run(load_study_config(RealStudyConfig, HERE / "real.yaml", argv))


if __name__ == "__main__":
    main(sys.argv[1:])
