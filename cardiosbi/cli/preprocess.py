"""``cardiosbi preprocess RECORD_OR_FOLDER --out DIR``: windows tables and a cohort summary."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from omegaconf import DictConfig

from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.signals.cohort import preprocess_cohort
from cardiosbi.signals.windows import WindowConfig
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.rundir import write_run_info

log = logging.getLogger(__name__)


@dataclass
class PreprocessConfig:
    seed: int = 0
    input: str = ""
    out: str = "runs/preprocess"
    fs: float | None = None
    format: str = "parquet"
    workers: int = 1
    resume: bool = True
    save_windows: bool = True
    cache_dir: str = "data/cache/vitaldb"
    window: WindowConfig = field(default_factory=WindowConfig)


def preprocess(cfg: DictConfig) -> int:
    """Run the cohort preprocessing; exit 0 when at least one record was processed."""
    config = to_dataclass(cfg, PreprocessConfig, "preprocess")
    if config.workers < 1:
        raise ConfigError(f"workers must be >= 1, got {config.workers}")
    out = Path(config.out)
    summary = preprocess_cohort(
        config.input, out, config.window, fs=config.fs, workers=config.workers,
        resume=config.resume, table_format=config.format, save_windows=config.save_windows,
        cache_dir=config.cache_dir,
    )
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
