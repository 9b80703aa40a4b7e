"""``render_report(run_dir)``: one self-contained HTML page for an infer run, tables beside it.

Figures are embedded as base64 PNG so the page is a single file to mail or archive; every table
the page shows is also written as CSV into ``<page name>_tables/`` next to it.
"""

from __future__ import annotations

import base64
import datetime as _dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
import pandas as pd

import cardiosbi
from cardiosbi import registry
from cardiosbi.default_models import DEFAULT_MODELS
from cardiosbi.errors import CardiosbiError, ConfigError
from cardiosbi.report import figures
from cardiosbi.report.model import RunModel, decoded_windows, run_model
from cardiosbi.report.references import (
    INDEPENDENT,
    Reference,
    agreement,
    check_of,
    compare,
    reference_values,
    references_for,
    series_groups,
)
from cardiosbi.report.run import InferRun, load_run, model_runs, with_flags
from cardiosbi.report.tables import (
    Table,
    biomarker_table,
    format_cell,
    make_table,
    numbered,
    numbered_estimates,
    overview_table,
    reason_counts,
    summary_table,
)
from cardiosbi.report.waveforms import Trace, load_traces, locate_recording
from cardiosbi.utils.progress import progress
from cardiosbi.utils.rundir import atomic_write_text

log = logging.getLogger(__name__)

# Quality-table columns shown in the page (when present); the CSV beside it has all of them.
QUALITY_COLUMNS = ["window", "start_s", "duration_s", "accepted", "reason", "hr_ppg", "hr_ecg",
                   "hr_abp", "map_abp", "sbp_abp", "dbp_abp", "ppg_quality"]


@dataclass
class ReportOptions:
    """What goes into the page (the CLI's config keys)."""

    recordings: str | None = None   # folder holding the recordings if the run's paths moved
    max_records: int = 50           # records given figures; the rest appear in the overview only
    waveform_s: float = 300.0       # seconds of waveform drawn per record (from its start)
    max_table_rows: int = 200       # per-window rows shown in the page (all rows in the CSV)


@dataclass
class Figure:
    title: str
    png: str   # base64


@dataclass
class RecordSection:
    record: str
    notes: list[str] = field(default_factory=list)
    waveforms: list[Figure] = field(default_factory=list)
    decoded: Figure | None = None   # hybrid runs: decoded pressures of a few windows
    biomarkers: Figure | None = None
    biomarker_table: Table | None = None
    summary: Table | None = None      # infer's summary over windows, with validity and flags
    reasons: list[tuple[str, str, int]] = field(default_factory=list)  # colour legend
    reason_counts: Table | None = None
    quality: Table | None = None
    references: list[dict] = field(default_factory=list)
    parameters: list[str] = field(default_factory=list)   # estimated biomarker names


def render_report(run_dir: str | Path, out: str | Path | None = None,
                  options: ReportOptions | None = None) -> Path:
    """Write the HTML report of the infer run in ``run_dir`` and return its path.

    ``out`` is the page (``*.html``) or a folder to put ``report.html`` in; default
    ``run_dir/report.html``. The tables the page shows go to ``<page stem>_tables/*.csv``.
    """
    options = options or ReportOptions()
    runs = model_runs(run_dir)
    if runs:
        return render_multi_model(Path(run_dir), runs, out, options)
    if options.max_records < 0 or options.waveform_s <= 0 or options.max_table_rows < 1:
        raise ConfigError("report options: max_records >= 0, waveform_s > 0 and "
                          "max_table_rows >= 1 are required")
    run = load_run(run_dir)
    out = Path(out) if out else run.path / "report.html"
    if out.suffix.lower() not in (".html", ".htm"):  # a folder (`--out DIR`): the page goes in it
        out = out / "report.html"
    tables_dir = out.with_name(f"{out.stem}_tables")
    tables_dir.mkdir(parents=True, exist_ok=True)
    ok = [r for r, s in zip(run.records["record"], run.records["status"], strict=True)
          if s == "ok"]
    shown = ok[:options.max_records]
    model = run_model(run)
    sections = [record_section(run, rid, options, tables_dir, model)
                for rid in progress(shown, desc="report", unit="record")]
    context = {
        "title": f"cardiosbi report: {run.path.name}",
        "provenance": provenance(run, model),
        "hybrid": model.is_hybrid,
        "overview": overview_table(run, tables_dir, options.max_table_rows),
        "failures": int((run.records["status"] != "ok").sum()),
        "capped": max(0, len(ok) - len(shown)),
        "sections": sections,
        "agreement": agreement_table(sections, tables_dir),
        "biomarkers": biomarker_glossary(run, sections),
    }
    atomic_write_text(out, template().render(**context))
    return out


def render_multi_model(run_dir: Path, runs: dict[str, Path], out: str | Path | None,
                       options: ReportOptions) -> Path:
    """One report per model (``report_<model>.html``) and an index page linking them."""
    index = Path(out) if out else run_dir / "report.html"
    if index.suffix.lower() not in (".html", ".htm"):
        index = index / "report.html"
    pages = []
    for name, sub in runs.items():
        page = render_report(sub, index.with_name(f"{index.stem}_{name}.html"), options)
        pages.append((name, page.name, DEFAULT_MODELS.get(name, str(sub))))
    summary = with_flags(pd.read_csv(run_dir / "summary.csv"))
    columns = [c for c in ("model", "record", "parameter", "unit", "median", "ci90_low",
                           "ci90_high", "windows", "validity", "flag") if c in summary]
    rows = [[format_cell(v) for v in row] for row in summary[columns].itertuples(index=False)]
    flagged = ["flagged" if flag else "" for flag in summary["flag"]]
    page = environment().get_template("index.html.j2").render(
        title=f"cardiosbi report: {run_dir.name}", pages=pages, columns=columns,
        rows=list(zip(rows, flagged, summary["flag"], strict=True)),
        summary_href=relative_href(run_dir / "summary.csv", index.parent))
    atomic_write_text(index, page)
    return index


def relative_href(target: Path, folder: Path) -> str:
    """``target`` as a link from a page in ``folder`` (POSIX separators, as URLs want)."""
    return Path(os.path.relpath(target.resolve(), folder.resolve())).as_posix()


def environment() -> jinja2.Environment:
    return jinja2.Environment(loader=jinja2.PackageLoader("cardiosbi.report", "templates"),
                              autoescape=True, undefined=jinja2.StrictUndefined)


def template() -> jinja2.Template:
    return environment().get_template("report.html.j2")


def provenance(run: InferRun, model: RunModel | None = None) -> list[tuple[str, str]]:
    """(label, value) rows for the page header."""
    return [
        ("Run folder", str(run.path)),
        ("Input", str(run.config.get("input", ""))),
        ("Posterior file", str(run.config.get("posterior", ""))),
        ("Model", (model or run_model(run)).label),
        ("Posterior draws per window", str(run.config.get("n_samples", ""))),
        ("cardiosbi version (run)", str(run.info.get("cardiosbi_version", ""))),
        ("git revision (run)", str(run.info.get("git_revision") or "not a checkout")),
        ("Run started (UTC)", str(run.info.get("started_utc", ""))),
        ("Report written (UTC)", _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")),
        ("cardiosbi version (report)", cardiosbi.__version__),
    ]


def record_section(run: InferRun, rid: str, options: ReportOptions, tables_dir: Path,
                   model: RunModel | None = None) -> RecordSection:
    """Figures and tables of one record; missing pieces become notes in the page."""
    section = RecordSection(record=rid)
    quality = numbered(run.quality(rid))
    estimates = run.estimates(rid)
    reads = model.reads if model is not None else None
    references = references_for(reads)
    traces = add_waveforms(section, run, rid, quality, options)
    if model is not None and model.is_hybrid:
        add_decoded(section, run, rid, model, traces)
    if estimates is None or "parameter" not in estimates or estimates["parameter"].isna().all():
        section.notes.append("No biomarker was estimated for this record (no window passed the "
                             "quality checks).")
        estimates = None
    else:
        estimates = numbered_estimates(estimates, quality)
        overlays = {ref.biomarker: overlay for ref in references
                    if (overlay := reference_overlay(ref, quality, reads)) is not None}
        section.biomarkers = Figure(
            "Biomarker posteriors over time",
            encode(figures.biomarker_figure(estimates, quality, overlays)))
        section.biomarker_table = biomarker_table(rid, estimates, tables_dir,
                                                  options.max_table_rows)
        section.parameters = list(estimates["parameter"].dropna().astype(str).unique())
    section.summary = summary_table(run, rid, tables_dir)
    section.reasons = figures.reason_legend(quality)
    section.reason_counts = make_table(reason_counts(quality),
                                       tables_dir / f"{rid}_quality_counts.csv", 1000)
    shown = [c for c in QUALITY_COLUMNS if c in quality]
    section.quality = make_table(quality[shown], tables_dir / f"{rid}_quality.csv",
                                 options.max_table_rows, full=quality)
    section.references = [reference_block(ref, rid, quality, estimates, tables_dir, reads)
                          for ref in references]
    return section


def reference_overlay(reference: Reference, quality: pd.DataFrame,
                      reads: frozenset[str] | None) -> figures.Overlay | None:
    """The reference values to draw over the panels of ``reference.biomarker``, if any."""
    values = reference_values(reference, quality)
    if values.empty:
        return None
    present = [s for s in reference.sources if any(v is s for v in values["source"])]
    return figures.Overlay(values, [(s, check_of(s, reads)) for s in present])


def add_waveforms(section: RecordSection, run: InferRun, rid: str, quality: pd.DataFrame,
                  options: ReportOptions) -> list[Trace]:
    """Waveform panels of the record's channels and a close-up of its first accepted window;
    a note instead when the recording cannot be found or read again. Returns the traces."""
    source = run.source(rid)
    path = locate_recording(source, run.config, options.recordings)
    if path is None:
        section.notes.append(f"Recording {source!r} was not found from here, so the waveform "
                             "panels are omitted; pass recordings=FOLDER to point at it.")
        return []
    try:
        traces, duration = load_traces(path, run.config, options.waveform_s)
    except CardiosbiError as exc:
        section.notes.append(f"Recording {path} could not be re-loaded ({exc}); waveform panels "
                             "omitted.")
        return []
    if duration > options.waveform_s:
        section.notes.append(f"Waveforms show the first {options.waveform_s:g} s of "
                             f"{duration:g} s (waveform_s=...).")
    for trace in traces:
        section.waveforms.append(Figure(f"{trace.name} ({trace.unit})",
                                        encode(figures.waveform_figure(trace, quality))))
    accepted = quality[quality["accepted"].astype(bool) & (quality["start_s"] < options.waveform_s)]
    if traces and len(accepted):
        first = accepted.iloc[0]
        section.waveforms.append(Figure(
            f"close-up of the first accepted window ({first['start_s']:g} s)",
            encode(figures.zoom_figure(traces, first["start_s"], first["duration_s"]))))
    return traces


def add_decoded(section: RecordSection, run: InferRun, rid: str, model: RunModel,
                traces: list[Trace]) -> None:
    """The hybrid's decoded pressures for the record's first accepted windows (the run keeps
    the windows it inferred on, so these are exactly the model's inputs)."""
    try:
        windows = decoded_windows(run, rid, model.posterior, traces,
                                  seed=int(run.config.get("seed", 0)))
    except CardiosbiError as exc:  # e.g. kept windows that no longer fit the model file
        section.notes.append(f"Decoded pressures could not be drawn ({exc}).")
        return
    if not windows:
        section.notes.append("No accepted window was kept for this record, so no decoded "
                             "pressure is shown.")
        return
    measured = "with the measured ABP" if any(w.abp is not None for w in windows) else \
        "(no arterial line in this recording to compare with)"
    section.decoded = Figure(f"PPG and the arterial pressures the hybrid decoded from it, "
                             f"{len(windows)} window(s), {measured}",
                             encode(figures.decoded_pressure_figure(windows)))


def reference_block(reference: Reference, rid: str, quality: pd.DataFrame,
                    estimates: pd.DataFrame | None, tables_dir: Path,
                    reads: frozenset[str] | None = None) -> dict:
    """The page block of one reference: a figure and agreement numbers, or why it is absent,
    and which of its checks are circular (the model reads the reference channel)."""
    block = {"name": reference.name, "id": reference.name.replace(" ", "-"), "figure": None,
             "agreement": None, "frame": None, "absent": None, "csv": None, "href": None,
             "circular": []}
    values = reference_values(reference, quality)
    if values.empty:
        channels = " or ".join(dict.fromkeys(s.name for s in reference.sources))
        block["absent"] = (f"No {channels} reference in this recording's accepted windows, so "
                           f"{reference.quantity} cannot be checked.")
        return block
    present = list(dict.fromkeys(values["source"]))
    primary = reference.sources[0]
    fallbacks = ", ".join(s.name for s in present if s != primary)
    if primary not in present:
        block["name"] = f"{reference.quantity} vs {fallbacks} (no {primary.name})"
    elif fallbacks:  # windows without the primary reference fell back to others
        block["name"] += f" (else {fallbacks})"
    block["circular"] = [f"{reference.label(s)}: {check}. Agreement here shows the model is "
                         "consistent with what it read, not that it is right."
                         for s in present if (check := check_of(s, reads)) != INDEPENDENT]
    comparison = compare(reference, quality, estimates, reads)
    if comparison.empty:
        estimated = {label for label, _ in series_groups(estimates)} if estimates is not None \
            else set()
        block["absent"] = (f"The {reference.sources[0].name} reference exists but nothing "
                           f"comparable was estimated ({reference.biomarker} not among "
                           f"{sorted(estimated) or 'the estimates'}) or no accepted window "
                           "has both.")
        return block
    comparison.insert(0, "record", rid)
    csv = tables_dir / f"{rid}_{reference.sources[0].column.replace('_', '-')}.csv"
    comparison.to_csv(csv, index=False)
    block["csv"], block["href"] = csv.name, f"{tables_dir.name}/{csv.name}"
    title = block["name"] + (" (circular: not a validation)" if block["circular"] else "")
    block["figure"] = encode(figures.reference_figure(comparison, title, reference.unit))
    block["frame"] = agreement(comparison).assign(record=rid)
    block["agreement"] = make_table(block["frame"], None, 1000)
    return block


def agreement_table(sections: list[RecordSection], tables_dir: Path) -> Table | None:
    """All records' agreement rows in one table (also per record in each section)."""
    frames = [b["frame"] for s in sections for b in s.references if b["frame"] is not None]
    if not frames:
        return None
    table = pd.concat(frames, ignore_index=True)
    table = table[["record", *[c for c in table.columns if c != "record"]]]
    return make_table(table, tables_dir / "reference_agreement.csv", 10_000)


def biomarker_glossary(run: InferRun, sections: list[RecordSection]
                       ) -> list[tuple[str, str, str]]:
    """(name, unit, description) of every estimated biomarker, from the registry."""
    names = [p for s in sections for p in s.parameters]
    if run.summary is not None and "parameter" in run.summary:
        names += list(run.summary["parameter"].dropna().astype(str))
    rows = []
    for name in dict.fromkeys(names):
        try:
            quantity = registry.quantity_of(name)
            rows.append((name, quantity.unit, quantity.description))
        except ConfigError:  # a parameter the registry does not know (e.g. a test model)
            rows.append((name, "", "not in the cardiosbi registry"))
    return rows


def encode(png: bytes) -> str:
    return base64.b64encode(png).decode("ascii")
