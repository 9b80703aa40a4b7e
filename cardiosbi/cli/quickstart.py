"""``cardiosbi quickstart [--from-scratch]``: the whole pipeline on the shipped sample record.

Default: the shipped default posteriors (``apw``: arterial pressure, ``hybrid``: PPG) infer biomarkers for
every 8-s window of ``data/samples/v136s`` (CinC 2015: PPG, ABP and ECG); the run prints, per
model and biomarker, the median and 90 % interval over the record, how the estimates agree with
the reference channels (HR from ECG, MAP from the arterial line) and writes the HTML report.
``--from-scratch`` first simulates a small dataset and trains a small posterior on this
machine, then infers with it. Each step prints the command that does it on its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cardiosbi.errors import CardiosbiError
from cardiosbi.report.run import load_run, model_runs
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.paths import existing_path, sample_record
from cardiosbi.utils.rundir import atomic_write_text, write_run_info

# (estimated biomarker, reference column of the quality table, what the reference is)
REFERENCES = [("hr", "hr_ecg", "HR vs ECG"), ("map_radial", "map_abp", "MAP vs ABP"),
              ("map", "map_abp", "MAP vs ABP"), ("sbp_radial", "sbp_abp", "SBP vs ABP"),
              ("dbp_radial", "dbp_abp", "DBP vs ABP")]


@dataclass
class ScratchConfig:
    simulator: str = "windkessel"
    n: int = 8000
    max_epochs: int = 80
    parameters: list[str] = field(default_factory=lambda: ["hr", "sv", "lvet", "svr", "map"])


@dataclass
class QuickstartConfig:
    seed: int = 0
    out: str = "runs/quickstart"
    record: str | None = None
    n_samples: int = 1000
    from_scratch: bool = False
    scratch: ScratchConfig = field(default_factory=ScratchConfig)


def run(cfg: DictConfig) -> int:
    config = to_dataclass(cfg, QuickstartConfig, "quickstart")
    record = Path(config.record) if config.record else sample_record()
    existing_path(record.with_suffix(".hea"), "WFDB header of the record")
    out = Path(config.out)
    console = Console()
    started = time.perf_counter()
    posterior = train_from_scratch(config, out, console) if config.from_scratch else "default"
    infer_dir = out / "infer"
    step(console, "infer biomarker posteriors for every window of the record",
         ["infer", str(record), f"posterior={posterior}", "--out", str(infer_dir),
          f"n_samples={config.n_samples}", f"seed={config.seed}", "resume=false"])
    step(console, "write the HTML report", ["report", str(infer_dir)])
    runs = model_runs(infer_dir) or {"scratch": infer_dir}
    summary = record_summary(infer_dir, next(iter(runs)))
    agreement = reference_agreement(runs)
    atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    atomic_write_text(out / "agreement.csv", agreement.to_csv(index=False))
    write_run_info(out, cfg, "quickstart")
    console.print(summary_table(summary, record.name))
    console.print(agreement_table(agreement))
    console.print(f"Report: {infer_dir / 'report.html'}; tables: {out / 'summary.csv'}, "
                  f"{out / 'agreement.csv'} ({time.perf_counter() - started:.0f} s in all).")
    return 0


def step(console: Console, what: str, argv: list[str]) -> None:
    """Run one CLI command in-process, saying what it does and how to run it alone."""
    from cardiosbi.cli.main import run as cli_run

    console.print(f"[bold]→ {escape(what)}[/bold]\n  $ cardiosbi {escape(' '.join(argv))}")
    code = cli_run(argv)
    if code != 0:
        raise CardiosbiError(f"step failed (exit {code}): cardiosbi {' '.join(argv)}")


def train_from_scratch(config: QuickstartConfig, out: Path, console: Console) -> str:
    """Simulate a small dataset and train a small APW posterior; returns its file."""
    scratch = config.scratch
    dataset, model = out / "scratch" / "dataset", out / "scratch" / "posterior"
    step(console, f"simulate {scratch.n} labelled pressure/PPG windows ({scratch.simulator} "
         "simulator, default measurement model)",
         ["simulate", f"simulator={scratch.simulator}", f"n={scratch.n}", "--out", str(dataset),
          f"seed={config.seed}", "plots=false"])
    parameters = ",".join(scratch.parameters)
    step(console, "train a small posterior on the pressure channel (resnet1d + NSF)",
         ["train", "data=zarr", f"data.path={dataset}", "data.channels=[aortic_root/P]",
          "data.normalize=window+level", f"data.parameters=[{parameters}]",
          f"trainer.max_epochs={scratch.max_epochs}", "model.embedding.channels=[16,32,32]",
          "model.embedding.features=32", f"seed={config.seed}", "--out", str(model)])
    return str(model / "posterior.pt")


def record_summary(infer_dir: Path, single_model: str) -> pd.DataFrame:
    """Per model and biomarker: median of window medians and 90 % bounds, windows used."""
    table = pd.read_csv(infer_dir / "summary.csv").dropna(subset=["parameter"])
    if "model" not in table:  # one posterior file: infer wrote no model column
        table = table.assign(model=single_model)
    return table[["model", "record", "parameter", "unit", "median", "ci90_low", "ci90_high", "windows"]]


def reference_agreement(runs: dict[str, Path]) -> pd.DataFrame:
    """Estimates against the record's own reference channels, window by window."""
    rows = []
    for name, path in runs.items():
        run = load_run(path)
        for rid in run.records.loc[run.records["status"] == "ok", "record"]:
            estimates, quality = run.estimates(rid), run.quality(rid)
            if name == next(iter(runs)):  # beat-detected PPG HR: the same in every run
                rows.append(_pair(quality, "hr_ppg", "hr_ecg", "PPG beats", "HR vs ECG"))
            if "reject" not in estimates:  # no window of the record was estimated
                continue
            for parameter, column, label in REFERENCES:
                usable = estimates[(estimates["parameter"] == parameter) & ~estimates["reject"]]
                if len(usable) and column in quality:
                    joined = usable.merge(quality[["start_s", column]], on="start_s")
                    rows.append(_pair(joined, "median", column, f"{name} posterior", label,
                                      interval=joined[["ci90_low", "ci90_high"]]))
    return pd.DataFrame([r for r in rows if r is not None])


def _pair(table: pd.DataFrame, estimate: str, reference: str, source: str, label: str,
          interval: pd.DataFrame | None = None) -> dict | None:
    both = table[[estimate, reference]].dropna()
    if both.empty:
        return None
    row = {"comparison": label, "estimate": source, "windows": len(both),
           "mean_abs_difference": float((both[estimate] - both[reference]).abs().mean()),
           "bias": float((both[estimate] - both[reference]).mean())}
    if interval is not None:
        inside = (interval.loc[both.index, "ci90_low"] <= both[reference]) & \
                 (both[reference] <= interval.loc[both.index, "ci90_high"])
        row["reference_inside_90"] = float(inside.mean())
    return row


def summary_table(summary: pd.DataFrame, record: str) -> Table:
    table = Table("model", "biomarker", "median", "90 % interval", "unit", "windows",
                  title=f"Biomarkers over record {record} (medians over accepted windows)")
    for row in summary.itertuples(index=False):
        table.add_row(row.model, row.parameter, f"{row.median:.4g}",
                      f"{row.ci90_low:.4g} – {row.ci90_high:.4g}", row.unit, str(row.windows))
    return table


def agreement_table(agreement: pd.DataFrame) -> Table:
    table = Table("comparison", "estimate", "windows", "mean |diff|", "bias", "ref in 90 %",
                  title="Agreement with the record's reference channels")
    for row in agreement.to_dict("records"):
        inside = row.get("reference_inside_90")
        table.add_row(row["comparison"], row["estimate"], str(row["windows"]),
                      f"{row['mean_abs_difference']:.2f}", f"{row['bias']:+.2f}",
                      "–" if pd.isna(inside) else f"{100 * inside:.0f} %")
    return table
