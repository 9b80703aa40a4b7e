"""``cardiosbi report RUN_DIR [out=FILE]``: the HTML report of a ``cardiosbi infer`` run."""

from __future__ import annotations

from dataclasses import dataclass

from omegaconf import DictConfig

from cardiosbi.errors import ConfigError
from cardiosbi.report.render import ReportOptions, render_report
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.paths import existing_path


@dataclass
class ReportConfig:
    seed: int = 0
    run: str = ""
    out: str | None = None
    recordings: str | None = None
    max_records: int = 50
    waveform_s: float = 300.0
    max_table_rows: int = 200


def report(cfg: DictConfig) -> int:
    """Render the report; print where the page and its tables went."""
    config = to_dataclass(cfg, ReportConfig, "report")
    if config.recordings is not None:
        existing_path(config.recordings, "recordings folder")
    for key in ("max_records", "max_table_rows"):
        if getattr(config, key) < 1:
            raise ConfigError(f"{key} must be >= 1, got {getattr(config, key)}")
    if config.waveform_s <= 0:
        raise ConfigError(f"waveform_s must be > 0 seconds, got {config.waveform_s}")
    options = ReportOptions(recordings=config.recordings, max_records=config.max_records,
                            waveform_s=config.waveform_s, max_table_rows=config.max_table_rows)
    page = render_report(config.run, config.out, options)
    tables = page.with_name(page.stem + "_tables")
    where = (f"tables as CSV in {tables}" if tables.exists()
             else "one report per model linked from it")
    print(f"report written to {page} ({where})")
    return 0
