"""Where shards run: in this process, a local process pool, or a Ray cluster.

Every launcher yields shard records as shards finish (any order); shards are independent and
deterministic, so the choice changes speed, never the data.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass

from cardiosbi.datasets.generate import run_shard
from cardiosbi.errors import ConfigError, NotAvailableError


@dataclass
class LauncherConfig:
    name: str = "local"
    workers: int = 1  # local: processes (1 = in this process); ray: concurrent shards
    address: str | None = None  # ray: cluster address; None starts a local Ray instance
    num_cpus: int | None = None  # ray: CPUs of a locally started instance


def run_shards(root: str, spec_json: str, shards: list[int], device: str,
               launcher: LauncherConfig) -> Iterator[dict]:
    """Run ``shards`` and yield each one's record as it completes."""
    if launcher.workers < 1:
        raise ConfigError("launcher.workers must be >= 1")
    if launcher.name == "local":
        yield from _local(root, spec_json, shards, device, launcher.workers)
    elif launcher.name == "ray":
        yield from _ray(root, spec_json, shards, device, launcher)
    else:
        raise ConfigError(f"launcher.name={launcher.name!r}; use local or ray")


def _local(root, spec_json, shards, device, workers) -> Iterator[dict]:
    if workers == 1:
        for shard in shards:
            yield run_shard(root, spec_json, shard, device)
        return
    # spawn: workers must not inherit torch/OpenMP state from the parent
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [pool.submit(run_shard, root, spec_json, s, device) for s in shards]
        for future in as_completed(futures):
            yield future.result()


def _ray(root, spec_json, shards, device, launcher: LauncherConfig) -> Iterator[dict]:
    try:
        import ray
    except ImportError:
        raise NotAvailableError("launcher=ray needs ray: pip install 'cardiosbi[scale]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=launcher.address, num_cpus=launcher.num_cpus, ignore_reinit_error=True,
                 include_dashboard=False, log_to_driver=False)
    remote = ray.remote(run_shard)
    try:
        pending = [remote.remote(root, spec_json, s, device) for s in shards]
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            yield ray.get(done[0])
    finally:
        if started_here:
            ray.shutdown()
