"""Streaming readers over a simulated store: split by seed, chunk-shuffled, stats stored once.

Memory does not grow with N: an epoch walks the store one Zarr chunk (one shard's rows) at a
time in a shuffled order and shuffles rows within the chunk, so only a chunk of windows is
ever in memory per worker. The train/val/test assignment of a sample is a hash of its seed,
so it never changes when a store is extended, re-sharded or read in another order.

Batches follow the NPE data contract: ``theta`` (B, k) float32 in physical units and ``x``
(B, C, T) float32, normalised per window and channel with
:func:`cardiosbi.signals.normalize_window` (the function real recordings go through).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import lightning
import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from cardiosbi import registry
from cardiosbi.datasets import store
from cardiosbi.errors import ConfigError
from cardiosbi.signals import normalize_window
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.paths import existing_path

SPLITS = ("train", "val", "test")
NORMALIZATIONS = ("window", "window+level", "window+logspread", "none")
# Normalisations that append each channel's standardised level (window mean) and spread
# (window SD, or its log where spreads span decades, as an optical pulse over skin tones does).
LEVEL_NORMALIZATIONS = {"window+level": "spread", "window+logspread": "logspread"}


def level_stat_keys(normalize: str) -> tuple[str, ...]:
    """The training-split statistics a level normalisation needs at inference."""
    spread = LEVEL_NORMALIZATIONS[normalize]
    return ("level_mean", "level_std", f"{spread}_mean", f"{spread}_std")


def split_of_seeds(seeds: np.ndarray, fractions: Sequence[float]) -> np.ndarray:
    """0 (train), 1 (val) or 2 (test) per seed, from a SplitMix64 hash of the seed."""
    if len(fractions) != 3 or min(fractions) < 0 or not np.isclose(sum(fractions), 1.0):
        raise ConfigError(f"split fractions must be three non-negative numbers summing to 1, got {list(fractions)}")
    z = np.asarray(seeds, dtype=np.uint64).copy()
    with np.errstate(over="ignore"):
        z += np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(11)).astype(np.float64) / 2.0**53
    edges = np.cumsum(fractions)[:2]
    return np.searchsorted(edges, u, side="right")


@dataclass(frozen=True)
class Target:
    """One inferred quantity: where it is stored (``theta`` column or a label array) and its support."""

    name: str
    array: str
    column: int | None
    low: float
    high: float
    unit: str


class SimulatedStore:
    """A complete store opened for reading, with its metadata and split masks."""

    def __init__(self, root: str | Path, fractions: Sequence[float] = (0.8, 0.1, 0.1),
                 channels: Sequence[str] | None = None, parameters: Sequence[str] | None = None):
        self.root = Path(root)
        self.layout = store.check_complete(self.root)
        self.group = store.open_store(self.root)
        attrs = self.group.attrs
        self.channels = list(channels or attrs["channels"])
        self.parameter_names = list(parameters or attrs["parameter_names"])
        unknown = [c for c in self.channels if c not in attrs["channels"]]
        if unknown:
            raise ConfigError(f"data.channels: {unknown} not in the store ({', '.join(attrs['channels'])})")
        # Windows of a store simulated with measurement gaps carry NaN where samples were lost.
        gaps = attrs.get("dataset_config", {}).get("measurement", {}).get("gaps", {})
        self.has_gaps = bool(gaps.get("enabled", False))
        simulator = attrs.get("dataset_config", {}).get("simulator", {})
        self.optical_signal = simulator.get("optical_signal", "waveform")  # older stores: waveform
        self.targets = [self._target(name) for name in self.parameter_names]
        self.low = np.array([t.low for t in self.targets])
        self.high = np.array([t.high for t in self.targets])
        self.units = [t.unit for t in self.targets]
        self.fractions = tuple(float(f) for f in fractions)
        self.split = split_of_seeds(self.group["seed"][:], self.fractions)
        # Rows a flow cannot train on: targets on or outside the open support (a float32 draw
        # can round onto a bound, where the logit bijection is infinite) or non-finite.
        theta = self.read_targets(0, self.layout.n)
        finite = np.all(np.isfinite(theta), axis=1)  # a label can be NaN (e.g. no PWV foot)
        inside = finite & np.all((theta > self.low) & (theta < self.high), axis=1)
        self.usable = inside & (self.group["status"][:] == 0)
        self.split = np.where(self.usable, self.split, -1)
        self.rows_dropped = {"theta_not_finite": int((~finite).sum()),
                             "theta_out_of_bounds": int((finite & ~inside).sum()),
                             "failed_simulation": int((inside & ~self.usable).sum())}

    def _target(self, name: str) -> Target:
        """A prior dimension (bounds: the prior's) or a label (bounds: the registry's)."""
        attrs = self.group.attrs
        if name in attrs["parameter_names"]:
            i = attrs["parameter_names"].index(name)
            return Target(name, "theta", i, attrs["low"][i], attrs["high"][i], attrs["parameter_units"][i])
        if name in self.layout.label_names:
            quantity = registry.quantity_of(name)
            return Target(name, f"labels/{name}", None, quantity.low, quantity.high, quantity.unit)
        raise ConfigError(f"data.parameters: {name!r} is neither a parameter "
                          f"({', '.join(attrs['parameter_names'])}) nor a label "
                          f"({', '.join(self.layout.label_names)}) of the store")

    def read_targets(self, start: int, stop: int) -> np.ndarray:
        """The (n, k) targets of rows [start, stop): prior draws and/or simulated labels."""
        theta = self.group["theta"][start:stop]
        columns = [theta[:, t.column] if t.array == "theta" else self.group[t.array][start:stop]
                   for t in self.targets]
        return np.stack(columns, axis=1)

    @property
    def fs(self) -> float:
        return float(self.group.attrs["fs"])

    def rows(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == SPLITS.index(split))

    def chunks(self) -> list[tuple[int, int]]:
        return [self.layout.rows(i) for i in range(self.layout.n_shards)]

    def read(self, start: int, stop: int) -> tuple[np.ndarray, np.ndarray]:
        """Raw targets (n, k) and windows (n, C, T) of rows [start, stop)."""
        theta = self.read_targets(start, stop)
        x = np.stack([self.group[f"x/{c}"][start:stop] for c in self.channels], axis=1)
        return theta, x

    def stats(self) -> dict:
        """Normalisation statistics of the training split, computed once and kept in the store."""
        key = f"stats_{'_'.join(f'{f:g}' for f in self.fractions)}"
        cached = self.group.attrs.get(key)
        if cached and cached.get("channels") == self.channels and cached.get("parameters") == self.parameter_names \
                and "logspread_mean" in cached:
            return cached
        stats = self._compute_stats()
        try:
            writable = store.open_store(self.root, mode="r+")
            writable.attrs[key] = stats
        except (OSError, PermissionError, ValueError):
            pass  # read-only store: keep the stats in memory only
        return stats

    def _compute_stats(self) -> dict:
        names = ("theta", "x", "level", "spread", "logspread")
        sums = {**{name: 0.0 for name in names}, **{name + "2": 0.0 for name in names}, "n": 0}
        for start, stop in self.chunks():
            mask = self.split[start:stop] == 0
            if not mask.any():
                continue
            theta, x = (a[mask].astype(np.float64) for a in self.read(start, stop))
            mean, std = x.mean(axis=2), x.std(axis=2)
            for name, values, axes in (("theta", theta, 0), ("x", x, (0, 2)), ("level", mean, 0),
                                       ("spread", std, 0), ("logspread", _log_spread(std), 0)):
                sums[name] = sums[name] + values.sum(axis=axes) / (x.shape[2] if name == "x" else 1)
                sums[name + "2"] = sums[name + "2"] + (values**2).sum(axis=axes) / (x.shape[2] if name == "x" else 1)
            sums["n"] += int(mask.sum())
        n = max(sums["n"], 1)
        out = {"n_train": sums["n"], "channels": self.channels, "parameters": self.parameter_names}
        for name in names:
            mean = np.asarray(sums[name]) / n
            var = np.maximum(np.asarray(sums[name + "2"]) / n - mean**2, 0.0)
            out[f"{name}_mean"] = np.atleast_1d(mean).tolist()
            out[f"{name}_std"] = np.atleast_1d(np.sqrt(var)).tolist()
        return out


def prepare_windows(x: np.ndarray, normalize: str, stats: dict) -> np.ndarray:
    """(n, C, T) raw windows -> model input; the same function serves every split."""
    if normalize == "window":
        return normalize_window(x)
    if normalize in LEVEL_NORMALIZATIONS:
        z, mean, std = normalize_window(x, return_stats=True)
        name = LEVEL_NORMALIZATIONS[normalize]
        std = _log_spread(std) if name == "logspread" else std
        level = (mean - np.array(stats["level_mean"])) / np.maximum(stats["level_std"], 1e-8)
        spread = (std - np.array(stats[f"{name}_mean"])) / np.maximum(stats[f"{name}_std"], 1e-8)
        extra = np.concatenate([level, spread], axis=1)[:, :, None] * np.ones((1, 1, x.shape[2]))
        return np.concatenate([z, extra.astype(np.float32)], axis=1)
    if normalize == "none":
        return x.astype(np.float32)
    raise ConfigError(f"data.normalize={normalize!r}; use one of {', '.join(NORMALIZATIONS)}")


def _log_spread(std: np.ndarray) -> np.ndarray:
    """Natural log of a window SD, floored so that a flat window stays finite."""
    return np.log(np.maximum(std, 1e-12))


class StoreWindows(IterableDataset):
    """Samples of one split, streamed chunk by chunk in a seeded, per-epoch shuffled order."""

    def __init__(self, data: SimulatedStore, split: str, normalize: str = "window",
                 shuffle: bool = True, seed: int = 0):
        if split not in SPLITS:
            raise ConfigError(f"split must be one of {SPLITS}")
        self.data, self.split, self.normalize = data, split, normalize
        self.shuffle, self.seed, self.epoch = shuffle, seed, 0
        self.stats = data.stats() if normalize in LEVEL_NORMALIZATIONS else {}
        self.code = SPLITS.index(split)

    def __len__(self) -> int:
        return int((self.data.split == self.code).sum())

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        rng = np.random.default_rng([self.seed, self.epoch])
        self.epoch += 1
        chunks = self.data.chunks()
        order = rng.permutation(len(chunks)) if self.shuffle else np.arange(len(chunks))
        worker = get_worker_info()
        if worker is not None:
            order = order[worker.id::worker.num_workers]
        for index in order:
            start, stop = chunks[index]
            mask = self.data.split[start:stop] == self.code
            if not mask.any():
                continue
            theta, x = self.data.read(start, stop)
            theta, x = theta[mask], prepare_windows(x[mask], self.normalize, self.stats)
            rows = rng.permutation(len(theta)) if self.shuffle else np.arange(len(theta))
            for r in rows:
                yield torch.from_numpy(theta[r].astype(np.float32)), torch.from_numpy(x[r])


class SimulatedDataModule(lightning.LightningDataModule):
    """Lightning data module over a simulated store, following the NPE data contract."""

    def __init__(self, path: str | Path, batch_size: int = 256,
                 fractions: Sequence[float] = (0.8, 0.1, 0.1), channels: Sequence[str] | None = None,
                 parameters: Sequence[str] | None = None, normalize: str = "window",
                 num_workers: int = 0, seed: int = 0):
        super().__init__()
        self.data = SimulatedStore(path, fractions, channels, parameters)
        self.batch_size, self.num_workers, self.seed = batch_size, num_workers, seed
        self.normalize = normalize
        self.parameter_names = self.data.parameter_names
        self.units = self.data.units
        self.low = torch.as_tensor(self.data.low, dtype=torch.float64)
        self.high = torch.as_tensor(self.data.high, dtype=torch.float64)
        channels_out = len(self.data.channels) * (3 if normalize in LEVEL_NORMALIZATIONS else 1)
        self.x_shape = (channels_out, self.data.layout.n_samples)
        self._datasets = {s: StoreWindows(self.data, s, normalize, shuffle=(s == "train"), seed=seed)
                          for s in SPLITS}
        self.rows_used = len(self._datasets["train"])
        self.rows_dropped = self.data.rows_dropped
        # What a trained posterior needs to prepare real recordings the same way.
        self.input_spec = {
            "channels": list(self.data.channels), "sampling_rate": self.data.fs,
            "window_s": self.data.layout.n_samples / self.data.fs, "normalize": normalize,
        }
        if any(c.endswith("/OPPG") for c in self.data.channels):  # what infer must refuse
            self.input_spec["optical_signal"] = self.data.optical_signal
        if normalize in LEVEL_NORMALIZATIONS:  # real windows need the same standardisers
            stats = self._datasets["train"].stats
            self.input_spec["stats"] = {k: stats[k] for k in level_stat_keys(normalize)}

    def _loader(self, split: str) -> DataLoader:
        return DataLoader(self._datasets[split], batch_size=self.batch_size,
                          num_workers=self.num_workers, persistent_workers=self.num_workers > 0)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train")

    def val_dataloader(self) -> DataLoader:
        return self._loader("val")

    def test_dataloader(self) -> DataLoader:
        return self._loader("test")

    def normalization_sample(self, limit: int = 100_000) -> tuple[torch.Tensor, torch.Tensor]:
        """Up to ``limit`` training rows (whole chunks in store order) for fitting standardisers."""
        return self._collect("train", limit)

    def validation_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        return self._collect("val", None)

    def test_tensors(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out test split (for ``cardiosbi evaluate data=zarr``)."""
        return self._collect("test", None)

    def _collect(self, split: str, limit: int | None) -> tuple[torch.Tensor, torch.Tensor]:
        dataset = StoreWindows(self.data, split, self.normalize, shuffle=False)
        thetas, xs = [], []
        for i, (theta, x) in enumerate(dataset):
            if limit is not None and i >= limit:
                break
            thetas.append(theta)
            xs.append(x)
        if not thetas:
            raise ConfigError(f"the {split} split of {self.data.root} is empty; simulate more samples")
        return torch.stack(thetas), torch.stack(xs)


@dataclass
class ZarrSource:
    """Schema of ``conf/data/zarr.yaml`` (``cardiosbi train data=zarr data.path=...``)."""

    source: str = "zarr"
    path: str = ""
    batch_size: int | None = None  # None: the trainer's batch size
    fractions: list[float] = field(default_factory=lambda: [0.8, 0.1, 0.1])
    channels: list[str] | None = None
    parameters: list[str] | None = None
    normalize: str = "window"
    num_workers: int | None = None  # None: the trainer's num_workers


def data_module_from_config(node, seed: int = 0, batch_size: int = 256,
                            num_workers: int = 0) -> SimulatedDataModule:
    """The streaming data module described by a ``data: zarr`` config node; ``batch_size`` and
    ``num_workers`` (the trainer's) apply where the node leaves them null."""
    spec = to_dataclass(node, ZarrSource, "data")
    path = existing_path(spec.path, "simulated dataset folder")
    return SimulatedDataModule(
        path, spec.batch_size or batch_size, spec.fractions, spec.channels, spec.parameters,
        spec.normalize, num_workers if spec.num_workers is None else spec.num_workers, seed)
