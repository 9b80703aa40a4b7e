"""`cardiosbi quickstart`: run the parts of the pipeline that exist on the shipped sample record.

It says plainly what it did and what it could not do yet; it never prints made-up estimates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from cardiosbi.utils.paths import existing_path, sample_record


def run(cfg: DictConfig) -> int:
    import wfdb

    console = Console()
    record_path = Path(cfg.record) if cfg.record else sample_record()
    existing_path(record_path.with_suffix(".hea"), "WFDB header of the record")
    record = wfdb.rdrecord(str(record_path))
    console.print(f"[bold]cardiosbi quickstart[/bold] on {record_path.name} "
                  f"({record.sig_len / record.fs:.0f} s at {record.fs:g} Hz)")
    table = Table("channel", "unit", "median", "5th pct", "95th pct", "NaN %")
    for index, name in enumerate(record.sig_name):
        values = record.p_signal[:, index]
        finite = values[np.isfinite(values)]
        p5, p50, p95 = np.percentile(finite, [5, 50, 95]) if finite.size else (np.nan,) * 3
        table.add_row(name, record.units[index], f"{p50:.2f}", f"{p5:.2f}", f"{p95:.2f}",
                      f"{100 * (1 - finite.size / values.size):.1f}")
    console.print(table)
    console.print(
        "Done: loaded the record with wfdb and summarised each channel. Not done yet: "
        "preprocessing, the default posterior and the report are still being built "
        "(issues #6, #5 and #8), so no biomarker estimates are shown."
    )
    return 0
