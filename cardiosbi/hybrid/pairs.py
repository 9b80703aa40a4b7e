"""Real paired PPG/APW windows for the hybrid model, cut by the same code as ``infer``.

Recordings go through :func:`~cardiosbi.signals.cohort.preprocess_cohort` with both model
channels (PPG shifted onto ABP by their cross-correlation lag, ABP left in mmHg): every window
keeps its quality row and rejection reason, records that cannot be read or lack a channel fail
alone with their reason, and a re-run resumes. :func:`load_pairs` gathers the accepted windows
into a :class:`PairSet` and writes ``pairs.csv`` (one row per window of every record, and one
per failed record) beside the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from cardiosbi.errors import InputFileError
from cardiosbi.signals.cohort import preprocess_cohort
from cardiosbi.signals.normalize import normalize_window
from cardiosbi.signals.windows import QualityConfig, WindowConfig
from cardiosbi.utils.rundir import atomic_write_text

PAIR_CHANNELS = ["ppg", "abp"]
LABELS = ["hr_ecg", "hr_abp", "hr_ppg", "map_abp", "sbp_abp", "dbp_abp"]


@dataclass
class PairsConfig:
    """How pairs are cut (hydra key ``pairs``); rate and length follow the APW posterior."""

    hop_s: float = 2.0           # overlapping training windows; evaluation uses hop = window
    workers: int = 1
    min_pairs: int = 200         # fewer usable pairs is an error, not a degenerate model
    min_records: int = 5
    quality: QualityConfig = field(default_factory=QualityConfig)


@dataclass
class PairSet:
    """Accepted pairs: ``ppg`` (N, T) z-scored per window, ``apw`` (N, T) in mmHg, and per
    pair its record, start time and reference labels (``table``)."""

    ppg: np.ndarray
    apw: np.ndarray
    table: pd.DataFrame

    def __len__(self) -> int:
        return len(self.ppg)

    @classmethod
    def empty(cls) -> PairSet:
        return cls(np.empty((0, 0), np.float32), np.empty((0, 0), np.float32),
                   pd.DataFrame(columns=["record", "start_s"]))

    @property
    def records(self) -> np.ndarray:
        return self.table["record"].to_numpy()

    def subset(self, rows: np.ndarray) -> PairSet:
        """The pairs selected by a boolean mask or an index array."""
        rows = np.asarray(rows)
        index = np.flatnonzero(rows) if rows.dtype == bool else rows
        return PairSet(self.ppg[index], self.apw[index],
                       self.table.iloc[index].reset_index(drop=True))


def pair_window_config(sampling_rate: float, window_s: float, config: PairsConfig,
                       hop_s: float | None = None) -> WindowConfig:
    """Both channels, raw units, PPG aligned onto ABP, the given quality thresholds."""
    return WindowConfig(channels=list(PAIR_CHANNELS), sampling_rate=sampling_rate,
                        window_s=window_s, hop_s=hop_s if hop_s is not None else config.hop_s,
                        align=True, normalize=False, quality=config.quality)


def cut_pairs(source: str | Path, out: str | Path, window: WindowConfig,
              workers: int = 1, fs: float | None = None) -> pd.DataFrame:
    """Preprocess ``source`` (folder, glob, list) into ``out``; returns the cohort summary."""
    return preprocess_cohort(source, out, window, sampling_rate=fs, workers=workers, resume=True,
                             table_format="parquet", save_windows=True)


def load_pairs(prepared: str | Path, summary: pd.DataFrame) -> tuple[PairSet, pd.DataFrame]:
    """Accepted pairs of every processed record, and the full pairs table (all windows with
    their reasons, failed records as one row each)."""
    prepared = Path(prepared)
    ppg, apw, tables, everything = [], [], [], []
    for row in summary.itertuples():
        if row.status != "ok":
            everything.append(pd.DataFrame({"record": [row.record], "accepted": [False],
                                            "reason": ["record_failed"],
                                            "error": [str(row.reason)]}))
            continue
        # the cohort's unique record id (the file's own name may repeat across folders)
        quality = pd.read_parquet(prepared / "records" / f"{row.record}.parquet").assign(
            record=row.record)
        everything.append(quality)
        accepted = quality[quality["accepted"]].sort_values("window")
        if accepted.empty:
            continue
        with np.load(prepared / "windows" / f"{row.record}.npz", allow_pickle=False) as data:
            windows = data["windows"]
        channels = list(PAIR_CHANNELS)
        ppg.append(windows[:, channels.index("ppg")])
        apw.append(windows[:, channels.index("abp")])
        keep = ["record", "start_s", *[c for c in LABELS if c in accepted],
                *[c for c in ("ppg_abp_lag_s", "ppg_abp_corr") if c in accepted]]
        tables.append(accepted[keep])
    table = pd.concat(everything, ignore_index=True) if everything else pd.DataFrame()
    if not ppg:
        return PairSet.empty(), table
    pairs = PairSet(normalize_window(np.concatenate(ppg)).astype(np.float32),
                    np.concatenate(apw).astype(np.float32),
                    pd.concat(tables, ignore_index=True))
    return pairs, table


def check_enough(pairs: PairSet, table: pd.DataFrame, config: PairsConfig) -> None:
    """A clear error when the recordings give too few usable pairs to train on."""
    records = len(set(pairs.records)) if len(pairs) else 0
    if len(pairs) >= config.min_pairs and records >= config.min_records:
        return
    top = list(rejection_counts(table).items())[:4]
    why = ", ".join(f"{k} ({v})" for k, v in top) or "no windows"
    if "error" in table and table["error"].notna().any():  # whole records that failed, and why
        first = table["error"].dropna().astype(str).value_counts()
        why += f"; record failures: {first.index[0]} ({first.iloc[0]} records)"
    raise InputFileError(
        f"only {len(pairs)} usable PPG/ABP pairs from {records} records (need at least "
        f"{config.min_pairs} pairs from {config.min_records} records); most common rejections: "
        f"{why}")


def write_pairs_table(table: pd.DataFrame, path: str | Path) -> Path:
    """The pairs table (every window, accepted or not, with its reason) as CSV, atomically."""
    path = Path(path)
    columns = ["record", "window", "start_s", "accepted", "reason"]
    ordered = [c for c in columns if c in table] + [c for c in table if c not in columns]
    atomic_write_text(path, table[ordered].to_csv(index=False))
    return path


def rejection_counts(table: pd.DataFrame) -> dict[str, int]:
    """Rejected windows per reason code (a window may have several)."""
    rejected = table.loc[~table["accepted"].astype(bool), "reason"].astype(str)
    counts = rejected.str.split(";").explode().str.strip()
    return {k: int(v) for k, v in counts[counts != ""].value_counts().items()}
