"""``cardiosbi quickstart [--from-scratch]``: the whole pipeline on the shipped sample record.

Default: the shipped default posteriors (``apw``: arterial pressure, ``hybrid``: PPG) infer
biomarkers for every 8-s window of the shipped sample record ``v136s`` (package data in
``cardiosbi/assets/samples``; CinC 2015: PPG, ABP and ECG); the run prints, per model and
biomarker, the median and 90 % interval over the record, how the estimates agree with the
reference channels (HR from ECG, pressures from the arterial line; a check is marked circular
when the model reads that channel) and writes the HTML report. A number that is not sound (not
validated on real data, too few windows, every window rejected) is shown in brackets or
withheld, with a footnote giving the reason. ``--from-scratch`` first simulates a small dataset
and trains a small posterior on this machine, then infers with it. Each step prints the
command that does it on its own.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from omegaconf import DictConfig
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from cardiosbi.errors import CardiosbiError, ConfigError
from cardiosbi.report.model import run_model
from cardiosbi.report.run import load_run, model_runs
from cardiosbi.utils.config import to_dataclass
from cardiosbi.utils.paths import existing_path, sample_record
from cardiosbi.utils.rundir import atomic_write_text, write_run_info

# (estimated biomarker, reference column of the quality table, what the reference is, the
# channel kind the reference is measured on)
REFERENCES = [("hr", "hr_ecg", "HR vs ECG", "ecg"), ("map_radial", "map_abp", "MAP vs ABP", "abp"),
              ("map", "map_abp", "MAP vs ABP", "abp"), ("sbp_radial", "sbp_abp", "SBP vs ABP", "abp"),
              ("dbp_radial", "dbp_abp", "DBP vs ABP", "abp")]
SUMMARY_COLUMNS = ["model", "record", "parameter", "unit", "median", "ci90_low", "ci90_high",
                   "windows", "validity", "flag"]


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
    check_config(config)
    record = Path(config.record) if config.record is not None else sample_record()
    existing_path(record.with_suffix(".hea"), "WFDB header of the record")
    out = Path(config.out)
    # piped to a file or CI log, rich would fold the tables to 80 columns
    console = Console() if sys.stdout.isatty() else Console(width=140)
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


def check_config(config: QuickstartConfig) -> None:
    """Values that cannot work end here, before the first step starts."""
    counts = {"n_samples": config.n_samples, "scratch.n": config.scratch.n,
              "scratch.max_epochs": config.scratch.max_epochs}
    for key, value in counts.items():
        if value < 1:
            raise ConfigError(f"{key} must be >= 1, got {value}")
    if not config.scratch.parameters:
        raise ConfigError("scratch.parameters is empty; name at least one biomarker")
    if config.record is not None and not config.record.strip():
        raise ConfigError("record is empty; give a WFDB record path or leave it unset")


def step(console: Console, what: str, argv: list[str]) -> None:
    """Run one CLI command in-process, saying what it does and how to run it alone.

    A user error in the step ends the quickstart with that error's one line, naming the step.
    """
    from cardiosbi.cli.main import execute

    console.print(f"[bold]→ {escape(what)}[/bold]\n  $ cardiosbi {escape(' '.join(argv))}")
    try:
        code = execute(argv)
    except CardiosbiError as exc:
        exc.args = (f"step `cardiosbi {argv[0]}` failed: {exc}",)
        raise
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
    """Per model and biomarker: median of window medians and 90 % bounds, windows used, the
    biomarker's validation status and ``flag`` (why the number is not sound; "" when it is).

    Runs written before infer recorded validity read as validated and unflagged."""
    table = pd.read_csv(infer_dir / "summary.csv").dropna(subset=["parameter"])
    if "model" not in table:  # one posterior file: infer wrote no model column
        table = table.assign(model=single_model)
    for column, blank in (("validity", "validated"), ("flag", "")):
        values = table[column] if column in table else pd.Series(blank, index=table.index)
        table[column] = values.astype(object).where(values.notna(), blank).astype(str)
    return table[SUMMARY_COLUMNS]


def reference_agreement(runs: dict[str, Path]) -> pd.DataFrame:
    """Estimates against the record's own reference channels, window by window.

    ``check`` says whether a comparison validates the model ("independent") or only shows it
    is consistent with its own input ("circular: ..."), as for the pressure model against the
    arterial line it reads."""
    rows = []
    for name, path in runs.items():
        run = load_run(path)
        reads = run_model(run).reads
        for rid in run.records.loc[run.records["status"] == "ok", "record"]:
            estimates, quality = run.estimates(rid), run.quality(rid)
            if name == next(iter(runs)):  # beat-detected PPG HR: the same in every run
                rows.append(_pair(quality, "hr_ppg", "hr_ecg", "PPG beats", "HR vs ECG",
                                  "beat detector"))
            if estimates is None or "reject" not in estimates:  # no window was estimated
                continue
            kept = ~estimates["reject"].astype(str).eq("True")
            for parameter, column, label, channel in REFERENCES:
                usable = estimates[(estimates["parameter"] == parameter) & kept]
                if len(usable) and column in quality:
                    joined = usable.merge(quality[["start_s", column]], on="start_s")
                    rows.append(_pair(joined, "median", column, f"{name} posterior", label,
                                      _check(channel, reads),
                                      interval=joined[["ci90_low", "ci90_high"]]))
    return pd.DataFrame([r for r in rows if r is not None])


def _check(channel: str, reads: frozenset[str] | None) -> str:
    if channel == "ecg":  # no model reads the ECG
        return "independent"
    if reads is None:
        return "possibly circular (model inputs unknown)"
    return f"circular (model reads {channel.upper()})" if channel in reads else "independent"


def _pair(table: pd.DataFrame, estimate: str, reference: str, source: str, label: str,
          check: str, interval: pd.DataFrame | None = None) -> dict | None:
    both = table[[estimate, reference]].dropna()
    if both.empty:
        return None
    row = {"comparison": label, "estimate": source, "check": check, "windows": len(both),
           "mean_abs_difference": float((both[estimate] - both[reference]).abs().mean()),
           "bias": float((both[estimate] - both[reference]).mean())}
    if interval is not None:
        inside = (interval.loc[both.index, "ci90_low"] <= both[reference]) & \
                 (both[reference] <= interval.loc[both.index, "ci90_high"])
        row["reference_inside_90"] = float(inside.mean())
    return row


def summary_table(summary: pd.DataFrame, record: str) -> Table:
    """The per-biomarker table; a flagged number is bracketed and dimmed (withheld when there
    is none) with a footnote letter, and the footnotes under the table give the reasons."""
    letters: dict[str, str] = {}
    table = Table("model", "biomarker", "median", "90 % interval", "unit", "windows", "note",
                  title=f"Biomarkers over record {record} (medians over accepted windows)",
                  caption_justify="left")
    for row in summary.itertuples(index=False):
        reasons = flag_reasons(str(row.flag))
        note = ",".join(letters.setdefault(r, chr(ord("a") + len(letters))) for r in reasons)
        median, interval = _value(row.median), f"{_value(row.ci90_low)} – {_value(row.ci90_high)}"
        if pd.isna(row.median):
            median, interval = "withheld", "–"
        elif reasons:
            median, interval = f"[{median}]", f"[{interval}]"
        table.add_row(row.model, row.parameter, median, interval, row.unit, str(row.windows),
                      note, style="dim" if reasons else None)
    if letters:
        table.caption = "\n".join(
            [escape("[brackets] / withheld: not a sound number, do not use it clinically:")]
            + [f"  {letter}: {escape(reason)}" for reason, letter in letters.items()])
    return table


def flag_reasons(flag: str) -> list[str]:
    """The reasons of a ``flag`` joined by "; ", keeping a reason that quotes others in
    parentheses ("all 9 windows rejected (most often: a; b)") whole."""
    reasons, depth, current = [], 0, ""
    for char in flag:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == ";" and depth == 0:
            reasons.append(current)
            current = ""
        else:
            current += char
    return [r.strip() for r in [*reasons, current] if r.strip()]


def _value(number: float) -> str:
    return "–" if pd.isna(number) else f"{number:.4g}"


def agreement_table(agreement: pd.DataFrame) -> Table:
    table = Table("comparison", "estimate", "check", "windows", "mean |diff|", "bias",
                  "ref in 90 %", title="Agreement with the record's reference channels")
    for row in agreement.to_dict("records"):
        inside = row.get("reference_inside_90")
        circular = row["check"].startswith(("circular", "possibly"))
        table.add_row(row["comparison"], row["estimate"], row["check"], str(row["windows"]),
                      f"{row['mean_abs_difference']:.2f}", f"{row['bias']:+.2f}",
                      "–" if pd.isna(inside) else f"{100 * inside:.0f} %",
                      style="dim" if circular else None)
    return table
