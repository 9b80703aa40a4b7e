"""From recordings to a saved hybrid posterior: cut pairs, (pre-)train the CVAE, compose, save.

``train_hybrid`` is the library face of ``cardiosbi train-hybrid``; every stage writes into
the output folder so that a killed run resumes (pairs per record, CVAE checkpoints per epoch).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from cardiosbi.datasets.reader import SimulatedStore
from cardiosbi.default_models import file_sha256, posterior_path
from cardiosbi.errors import ConfigError
from cardiosbi.hybrid.model import CVAEConfig
from cardiosbi.hybrid.pairs import (
    PairsConfig,
    PairSet,
    check_enough,
    cut_pairs,
    load_pairs,
    pair_window_config,
    rejection_counts,
    write_pairs_table,
)
from cardiosbi.hybrid.posterior import HybridPosterior
from cardiosbi.hybrid.training import HybridTrainerConfig, fit_cvae, split_records
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.signals.normalize import normalize_window
from cardiosbi.utils.rundir import atomic_write_text

log = logging.getLogger(__name__)


@dataclass
class PretrainConfig:
    """Optional pre-training on simulated pairs (a ``cardiosbi simulate`` store)."""

    store: str | None = None          # path of a Zarr store with both channels below
    ppg_channel: str = "digital/PPG"
    apw_channel: str = "radial/P"     # in mmHg, as the APW posterior reads it
    max_epochs: int = 30


@dataclass
class HybridPosteriorConfig:
    n_apw: int = 32                   # pressure draws per window (mixture components M)
    reject_quantile: float = 0.95     # of 90 % widths on the validation records' windows
    reject_windows: int = 512
    reject_draws: int = 256
    # p(z | PPG) SD multipliers tried on the validation records; the smallest whose MAP
    # posterior covers the arterial line in >= scale_coverage of windows is kept ([1.0]: off)
    prior_scales: list[float] = field(default_factory=lambda: [1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0])
    scale_coverage: float = 0.9


@dataclass
class TrainHybridConfig:
    """``cardiosbi train-hybrid`` (``cardiosbi/conf/train_hybrid.yaml``)."""

    records: list[str] = field(default_factory=list)
    out: str = "runs/hybrid"
    apw_posterior: str = "apw"
    seed: int = 0
    device: str = "auto"
    fs: float | None = None
    pairs: PairsConfig = field(default_factory=PairsConfig)
    cvae: CVAEConfig = field(default_factory=CVAEConfig)
    training: HybridTrainerConfig = field(default_factory=HybridTrainerConfig)
    pretrain: PretrainConfig = field(default_factory=PretrainConfig)
    posterior: HybridPosteriorConfig = field(default_factory=HybridPosteriorConfig)


def gather_pairs(records: list[str], out: Path, apw: Posterior, config: TrainHybridConfig,
                 hop_s: float | None = None) -> tuple[PairSet, dict]:
    """Cut and screen the pairs of every source into ``out/pairs``; write ``pairs.csv``."""
    spec = apw.input_spec
    window = pair_window_config(float(spec["sampling_rate"]), float(spec["window_s"]),
                                config.pairs, hop_s)
    summaries = [cut_pairs(source, out / "pairs" / f"source{i}", window, config.pairs.workers,
                           config.fs).assign(source_index=i) for i, source in enumerate(records)]
    sets, tables, seen = [], [], set()
    for i, summary in enumerate(summaries):
        pairs, table = load_pairs(out / "pairs" / f"source{i}", summary)
        # ids are unique within a source; the same name in two sources is two recordings
        clash = set(table["record"]) & seen
        rename = {r: f"{r}@source{i}" for r in clash}
        pairs.table["record"] = pairs.table["record"].replace(rename)
        table["record"] = table["record"].replace(rename)
        seen |= set(table["record"])
        sets.append(pairs)
        tables.append(table)
    pairs = _concat([s for s in sets if len(s)])
    table = pd.concat(tables, ignore_index=True)
    write_pairs_table(table, out / "pairs.csv")
    counts = {"records": int(sum(len(s) for s in summaries)),
              "records_failed": int(sum((s["status"] != "ok").sum() for s in summaries)),
              "records_with_pairs": int(len(set(pairs.records))) if len(pairs) else 0,
              "windows": int((~table["reason"].astype(str).eq("record_failed")).sum()),
              "pairs": len(pairs), "rejections": rejection_counts(table)}
    check_enough(pairs, table, config.pairs)
    return pairs, counts


def _concat(sets: list[PairSet]) -> PairSet:
    if not sets:
        return PairSet.empty()
    return PairSet(np.concatenate([s.ppg for s in sets]), np.concatenate([s.apw for s in sets]),
                   pd.concat([s.table for s in sets], ignore_index=True))


def simulated_pairs(config: PretrainConfig, sampling_rate: float, length: int) -> PairSet:
    """Pairs from a simulated store: PPG z-scored per window, pressure as stored (mmHg).
    The store's windows must have the real pairs' rate and length (the APW posterior's)."""
    store = SimulatedStore(config.store, channels=[config.ppg_channel, config.apw_channel])
    rows = np.flatnonzero(store.usable)
    _, x = store.read(0, store.layout.n)
    x = x[rows]
    if store.fs != sampling_rate or x.shape[-1] != length:
        raise ConfigError(f"pretrain.store has {x.shape[-1]}-sample windows at {store.fs:g} Hz; "
                          f"the hybrid needs {length} samples at {sampling_rate:g} Hz (the APW "
                          "posterior's windows)")
    table = pd.DataFrame({"record": [f"sim{r}" for r in rows], "start_s": 0.0})
    return PairSet(normalize_window(x[:, 0]).astype(np.float32), x[:, 1].astype(np.float32), table)


def build_hybrid(pairs: PairSet, apw: Posterior, config: TrainHybridConfig,
                 checkpoint_dir: Path | None = None) -> HybridPosterior:
    """Pre-train (optional), train on real pairs, compose with ``apw``, calibrate the reject flag."""
    initial, pretrained = None, None
    if config.pretrain.store:
        spec = apw.input_spec
        simulated = simulated_pairs(config.pretrain, float(spec["sampling_rate"]), pairs.apw.shape[1])
        settings = dataclasses.replace(config.training, max_epochs=config.pretrain.max_epochs)
        initial, pretrained = fit_cvae(simulated, config.cvae, settings, config.seed,
                                       checkpoint_dir / "pretrain" if checkpoint_dir else None)
    held = split_records(pairs.records, config.training.val_records, config.seed)
    cvae, summary = fit_cvae(pairs.subset(~held), config.cvae, config.training, config.seed,
                             checkpoint_dir / "real" if checkpoint_dir else None, initial,
                             validation=pairs.subset(held))
    summary["pretrain"] = pretrained
    hybrid = HybridPosterior(cvae, apw, config.posterior.n_apw, training=summary)
    calibrate_prior_scale(hybrid, pairs.subset(held), config)
    hybrid.reject_width90 = reject_threshold(hybrid, pairs.subset(held), config)
    return hybrid


@torch.no_grad()
def calibrate_prior_scale(hybrid: HybridPosterior, validation: PairSet,
                          config: TrainHybridConfig, parameter: str = "map_radial",
                          label: str = "map_abp") -> float:
    """Set ``hybrid.prior_scale`` from held-out records: the smallest multiplier of the
    conditional prior's SD whose ``parameter`` posterior covers the reference ``label`` in at
    least ``posterior.scale_coverage`` of the validation windows (the largest tried if none
    does). MAP is the quantity the PPG determines least, so its coverage sets the spread;
    the trial coverages are kept in ``hybrid.training['prior_scale_trials']``."""
    settings = config.posterior
    subset = _validation_windows(validation, config)
    reference = subset.table[label].to_numpy(float)
    if not np.isfinite(reference).any():
        log.warning("no %s reference on the validation records: prior scale left at %g", label,
                    hybrid.prior_scale)
        return hybrid.prior_scale
    x = torch.from_numpy(subset.ppg[:, None])
    index = hybrid.parameter_names.index(parameter)
    trials = []
    for scale in sorted(settings.prior_scales):
        hybrid.prior_scale = scale
        generator = torch.Generator().manual_seed(config.seed)
        draws = hybrid.sample((settings.reject_draws,), x=x, generator=generator)[..., index]
        low, high = np.quantile(draws.double().numpy(), [0.05, 0.95], axis=0)
        finite = np.isfinite(reference)
        coverage = float(((low <= reference) & (reference <= high))[finite].mean())
        trials.append({"prior_scale": scale, "coverage90": round(coverage, 4)})
        if coverage >= settings.scale_coverage:
            break
    else:
        log.warning("no prior scale up to %g reaches %.2f coverage of %s on the validation "
                    "records (%.2f at the largest)", scale, settings.scale_coverage, parameter,
                    coverage)
    hybrid.training["prior_scale_trials"] = trials
    return hybrid.prior_scale


@torch.no_grad()
def reject_threshold(hybrid: HybridPosterior, validation: PairSet,
                     config: TrainHybridConfig) -> torch.Tensor:
    """Per biomarker: the ``reject_quantile`` of 90 % widths on held-out records' windows, so
    the flag marks windows less informative than the hybrid usually is on real PPG (not the
    APW model's simulation-based thresholds, which a PPG-based posterior would always fail)."""
    settings = config.posterior
    x = torch.from_numpy(_validation_windows(validation, config).ppg[:, None])
    generator = torch.Generator().manual_seed(config.seed)
    draws = hybrid.sample((settings.reject_draws,), x=x, generator=generator).double()
    bounds = torch.quantile(draws, torch.tensor([0.05, 0.95], dtype=torch.float64), dim=0)
    return torch.quantile(bounds[1] - bounds[0], settings.reject_quantile, dim=0)


def _validation_windows(validation: PairSet, config: TrainHybridConfig) -> PairSet:
    """The (seeded) ``posterior.reject_windows`` validation windows the calibrations use."""
    rows = np.random.default_rng(config.seed).permutation(len(validation))
    return validation.subset(rows[: config.posterior.reject_windows])


# Settings that do not change the trained CVAE: where and how fast it runs, how it is shown,
# and what it is composed with afterwards (the APW posterior, the mixture and reject settings).
_NOT_TRAINING = ("out", "device", "pairs.workers", "training.progress_bar",
                 "training.accelerator", "apw_posterior", "posterior.")


def check_resumable(config: TrainHybridConfig, checkpoints: Path) -> None:
    """Refuse to resume checkpoints made with other settings (they would load into another
    network, or silently continue another recipe); record the settings on a fresh start."""
    settings = {k: v for k, v in _flatten(dataclasses.asdict(config)).items()
                if not k.startswith(_NOT_TRAINING)}
    path = checkpoints / "settings.json"
    if path.exists():
        before = json.loads(path.read_text())
        changed = sorted(k for k in settings.keys() | before.keys()
                         if json.dumps(settings.get(k)) != json.dumps(before.get(k)))
        if changed:
            raise ConfigError(f"{checkpoints.parent} holds a hybrid training with other settings "
                              f"(changed: {', '.join(changed)}); use another --out, or delete "
                              f"{checkpoints} to start over")
        return
    atomic_write_text(path, json.dumps(settings, indent=2, sort_keys=True))


def _flatten(tree: dict, prefix: str = "") -> dict:
    flat = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def train_hybrid(config: TrainHybridConfig) -> HybridPosterior:
    """The whole recipe into ``config.out``: ``pairs.csv``, ``hybrid.pt``, ``training.json``."""
    out = Path(config.out)
    # everything that can be wrong with the settings fails before anything is written
    config.cvae.check()
    config.training.check()
    apw_file = posterior_path(config.apw_posterior)
    apw = load_posterior(apw_file)
    check_resumable(config, out / "checkpoints")
    pairs, counts = gather_pairs(config.records, out, apw, config)
    log.info("%d pairs from %d records", counts["pairs"], counts["records_with_pairs"])
    hybrid = build_hybrid(pairs, apw, config, out / "checkpoints")
    hybrid.training.update({"pairs": counts, "apw_file": str(apw_file),
                            "apw_file_sha256": file_sha256(apw_file),
                            "config": dataclasses.asdict(config)})
    hybrid.save(out / "hybrid.pt")
    atomic_write_text(out / "training.json", json.dumps(
        {k: v for k, v in hybrid.training.items() if k != "history"}, indent=2, default=str))
    return hybrid
