"""`cardiosbi quickstart`: run the parts of the pipeline that exist on the shipped sample record.

Today that is the clinical half: load the real ICU record, cut it into model windows with a
quality table, and compare the reference measurements the signals carry (HR from PPG, ECG and
ABP; MAP/SBP/DBP from ABP). It says plainly what it did and what is not built yet; it never
prints made-up estimates.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.table import Table

from cardiosbi.io import load_recording
from cardiosbi.signals import make_windows
from cardiosbi.utils.paths import existing_path, sample_record
from cardiosbi.utils.rundir import atomic_write_text, write_run_info

REFERENCES = [
    ("HR from PPG", "hr_ppg", "bpm"), ("HR from ECG", "hr_ecg", "bpm"),
    ("HR from ABP", "hr_abp", "bpm"), ("MAP from ABP", "map_abp", "mmHg"),
    ("SBP from ABP", "sbp_abp", "mmHg"), ("DBP from ABP", "dbp_abp", "mmHg"),
]


def run(cfg: DictConfig) -> int:
    console = Console()
    record_path = Path(cfg.record) if cfg.record else sample_record()
    existing_path(record_path.with_suffix(".hea"), "WFDB header of the record")
    recording = load_recording(record_path.with_suffix(".hea"))
    windows, quality = make_windows(recording, channels=("ppg", "abp"))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "quality.csv", quality.to_csv(index=False))
    write_run_info(out, cfg, "quickstart")

    accepted = quality[quality["accepted"]]
    console.print(f"[bold]cardiosbi quickstart[/bold] on {recording.name}: "
                  f"{recording.duration_s:.0f} s, channels {', '.join(sorted(recording.channels))}")
    console.print(f"{len(accepted)}/{len(quality)} windows of {windows.shape[-1]} samples "
                  f"accepted; rejections: {_reasons(quality)}")
    console.print(_reference_table(accepted))
    agreement = (accepted["hr_ppg"] - accepted["hr_ecg"]).abs().dropna()
    if len(agreement):
        console.print(f"PPG vs ECG heart rate over {len(agreement)} windows: mean |difference| "
                      f"{agreement.mean():.2f} bpm (max {agreement.max():.2f})")
    console.print(
        f"Done: loaded the record, cut PPG+ABP into model windows, scored their quality "
        f"({out / 'quality.csv'}). Not done yet: no pretrained posterior ships with the package "
        "(issue #8), so no posterior biomarker estimates are shown."
    )
    return 0


def _reasons(quality: pd.DataFrame) -> str:
    reasons = quality.loc[~quality["accepted"], "reason"].str.split(";").explode()
    counts = reasons.value_counts()
    return ", ".join(f"{r} ×{n}" for r, n in counts.items()) or "none"


def _reference_table(accepted: pd.DataFrame) -> Table:
    table = Table("measurement (per accepted window)", "median", "5th pct", "95th pct", "unit")
    for label, column, unit in REFERENCES:
        values = accepted[column].dropna() if column in accepted else pd.Series(dtype=float)
        if values.empty:
            table.add_row(label, "–", "–", "–", unit)
            continue
        p5, p50, p95 = np.percentile(values, [5, 50, 95])
        table.add_row(label, f"{p50:.1f}", f"{p5:.1f}", f"{p95:.1f}", unit)
    return table
