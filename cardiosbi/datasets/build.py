"""Build (or resume) a simulated dataset: create the store, run missing shards, summarise."""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from cardiosbi.datasets import store
from cardiosbi.datasets.generate import DatasetSpec, Pipeline
from cardiosbi.datasets.launcher import LauncherConfig, run_shards
from cardiosbi.datasets.summary import summarize
from cardiosbi.errors import ConfigError
from cardiosbi.utils.device import resolve_device
from cardiosbi.utils.progress import progress_bar
from cardiosbi.utils.rundir import git_revision

log = logging.getLogger(__name__)


def build_dataset(root: str | Path, spec: DatasetSpec, launcher: LauncherConfig | None = None,
                  device: str = "auto", show_progress: bool | None = None,
                  plots: bool = True, on_ready: Callable[[], None] | None = None) -> dict:
    """Create or resume the store in ``root`` and return the summary dict.

    A store that already exists must have been created from the same ``spec``; its completed
    shards are kept and only the missing ones run. A store whose creation was interrupted is
    created again. ``on_ready`` runs once the store is in place, before any shard (the CLI
    records the run's config there). ``plots`` adds label histograms and example windows to
    the summary.
    """
    if spec.n < 1 or spec.shard_size < 1:
        raise ConfigError("n and shard_size must be >= 1")
    root = Path(root)
    device = resolve_device(device)
    launcher = launcher or LauncherConfig()
    pipeline = Pipeline(spec, device)
    if store.is_finished(root):
        store.check_same_config(root, spec.to_dict())
    else:
        if (root / store.STORE_NAME).exists():
            log.warning("the store in %s was never completely created (interrupted run); "
                        "creating it again", root)
        store.create_store(root, pipeline.layout(), {**pipeline.attrs(), "git_revision": git_revision()})
    if on_ready is not None:
        on_ready()
    if pipeline.unused:
        log.info("prior parameter(s) %s are not inputs of simulator %s: they only enter the "
                 "constraints and are not stored in theta", ", ".join(pipeline.unused),
                 pipeline.simulator.name)
    layout = pipeline.layout()
    done = store.completed_shards(root)
    todo = [i for i in range(layout.n_shards) if i not in done]
    if done:
        log.info("resuming %s: %d of %d shards already complete", root, len(done), layout.n_shards)
    failures = Counter()
    for record in done.values():
        failures.update(record["failures"])
    bar = progress_bar(total=spec.n, desc="simulate", unit="sample",
                       disable=None if show_progress is None else not show_progress)
    bar.update(sum(r["accepted"] for r in done.values()))
    spec_json = json.dumps(spec.to_dict())  # key order matters: it orders theta
    with bar:
        for record in run_shards(str(root), spec_json, todo, device, launcher):
            failures.update(record["failures"])
            bar.update(record["accepted"])
            bar.set_postfix(failed=sum(failures.values()), **dict(failures.most_common(3)))
    return summarize(root, plots=plots)
