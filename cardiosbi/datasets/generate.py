"""Generate a simulated dataset: prior -> simulator -> PPG -> measurement model -> Zarr shards.

Determinism: shard i draws its candidates from ``child_seeds(seed, n_shards)[i]``; candidate
j of round r has seed ``child_seeds(shard_seed, m, key=r)[j]``. A sample's parameters come from
``default_rng([seed, 0])`` and its measurement effects from ``default_rng([seed, 1])``, so a
shard produces the same rows whether it runs first, last, again after a crash, on a local
pool or on a Ray cluster. Failed candidates (simulator status or non-finite output) are
replaced by further candidates until the shard holds exactly ``shard_size`` accepted samples;
they are logged with their reason in the shard's marker.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from omegaconf import OmegaConf

from cardiosbi.datasets import store
from cardiosbi.datasets.prior import Prior, PriorConfig
from cardiosbi.datasets.simulation import Simulator, SimulatorConfig, concat, make_simulator
from cardiosbi.errors import ConfigError, SimulationError
from cardiosbi.utils.seeding import child_seeds
from simulators.measurement import MeasurementConfig, MeasurementModel, channel_key

log = logging.getLogger(__name__)

SHARD_KEY = 4  # separates shard seeds from other uses of the run seed
MAX_ROUNDS = 50


@dataclass
class DatasetSpec:
    """Everything that determines the data (a resumed run must match it exactly)."""

    seed: int = 0
    n: int = 1000
    shard_size: int = 250
    oversample: float = 0.0  # extra fraction of candidates in a shard's first round
    prior: PriorConfig = field(default_factory=PriorConfig)
    simulator: SimulatorConfig = field(default_factory=SimulatorConfig)
    measurement: MeasurementConfig = field(default_factory=MeasurementConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    @staticmethod
    def from_dict(data: dict) -> DatasetSpec:
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(DatasetSpec), data))


class Pipeline:
    """Prior, simulator and measurement model of one spec on one device (cached per process)."""

    def __init__(self, spec: DatasetSpec, device: str):
        self.spec = spec
        self.prior = Prior(spec.prior)
        self.simulator: Simulator = make_simulator(spec.simulator, device)
        try:
            self.measurement = MeasurementModel(spec.measurement)
        except ValueError as exc:  # the simulators package raises plain errors
            raise ConfigError(str(exc)) from None
        self.theta_names = [n for n in self.prior.names if n in self.simulator.parameters]
        self.unused = sorted((set(self.prior.names) | set(self.prior.fixed))
                             - set(self.simulator.parameters))

    def layout(self) -> store.Layout:
        return store.Layout(
            n=self.spec.n, shard_size=self.spec.shard_size, parameter_names=self.theta_names,
            label_names=self.simulator.label_names(), channels=list(self.spec.simulator.channels),
            nuisance_names=self.nuisance_names(), n_samples=self.spec.measurement.n_samples)

    def nuisance_names(self) -> list[str]:
        """Names of the drawn measurement parameters (from one window of a dummy beat)."""
        beat = np.sin(np.linspace(0, 2 * np.pi, 64, endpoint=False))
        beats = {ch: beat[None] for ch in self.spec.simulator.channels}
        return sorted(self.measurement.apply(beats, np.array([1.0]), [[0, 1]]).nuisance)

    def attrs(self) -> dict:
        units = self.prior.units
        index = [self.prior.names.index(n) for n in self.theta_names]
        return {
            "parameter_names": self.theta_names,
            "parameter_units": [units[i] for i in index],
            "low": [float(self.prior.low[i]) for i in index],
            "high": [float(self.prior.high[i]) for i in index],
            "fixed_parameters": self.prior.fixed,
            "simulator": self.simulator.name, "simulator_version": self.simulator.version,
            "fs": self.spec.measurement.fs, "window_s": self.spec.measurement.window_s,
            "channels": list(self.spec.simulator.channels),
            "channel_units": {c: _unit(c) for c in self.spec.simulator.channels},
            "dataset_config": self.spec.to_dict(),
        }

    def candidates(self, seeds: list[int], theta_names: list[str]) -> dict:
        """Simulate and measure candidate seeds; split into accepted rows and failures.

        ``theta_names`` (the store's column order) selects and orders the stored parameters.
        """
        timing = Counter()
        start = time.perf_counter()
        draws = self.prior.sample([[s, 0] for s in seeds])
        timing["prior"] += time.perf_counter() - start
        full = [self.prior.full(row) for row in draws.theta]
        params = {n: np.array([f[n] for f in full]) for n in self.simulator.parameters if n in full[0]}
        size = self.spec.simulator.batch_size
        beats = concat([self.simulator.run({n: v[i:i + size] for n, v in params.items()})
                        for i in range(0, len(seeds), size)])
        timing.update(beats.seconds)
        reasons = [r if s != 0 else "" for s, r in zip(beats.status, beats.reason, strict=True)]
        for ch, values in beats.beats.items():
            bad = ~np.isfinite(values).all(axis=1)
            reasons = [r or ("nonfinite_" + channel_key(ch) if b else "") for r, b in zip(reasons, bad, strict=True)]
        ok = np.array([r == "" for r in reasons])
        start = time.perf_counter()
        measured = self.measurement.apply({ch: v[ok] for ch, v in beats.beats.items()},
                                          beats.period[ok], [[s, 1] for s, k in zip(seeds, ok, strict=True) if k])
        timing["measurement"] += time.perf_counter() - start
        finite = np.all([usable_window(w, self.spec.measurement.gaps.enabled)
                         for w in measured.windows.values()], axis=0)
        if not finite.all():  # defensive: the effects keep finite beats finite
            kept = np.flatnonzero(ok)
            for i in kept[~finite]:
                reasons[i] = "nonfinite_window"
            ok[kept[~finite]] = False
            measured.windows = {c: w[finite] for c, w in measured.windows.items()}
            measured.nuisance = {n: v[finite] for n, v in measured.nuisance.items()}
        theta = draws.theta[:, [self.prior.names.index(n) for n in theta_names]]
        return {"ok": ok, "reasons": reasons, "theta": theta, "labels": beats.labels,
                "windows": measured.windows, "nuisance": measured.nuisance,
                "rejected": int(draws.rejected.sum()), "timing": timing}


def usable_window(windows: np.ndarray, gaps: bool) -> np.ndarray:
    """(B,) rows that are finite, or with measurement gaps, NaN only where samples were lost
    (never inf, never all lost)."""
    if not gaps:
        return np.isfinite(windows).all(axis=1)
    return ~np.isinf(windows).any(axis=1) & ~np.isnan(windows).all(axis=1)


@lru_cache(maxsize=4)
def _pipeline(spec_json: str, device: str) -> Pipeline:
    import json
    return Pipeline(DatasetSpec.from_dict(json.loads(spec_json)), device)


def run_shard(root: str, spec_json: str, shard: int, device: str) -> dict:
    """Simulate shard ``shard`` into the store at ``root`` and mark it done; returns its record."""
    pipeline = _pipeline(spec_json, device)
    root_path = Path(root)
    group = store.open_store(root_path, mode="r+")
    layout = store.layout_of(group)
    start_row, stop_row = layout.rows(shard)
    need = stop_row - start_row
    shard_seed = child_seeds(pipeline.spec.seed, layout.n_shards, key=SHARD_KEY)[shard]
    started = time.perf_counter()
    rows: list[dict] = []
    failures: list[dict] = []
    attempted = rejected = 0
    timing = Counter()
    for round_ in range(MAX_ROUNDS):
        remaining = need - sum(int(r["ok"].sum()) for r in rows)
        if remaining <= 0:
            break
        if round_ == 0:  # a second round costs a whole batch's wall time on a GPU
            count = remaining + int(np.ceil(remaining * pipeline.spec.oversample))
        else:
            count = int(np.ceil(remaining * attempted / max(attempted - len(failures), 1))) + 2
        seeds = child_seeds(shard_seed, count, key=round_)
        result = pipeline.candidates(seeds, layout.parameter_names)
        result["seeds"] = np.array(seeds, dtype=np.uint64)
        attempted += count
        rejected += result["rejected"]
        timing.update(result["timing"])
        failures += [{"seed": int(s), "reason": r, "theta": [float(v) for v in t]}
                     for s, r, t in zip(seeds, result["reasons"], result["theta"], strict=True) if r]
        rows.append(result)
        if not int(result["ok"].sum()):
            # Nothing succeeded: growing the next round would only multiply the failures.
            reasons = Counter(r for r in result["reasons"] if r)
            raise SimulationError(
                f"shard {shard}: all {count} candidates of round {round_ + 1} failed "
                f"({', '.join(f'{r} ×{n}' for r, n in reasons.most_common(3))}); check the "
                "simulator config and prior")
    else:
        raise SimulationError(f"shard {shard}: only {need - remaining} of {need} samples succeeded "
                              f"after {attempted} candidates; see the failure reasons with --verbose")
    write_start = time.perf_counter()
    store.write_shard(group, layout, shard, _assemble(rows, layout, need))
    timing["write"] += time.perf_counter() - write_start
    surplus = attempted - len(failures) - need  # accepted in the last round beyond the need
    record = {"shard": shard, "accepted": need, "attempted": attempted, "surplus": surplus,
              "prior_rejected": rejected,
              "failures": dict(Counter(f["reason"] for f in failures)), "failed": failures[:1000],
              "seconds": round(time.perf_counter() - started, 4),
              "timing": {k: round(v, 4) for k, v in timing.items()}, "device": device}
    store.mark_done(root_path, shard, record)
    return record


def _assemble(rows: list[dict], layout: store.Layout, need: int) -> dict[str, np.ndarray]:
    """The first ``need`` accepted samples, in candidate order, as store arrays."""
    theta, seeds, labels, windows, nuisance = [], [], {n: [] for n in layout.label_names}, \
        {c: [] for c in layout.channels}, {n: [] for n in layout.nuisance_names}
    for r in rows:
        ok = r["ok"]
        theta.append(r["theta"][ok])
        seeds.append(r["seeds"][ok])
        for name in layout.label_names:
            values = r["labels"].get(name)
            labels[name].append(values[ok] if values is not None else np.full(ok.sum(), np.nan))
        for channel in layout.channels:
            windows[channel].append(r["windows"][channel])
        for name in layout.nuisance_names:
            nuisance[name].append(r["nuisance"].get(name, np.full(ok.sum(), np.nan)))
    data = {"theta": np.concatenate(theta)[:need].astype(np.float32),
            "seed": np.concatenate(seeds)[:need],
            "status": np.zeros(need, dtype=np.int8)}
    data.update({f"labels/{n}": np.concatenate(v)[:need].astype(np.float32) for n, v in labels.items()})
    data.update({f"x/{c}": np.concatenate(v)[:need].astype(np.float32) for c, v in windows.items()})
    data.update({f"nuisance/{n}": np.concatenate(v)[:need].astype(np.float32) for n, v in nuisance.items()})
    return data


def _unit(channel: str) -> str:
    return {"P": "mmHg", "PPG": "1", "OPPG": "1", "Q": "mL/s", "A": "mm^2"}[channel.rsplit("/", 1)[-1]]
