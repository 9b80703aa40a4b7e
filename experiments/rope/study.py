"""Shared machinery of the RoPE studies (pendulum, hemodynamics): methods, metrics, plot.

A study supplies an NPE trained on simulations, a :class:`SeedData` per seed (labelled "real"
test pairs, reference simulations, a pool of labelled real calibration pairs), a simulator for
fine-tuning and the rows of the methods that do not depend on the calibration set (prior, SBI
ceiling). :func:`run_seed` then evaluates, on the same test set: naive NPE, OT-only (no
fine-tuning), and per calibration size RoPE (τ = 1), RoPE* (τ = τ*), optionally RoPE with γ
selected on the held-out calibration pairs, FT-only (fine-tuned encoder fed to the flow, no OT),
J-NPE (NPE warm-started, then trained on 50/50 simulation/calibration batches — the paper trains
it from scratch; warm start saves CPU time) and a Gaussian MLP trained on the calibration set.
Metrics: LPP (nats, in θ's physical units) and ACAUC (0 = calibrated, > 0 overconfident).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import matplotlib.pyplot as plt
import pandas as pd
import torch
from torch import Tensor

from cardiosbi.calibration import (
    FineTuneConfig,
    RopePosterior,
    TransportConfig,
    acauc,
    calibrate,
    fine_tune_encoder,
    lpp,
)
from cardiosbi.calibration.finetune import calibration_split
from cardiosbi.calibration.rope import select_gamma
from cardiosbi.inference import NPEConfig
from cardiosbi.utils.progress import progress

Simulator = Callable[[Tensor, torch.Generator], Tensor]


@dataclass
class StudyConfig:
    """Settings common to every RoPE study (each study's YAML sets them)."""

    seed: int = 0
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    n_train: int = 10000
    n_test: int = 2000
    calibration_sizes: list[int] = field(default_factory=lambda: [10, 50, 200, 1000])
    n_samples: int = 1000
    npe_epochs: int = 60
    embedding_channels: list[int] = field(default_factory=lambda: [16, 32, 32])
    embedding_features: int = 10
    fine_tune_steps: int = 1000
    fine_tune_lr: float = 1e-4
    jnpe_steps: int = 1500
    mlp_steps: int = 2000
    gamma: float = 0.5
    gamma_grid: list[float] = field(default_factory=list)  # empty: no "RoPE (γ sel.)" method
    tau_star: float = 0.9
    cache_draws: bool = False  # RoPE draws from n_samples cached draws per reference simulation
    out: str = "runs/rope"


@dataclass
class SeedData:
    """One seed's data: test pairs, reference simulations (n_s), real calibration pool."""

    theta_test: Tensor
    x_test: Tensor
    theta_ref: Tensor
    x_ref: Tensor
    pool_theta: Tensor
    pool_x: Tensor


def npe_config(cfg: StudyConfig) -> NPEConfig:
    """The studies' small NPE: resnet1d embedding, coupling NSF with 3 transforms."""
    return NPEConfig.from_dict({
        "model": {"embedding": {"kind": "resnet1d", "channels": list(cfg.embedding_channels),
                                "features": cfg.embedding_features},
                  "estimator": {"kind": "nsf", "transforms": 3, "hidden": [64, 64]}},
        "trainer": {"max_epochs": cfg.npe_epochs, "batch_size": 128, "patience": 10},
        "seed": cfg.seed,
    })


def evaluate(posterior, theta, x, n_samples, generator) -> tuple[float, float]:
    """(LPP, ACAUC) of a posterior on test pairs (θ, x)."""
    with torch.no_grad():
        log_prob = posterior.log_prob(theta, x)
        draws = posterior.sample((n_samples,), x=x, generator=generator)
    return lpp(log_prob), acauc(draws.cpu(), theta)


class TunedEncoderPosterior(RopePosterior):
    """FT-only ablation: the fine-tuned encoder's embedding fed straight to the flow."""

    def log_prob(self, theta, x):
        npe = self.npe
        bijection = npe.bijection
        theta_std = bijection(theta)
        distribution = npe.flow_distribution(self.real_embeddings(x))
        return distribution.log_prob(theta_std) + bijection.log_abs_det_jacobian(theta, theta_std)

    def _sample(self, x, n, generator=None):
        distribution = self.npe.flow_distribution(self.real_embeddings(x))
        z = torch.randn((n, x.shape[0], self.num_parameters), generator=generator)
        return self.npe.to_physical(distribution.transform.inv(z))


class GaussianMLP:
    """Gaussian regressor (mean, log-variance) of box-scaled θ, trained on C only."""

    def __init__(self, theta_cal, x_cal, low, high, steps=2000, seed=0):
        torch.manual_seed(seed)
        self.low, self.width = low, high - low
        k = theta_cal.shape[1]
        self.net = torch.nn.Sequential(
            torch.nn.Linear(x_cal.shape[-1], 64), torch.nn.ReLU(),
            torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 2 * k))
        optimizer = torch.optim.Adam(self.net.parameters(), lr=1e-3, weight_decay=1e-4)
        target = self.to_unit(theta_cal)
        for _ in range(steps):
            mean, log_var = self.head(self.net(x_cal))
            loss = (0.5 * log_var + 0.5 * (target - mean) ** 2 / log_var.exp()).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        self.net.eval()

    def to_unit(self, theta):
        return (theta - self.low) / self.width

    @staticmethod
    def head(output):
        mean, log_var = output.chunk(2, dim=1)
        return mean, log_var.clamp(-12.0, 2.0)  # σ between 0.25 % and 2.7 prior widths

    def metrics(self, theta, x, n_samples, generator) -> tuple[float, float]:
        """(LPP in physical units, ACAUC) on test pairs."""
        with torch.no_grad():
            mean, log_var = self.head(self.net(x))
        normal = torch.distributions.Normal(mean, (0.5 * log_var).exp())
        draws = mean + normal.stddev * torch.randn((n_samples, *mean.shape), generator=generator)
        log_det = torch.log(self.width).sum()  # density in physical units
        unit = self.to_unit(theta)
        return lpp(normal.log_prob(unit).sum(1) - log_det), acauc(draws, unit)


def joint_npe(npe, theta_sim, x_sim, theta_cal, x_cal, steps, seed):
    """J-NPE: continue training a copy of the NPE on 50/50 simulation/calibration batches."""
    torch.manual_seed(seed)
    network = copy.deepcopy(npe.network).train()
    optimizer = torch.optim.Adam(network.parameters(), lr=1e-4)
    for _ in range(steps):
        i = torch.randint(len(theta_sim), (64,))
        j = torch.randint(len(theta_cal), (64,))
        loss = network.loss(torch.cat([theta_sim[i], theta_cal[j]]),
                            torch.cat([x_sim[i], x_cal[j]]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    joint = copy.copy(npe)
    joint.network = network.eval()
    return joint


def repeated(seed, sizes, method, value) -> list[dict]:
    """Rows of a method that does not use the calibration set (same value at every size)."""
    return [dict(seed=seed, size=s, method=method, lpp=value[0], acauc=value[1]) for s in sizes]


def run_seed(cfg: StudyConfig, npe, theta_sim, x_sim, data: SeedData, simulator: Simulator,
             seed: int, fixed: dict[str, tuple[float, float]]) -> list[dict]:
    """All methods' rows for one seed; ``fixed`` holds the calibration-free baselines' values."""
    draw = torch.Generator().manual_seed(seed)
    sizes = cfg.calibration_sizes
    rows = [r for method, value in fixed.items() for r in repeated(seed, sizes, method, value)]
    value = evaluate(npe, data.theta_test, data.x_test, cfg.n_samples, draw)
    rows += repeated(seed, sizes, "NPE", value)
    cache = cfg.n_samples if cfg.cache_draws else 0
    ot_only = calibrate(npe, None, None, data.x_ref, transport=TransportConfig(gamma=cfg.gamma))
    ot_only.cache_draws = cache
    shared = ot_only.cached_draws() if cache else None  # same NPE and references for all
    value = evaluate(ot_only, data.theta_test, data.x_test, cfg.n_samples, draw)
    rows += repeated(seed, sizes, "OT-only", value)
    reference = npe.embed(data.x_ref).detach().cpu()
    for size in progress(sizes, desc=f"seed {seed}", unit="size"):
        theta_cal, x_cal = data.pool_theta[:size], data.pool_x[:size]
        tune = FineTuneConfig(learning_rate=cfg.fine_tune_lr, max_steps=cfg.fine_tune_steps,
                              batch_size=min(100, size), seed=seed)
        encoder = fine_tune_encoder(npe.embedding_net, theta_cal, x_cal, simulator, tune)
        variants = {
            "RoPE": RopePosterior(npe, reference, encoder, TransportConfig(gamma=cfg.gamma),
                                  cache_draws=cache),
            "RoPE*": RopePosterior(npe, reference, encoder,
                                   TransportConfig(gamma=cfg.gamma, tau=cfg.tau_star),
                                   cache_draws=cache),
            "FT-only": TunedEncoderPosterior(npe, reference, encoder),
            "J-NPE": joint_npe(npe, theta_sim, x_sim, theta_cal, x_cal, cfg.jnpe_steps, seed),
        }
        if cfg.gamma_grid:
            selected = RopePosterior(npe, reference, encoder, cache_draws=cache)
            selected.transport = select_gamma(selected, theta_cal, x_cal,
                                              calibration_split(size, tune), cfg.gamma_grid)
            variants["RoPE (γ sel.)"] = selected
        for method, posterior in variants.items():
            if cache and isinstance(posterior, RopePosterior):
                posterior._cache = shared
            value = evaluate(posterior, data.theta_test, data.x_test, cfg.n_samples, draw)
            row = dict(seed=seed, size=size, method=method, lpp=value[0], acauc=value[1])
            if method == "RoPE (γ sel.)":
                row["gamma"] = posterior.transport.gamma
            rows.append(row)
        mlp = GaussianMLP(theta_cal, x_cal.flatten(1), npe.low, npe.high, cfg.mlp_steps, seed)
        value = mlp.metrics(data.theta_test, data.x_test.flatten(1), cfg.n_samples, draw)
        rows.append(dict(seed=seed, size=size, method="MLP", lpp=value[0], acauc=value[1]))
    return rows


def summary(table: pd.DataFrame) -> pd.DataFrame:
    """Mean over seeds: rows = methods (in first-seen order), columns = (metric, size)."""
    means = table.groupby(["method", "size"], sort=False)[["lpp", "acauc"]].mean()
    return means.unstack("size")


def plot(table: pd.DataFrame, path, title: str, lpp_limits: tuple[float, float] | None = None,
         ) -> None:
    """LPP and ACAUC versus calibration-set size, mean ± sd over seeds, one line per method.

    ``lpp_limits``: a linear LPP axis cut to these limits (methods below are off the plot);
    without them a symlog axis shows everything."""
    stats = table.groupby(["method", "size"])[["lpp", "acauc"]].agg(["mean", "std"])
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for method in table["method"].unique():
        part = stats.loc[method]
        for ax, metric in zip(axes, ("lpp", "acauc"), strict=True):
            ax.errorbar(part.index, part[(metric, "mean")], part[(metric, "std")].fillna(0),
                        label=method, marker="o", capsize=3)
    for ax, label in zip(axes, ("LPP [nats] (higher is better)", "ACAUC (0 = calibrated)"),
                         strict=True):
        ax.set_xscale("log")
        ax.set_xlabel("calibration-set size")
        ax.set_ylabel(label)
    if lpp_limits is None:
        axes[0].set_yscale("symlog", linthresh=10)  # the calibration-only MLP falls far below
    else:
        axes[0].set_ylim(*lpp_limits)
    axes[1].axhline(0, color="k", lw=0.8)
    axes[0].legend(fontsize=8)
    fig.suptitle(f"{title} (mean ± sd over seeds)")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
