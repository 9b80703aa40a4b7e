"""The simulated-dataset store: a Zarr v3 group plus per-shard completion markers.

Layout of ``<out>/``::

    dataset.zarr/            Zarr v3 group (DESIGN.md section 3)
        theta (N, k)         prior draws, physical units (attrs: parameter names, units, bounds)
        seed (N,)            the seed each sample was simulated from
        status (N,)          0 = ok (failed candidates are logged in shards/, not stored here)
        labels/<name> (N,)   biomarker labels, registry units
        x/<site>/<signal> (N, T)  measured windows at ``fs``, physical units (mmHg, PPG a.u.)
        nuisance/<name> (N,) drawn measurement-model parameters
    shards/<i>.json          completion marker of shard i (counts, failures, timing)

Shard i owns rows [i * shard_size, (i + 1) * shard_size) which are exactly its Zarr chunks, so
shards never write the same file and a shard is complete iff its marker exists (written
atomically after its rows). Readers refuse incomplete stores.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import zarr

from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.utils.rundir import atomic_write_text

FORMAT_VERSION = 1
STORE_NAME = "dataset.zarr"
PARTIAL_NAME = ".dataset.zarr.partial"  # a store being created


@dataclass
class Layout:
    """What a store holds; fixed when the store is created."""

    n: int
    shard_size: int
    parameter_names: list[str]
    label_names: list[str]
    channels: list[str]
    nuisance_names: list[str]
    n_samples: int

    @property
    def n_shards(self) -> int:
        return -(-self.n // self.shard_size)

    def rows(self, shard: int) -> tuple[int, int]:
        start = shard * self.shard_size
        return start, min(start + self.shard_size, self.n)


def create_store(root: Path, layout: Layout, attrs: dict) -> zarr.Group:
    """Create the Zarr group with every array allocated (filled with NaN / 0).

    The group is built beside its final place and renamed into it, with its config written
    first: a run killed meanwhile leaves no store, never one without its config. Shard markers
    left by an earlier store in ``root`` are removed (they describe rows that no longer exist).
    """
    root = Path(root)
    partial = root / PARTIAL_NAME
    shutil.rmtree(partial, ignore_errors=True)
    root.mkdir(parents=True, exist_ok=True)
    group = zarr.open_group(partial, mode="w", zarr_format=3)
    group.attrs.update({**attrs, "format_version": FORMAT_VERSION, "layout": vars(layout)})
    rows = layout.shard_size
    group.create_array("theta", shape=(layout.n, len(layout.parameter_names)),
                       chunks=(rows, len(layout.parameter_names)), dtype="float32", fill_value=np.nan)
    group.create_array("seed", shape=(layout.n,), chunks=(rows,), dtype="uint64", fill_value=0)
    group.create_array("status", shape=(layout.n,), chunks=(rows,), dtype="int8", fill_value=-1)
    for name in layout.label_names:
        group.create_array(f"labels/{name}", shape=(layout.n,), chunks=(rows,), dtype="float32",
                           fill_value=np.nan)
    for name in layout.nuisance_names:
        group.create_array(f"nuisance/{name}", shape=(layout.n,), chunks=(rows,), dtype="float32",
                           fill_value=np.nan)
    for channel in layout.channels:
        group.create_array(f"x/{channel}", shape=(layout.n, layout.n_samples),
                           chunks=(rows, layout.n_samples), dtype="float32", fill_value=np.nan)
    for marker in (root / "shards").glob("*.json"):
        marker.unlink()
    (root / "shards").mkdir(exist_ok=True)
    shutil.rmtree(root / STORE_NAME, ignore_errors=True)
    os.replace(partial, root / STORE_NAME)
    return zarr.open_group(root / STORE_NAME, mode="r+", zarr_format=3)


def is_finished(root: Path) -> bool:
    """Whether ``root`` holds a store whose creation completed (its layout is in; the
    simulation pipeline writes its config in the same step).

    Stores made before creation became atomic could be left without them by a killed run.
    """
    path = Path(root) / STORE_NAME
    if not (path / "zarr.json").exists():
        return False
    return "layout" in zarr.open_group(path, mode="r", zarr_format=3).attrs


def open_store(root: Path, mode: str = "r") -> zarr.Group:
    path = Path(root) / STORE_NAME
    if not (path / "zarr.json").exists():
        raise InputFileError(f"simulated dataset not found: {path}")
    if not is_finished(root):
        raise InputFileError(f"simulated dataset {path} was never completely created (the run "
                             "was interrupted); rerun the `cardiosbi simulate` command that made "
                             "it (it starts the store again)")
    return zarr.open_group(path, mode=mode, zarr_format=3)


def layout_of(group: zarr.Group) -> Layout:
    return Layout(**group.attrs["layout"])


def write_shard(group: zarr.Group, layout: Layout, shard: int, data: dict[str, np.ndarray]) -> None:
    """Write one shard's rows; ``data`` maps array paths (``theta``, ``x/radial/P``...) to rows."""
    start, stop = layout.rows(shard)
    for path, values in data.items():
        if values.shape[0] != stop - start:
            raise ValueError(f"shard {shard}: {path} has {values.shape[0]} rows, expected {stop - start}")
        group[path][start:stop] = values


def marker_path(root: Path, shard: int) -> Path:
    return Path(root) / "shards" / f"{shard:06d}.json"


def mark_done(root: Path, shard: int, record: dict) -> None:
    """Atomically write the completion marker of ``shard`` (after its rows are written)."""
    atomic_write_text(marker_path(root, shard), json.dumps(record, indent=1))


def completed_shards(root: Path) -> dict[int, dict]:
    """Markers present: shard index -> its record."""
    done = {}
    for path in sorted((Path(root) / "shards").glob("*.json")):
        done[int(path.stem)] = json.loads(path.read_text())
    return done


def check_complete(root: Path) -> Layout:
    """Raise a clear error unless every shard of the store has its completion marker."""
    layout = layout_of(open_store(root))
    missing = set(range(layout.n_shards)) - set(completed_shards(root))
    if missing:
        raise InputFileError(
            f"simulated dataset {root} is incomplete ({len(missing)} of {layout.n_shards} shards "
            f"missing); finish it by rerunning the `cardiosbi simulate` command that made it, "
            f"with the same settings (recorded in {Path(root) / 'config.yaml'}; it resumes)")
    return layout


def check_same_config(root: Path, config: dict) -> None:
    """A resumed run must use the config the store in ``root`` was created with."""
    stored = open_store(root).attrs.get("dataset_config")
    if stored != config:
        keys = sorted(k for k in set(stored or {}) | set(config) if (stored or {}).get(k) != config.get(k))
        raise ConfigError(f"the store in {root} was made with a different config (differs in: "
                          f"{', '.join(keys)}); use another out= or delete the folder {root}")
