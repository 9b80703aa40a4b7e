"""``cardiosbi preprocess RECORD_OR_FOLDER --out DIR``: windows tables and a cohort summary.

Rerunning into the same ``DIR`` resumes (``resume=true``): a finished record is reused only
when its source file content and the settings are unchanged, else it is redone;
``resume=keep`` refuses instead (one line naming the record and what changed), ``resume=false``
redoes every record. ``sampling_rate`` [Hz] is that of CSV/Parquet inputs (``fs`` is its
deprecated name).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import TypeVar

from omegaconf import DictConfig, open_dict

from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.signals.cohort import plan_cohort, resume_mode, run_cohort
from cardiosbi.signals.windows import WindowConfig
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.rundir import write_run_info

log = logging.getLogger(__name__)

T = TypeVar("T")


@dataclass
class PreprocessConfig:
    seed: int = 0
    input: str = ""
    out: str = "runs/preprocess"
    sampling_rate: float | None = None
    fs: float | None = None  # deprecated name of sampling_rate
    format: str = "parquet"
    workers: int = 1
    resume: str = "true"
    save_windows: bool = True
    cache_dir: str = "data/cache/vitaldb"
    allow_outside_paths: bool = False      # list files may name records outside their folder
    window: WindowConfig = field(default_factory=WindowConfig)


def cohort_config(cfg: DictConfig, schema: type[T], command: str) -> T:
    """The typed config of a command that reads recordings, checked before any work.

    The deprecated ``fs`` is folded into ``sampling_rate`` (with a warning), and ``cfg`` then
    records the rate actually used, so the run's ``config.yaml`` tells the truth.
    """
    config = to_dataclass(cfg, schema, command)
    if config.fs is not None:
        log.warning("fs= is deprecated; use sampling_rate= (the name used across cardiosbi)")
        if config.sampling_rate not in (None, config.fs):
            raise ConfigError(f"fs={config.fs} and sampling_rate={config.sampling_rate} "
                              "disagree; give only sampling_rate")
        config.sampling_rate, config.fs = config.fs, None
        with open_dict(cfg):
            cfg.sampling_rate = config.sampling_rate
    rate = config.sampling_rate
    if rate is not None and not (math.isfinite(rate) and rate > 0):
        raise ConfigError(f"sampling_rate={rate}: must be a positive number of Hz")
    if config.workers < 1:
        raise ConfigError(f"workers must be >= 1, got {config.workers}")
    resume_mode(config.resume)
    return config


def preprocess(cfg: DictConfig) -> int:
    """Run the cohort preprocessing; exit 0 when at least one record was processed."""
    config = cohort_config(cfg, PreprocessConfig, "preprocess")
    plan = plan_cohort(config.input, config.out, config.window,
                       sampling_rate=config.sampling_rate, resume=config.resume,
                       table_format=config.format, save_windows=config.save_windows,
                       cache_dir=config.cache_dir,
                       allow_outside_paths=config.allow_outside_paths)
    summary = run_cohort(plan, workers=config.workers)
    out = plan.out
    write_run_info(out, cfg, "preprocess")
    ok = summary[summary["status"] == "ok"]
    windows, accepted = int(summary["n_windows"].sum()), int(summary["n_accepted"].sum())
    rate = f"{accepted / windows:.0%}" if windows else "n/a"
    print(f"{len(ok)}/{len(summary)} records processed, {len(summary) - len(ok)} failed; "
          f"{accepted}/{windows} windows accepted ({rate}); summary: {out / 'summary.csv'}")
    if ok.empty:
        first = summary["reason"].iloc[0] if len(summary) else "no records"
        raise InputFileError(f"no record could be processed ({first}); see {out / 'summary.csv'}")
    return 0
