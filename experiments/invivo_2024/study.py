"""The in-vivo study (Manduchi et al. 2024 setting): HR, CO, SVR and LVET from arterial pressure
(APW) and PPG, and the rejection of windows by predicted uncertainty.

Models: the shipped ``apw`` (radial pressure), ``ppg`` (direct PPG NPE) and ``hybrid`` (PPG ->
pressure CVAE trained on real ICU pairs, composed with ``apw``).

Data and references:
- ``heldout``: 2,048 simulations of ``experiment=default_model`` that no model trained on (radial
  pressure and digital PPG of the same subjects). Every biomarker has an exact label. The hybrid
  reads simulated PPG here, outside the real PPG its CVAE was trained on.
- ``records``: real ICU records cut into windows exactly as ``cardiosbi infer`` does. Real
  references exist only for HR (ECG R-peaks) and MAP (the arterial line; ``apw`` reads that same
  line, so its MAP check is not independent). CO, SVR and LVET have no real reference: for
  ``ppg`` and ``hybrid`` they are compared with the ``apw`` posterior on the same window (model
  agreement, not accuracy), and ``apw``'s own CO/SVR/LVET rows carry no reference.

Rejection: within each (source, model, biomarker) the windows are sorted by the width of the
90 % interval and the narrowest 100/90/75/50 % are kept (``fractions``); MAE and coverage of the
kept windows, Spearman's rho of width vs absolute error, binned error-vs-width curves, and the
model's own reject flag beside them. Real windows of one record are not independent: intervals
come from a record-level bootstrap, and the rejection is also done within each record.

Writes into ``out``: ``rows.csv`` (one row per window x model x biomarker: the raw numbers every
table is recomputed from), ``summary.csv``, ``bins.csv``, ``per_record.csv``, figures and
``results.md``.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402

from cardiosbi.biomarkers import DERIVED  # noqa: E402
from cardiosbi.default_models import DEFAULT_MODELS, load_default_posterior  # noqa: E402
from cardiosbi.diagnostics.uncertainty_rejection import (  # noqa: E402
    check_fractions,
    record_bootstrap,
    retained_accuracy,
    scored,
    width_error_association,
    width_error_bins,
)
from cardiosbi.errors import CardiosbiError, ConfigError, InputFileError  # noqa: E402
from cardiosbi.estimate import estimate_recording, model_input  # noqa: E402
from cardiosbi.io import Recording, load_recording  # noqa: E402
from cardiosbi.io.cohort import discover_records  # noqa: E402
from cardiosbi.utils.progress import progress  # noqa: E402
from cardiosbi.utils.study_config import load_study_config  # noqa: E402

# posterior parameter -> quality-table reference column and its kind
REAL_REFERENCES = {"hr": ("hr_ecg", "ecg"), "map_radial": ("map_abp", "arterial_line")}
AGREEMENT = "apw_posterior"   # reference kind of CO/SVR/LVET on real data: the apw median
LABELS = {"hr": ("HR", "bpm"), "co": ("CO", "L/min"), "svr": ("SVR", "dyn·s/cm⁵"),
          "lvet": ("LVET", "ms"), "map_radial": ("MAP", "mmHg"), "sv": ("SV", "mL"),
          "sbp_radial": ("SBP", "mmHg"), "dbp_radial": ("DBP", "mmHg")}
MODALITY = {"apw": "radial pressure", "ppg": "PPG", "hybrid": "PPG"}
ROW_COLUMNS = ["source", "record", "window", "start_s", "model", "modality", "biomarker", "unit",
               "estimate", "ci90_low", "ci90_high", "width90", "reference", "reference_kind",
               "reject", "reject_reason", "ood"]
GROUP = ["source", "model", "biomarker", "reference_kind"]


@dataclass
class StudyConfig:
    heldout: str = "runs/heldout"
    records: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=lambda: ["apw", "ppg", "hybrid"])
    biomarkers: list[str] = field(default_factory=lambda: ["hr", "co", "svr", "lvet", "map_radial"])
    fractions: list[float] = field(default_factory=lambda: [1.0, 0.9, 0.75, 0.5])
    n_samples: int = 500
    hybrid_components: int = 0
    max_simulations: int = 0
    max_record_s: float = 0.0
    width_bins: int = 5
    bootstrap: int = 1000
    min_record_windows: int = 4
    from_rows: bool = False
    seed: int = 0
    threads: int = 2
    out: str = "runs/invivo_2024"
    tiny: bool = False


def load_config(argv: list[str]) -> StudyConfig:
    """study.yaml < tiny.yaml (``tiny=true``) < ``key=value`` arguments, then the value checks."""
    cfg = load_study_config(StudyConfig, Path(__file__).resolve().parent / "study.yaml", argv)
    check_config(cfg)
    return cfg


def check_config(cfg: StudyConfig) -> None:
    """Settings that cannot work end here, before any posterior runs."""
    unknown = sorted(set(cfg.models) - set(DEFAULT_MODELS))
    if unknown:
        raise ConfigError(f"models {unknown} are not shipped; shipped: {', '.join(DEFAULT_MODELS)}")
    check_fractions(cfg.fractions)
    if cfg.n_samples < 20:
        raise ConfigError(f"n_samples={cfg.n_samples}: a 90 % interval needs at least 20 draws")


# --- simulations -------------------------------------------------------------------------------
def heldout_file(posterior, folder: Path) -> tuple[Path, str]:
    """The export holding the posterior's channel, and the array key inside it."""
    channel = posterior.input_spec["channels"][0]  # site/signal or site/<nm>nm/OPPG
    site = channel.split("/")[0]
    path = folder / f"heldout_{site}.npz"
    if not path.is_file():
        raise InputFileError(f"{path} not found: heldout= must name the folder of the held-out "
                             "simulation exports (experiments/default_model/export_store.py)")
    return path, "x_" + channel.replace("/", "_")  # the key export_store.py writes


def simulation_rows(posterior, name: str, cfg: StudyConfig) -> pd.DataFrame:
    path, key = heldout_file(posterior, Path(cfg.heldout))
    data = np.load(path)
    ok = np.flatnonzero(data["status"] == 0)
    if cfg.max_simulations:
        ok = ok[: cfg.max_simulations]
    missing = [b for b in cfg.biomarkers if f"label_{b}" not in data.files]
    if missing:
        raise ConfigError(f"{path} has no labels for {missing}")
    x = model_input(posterior, data[key][ok][:, None].astype(np.float32))
    table = summarize(posterior, x, cfg, cfg.seed)
    reference = np.full(len(table), np.nan)
    for b in cfg.biomarkers:
        mask = (table["parameter"] == b).to_numpy()
        reference[mask] = data[f"label_{b}"][ok][table.loc[mask, "window"].to_numpy()]
    return tidy(table.assign(source="simulation", record=[f"sim{i}" for i in ok[table["window"]]],
                             start_s=np.nan, reference=reference,
                             reference_kind="simulation_label"), name)


def summarize(posterior, x: torch.Tensor, cfg: StudyConfig, seed: int) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(seed)
    table = posterior.summarize(x, levels=(0.9,), n=cfg.n_samples, generator=generator,
                                derived=DERIVED, batch_size=128)
    return table[table["parameter"].isin(cfg.biomarkers)].reset_index(drop=True)


def tidy(table: pd.DataFrame, model: str) -> pd.DataFrame:
    table = table.rename(columns={"parameter": "biomarker", "median": "estimate"})
    return table.assign(model=model, modality=MODALITY[model])[ROW_COLUMNS]


# --- real records --------------------------------------------------------------------------------
def real_rows(recording, posterior, name: str, cfg: StudyConfig, seed: int) -> pd.DataFrame:
    generator = torch.Generator().manual_seed(seed)
    quality, table = estimate_recording(recording, posterior, n=cfg.n_samples, levels=(0.9,),
                                        generator=generator)
    table = table[table["parameter"].isin(cfg.biomarkers)]
    if table.empty:  # no window of the record was accepted for this model
        return pd.DataFrame(columns=ROW_COLUMNS)
    refs = quality.loc[quality["window"] >= 0, ["window", *(c for c, _ in REAL_REFERENCES.values())]]
    table = table.merge(refs, on="window", how="left")
    reference = np.full(len(table), np.nan)
    kind = np.full(len(table), "none", dtype=object)
    for parameter, (column, what) in REAL_REFERENCES.items():
        mask = (table["parameter"] == parameter).to_numpy()
        reference[mask] = table.loc[mask, column].to_numpy(float)
        kind[mask] = what
    return tidy(table.assign(source="real", reference=reference, reference_kind=kind), name)


def with_agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """Real CO/SVR/LVET (no real reference) of the PPG models get the apw median of the same
    window as their reference, kind ``apw_posterior``."""
    apw = rows[(rows["model"] == "apw") & (rows["reference_kind"] == "none")]
    apw = apw.set_index(["record", "start_s", "biomarker"])["estimate"]
    target = (rows["source"] == "real") & (rows["model"] != "apw") & (rows["reference_kind"] == "none")
    keys = pd.MultiIndex.from_frame(rows.loc[target, ["record", "start_s", "biomarker"]])
    rows = rows.copy()
    rows.loc[target, "reference"] = apw.reindex(keys).to_numpy(float)
    rows.loc[target, "reference_kind"] = AGREEMENT
    return rows


def first_seconds(recording: Recording, seconds: float) -> Recording:
    """The recording's first ``seconds`` (all of it when 0)."""
    if not seconds:
        return recording
    channels = {}
    for key, c in recording.channels.items():
        n = max(0, int(np.ceil((seconds - c.start_s) * c.fs)))
        channels[key] = dataclasses.replace(c, signal=c.signal[:n])
    return dataclasses.replace(recording, channels=channels)


def all_real_rows(posteriors: dict, cfg: StudyConfig) -> tuple[pd.DataFrame, list[str]]:
    refs = [ref for source in cfg.records for ref in discover_records(source)]
    frames, skipped = [], []
    for i, ref in enumerate(progress(refs, desc="records", unit="record")):
        try:
            recording = first_seconds(load_recording(ref), cfg.max_record_s)
        except CardiosbiError as exc:
            skipped.append(f"{Path(ref).stem}: {exc}")
            continue
        for j, (name, posterior) in enumerate(posteriors.items()):
            try:
                frames.append(real_rows(recording, posterior, name, cfg,
                                        cfg.seed + 1000 * (i + 1) + j))
            except CardiosbiError as exc:  # e.g. a record without the model's channel
                skipped.append(f"{Path(ref).stem} ({name}): {exc}")
    if not frames:
        return pd.DataFrame(columns=ROW_COLUMNS), skipped
    return with_agreement(pd.concat(frames, ignore_index=True)), skipped


# --- tables --------------------------------------------------------------------------------------
def flag_rows(rows: pd.DataFrame) -> pd.DataFrame:
    """The model's own reject flag as a retention rule, per group."""
    out = []
    for key, g in scored(rows).groupby(GROUP, sort=False):
        kept = g[~g["reject"].astype(bool)]
        out.append(dict(zip(GROUP, key, strict=True)) | {
            "rule": "reject_flag", "retained_fraction": len(kept) / len(g), "n": len(g),
            "n_kept": len(kept), "mae": kept["abs_error"].mean(), "bias": kept["error"].mean(),
            "coverage": kept["inside"].mean(), "width_median": kept["width90"].median(),
            "mae_reduction": 1 - kept["abs_error"].mean() / g["abs_error"].mean()})
    return pd.DataFrame(out)


def per_record(rows: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    """Rejection within each real record with enough scored windows."""
    real = scored(rows[rows["source"] == "real"])
    counts = real.groupby([*GROUP, "record"])["estimate"].transform("size")
    real = real[counts >= cfg.min_record_windows]
    if real.empty:
        return pd.DataFrame()
    return retained_accuracy(real, cfg.fractions, by=[*GROUP, "record"])


def record_effects(records: pd.DataFrame) -> pd.DataFrame:
    """Per group and fraction: how many records' own MAE fell by rejecting within the record."""
    if records.empty:
        return pd.DataFrame(columns=[*GROUP, "retained_fraction"])
    return (records.groupby([*GROUP, "retained_fraction"], sort=False)
            .agg(records=("record", "nunique"),
                 records_improved=("mae_reduction", lambda r: float((r > 0).mean())),
                 record_reduction_median=("mae_reduction", "median"))
            .reset_index())


def summary(rows: pd.DataFrame, records: pd.DataFrame, cfg: StudyConfig) -> pd.DataFrame:
    table = retained_accuracy(rows, cfg.fractions, by=GROUP).assign(rule="width")
    boot = record_bootstrap(rows, cfg.fractions, by=GROUP, n_boot=cfg.bootstrap, seed=cfg.seed)
    table = table.merge(boot, on=[*GROUP, "retained_fraction"], how="left")
    table = table.merge(record_effects(records), on=[*GROUP, "retained_fraction"], how="left")
    table = pd.concat([table, flag_rows(rows)], ignore_index=True)
    return table.merge(width_error_association(rows, by=GROUP), on=GROUP, how="left")


# --- figures -------------------------------------------------------------------------------------
COLOURS = {"apw": "tab:blue", "hybrid": "tab:orange", "ppg": "tab:green"}
SOURCE_TITLES = {"simulation": "held-out simulations", "real": "ICU records"}


def reference_title(kind: str) -> str:
    return {"simulation_label": "vs simulation label", "ecg": "vs ECG",
            "arterial_line": "vs arterial line", AGREEMENT: "vs apw posterior (agreement)"}[kind]


def error_label(kind: str) -> str:
    return "|model − apw|" if kind == AGREEMENT else "|error|"


def panel_title(source: str, biomarker: str, kind: str) -> str:
    return (f"{LABELS.get(biomarker, (biomarker,))[0]} {reference_title(kind)}\n"
            f"({SOURCE_TITLES[source]})")


def grid(n: int):
    cols = min(5, n)
    rows = -(-n // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat


def plot_error_vs_width(rows: pd.DataFrame, bins: pd.DataFrame, out: Path) -> None:
    data = scored(rows)
    keys = panels(data)
    fig, axes = grid(len(keys))
    for ax, (source, biomarker, kind) in zip(axes, keys, strict=False):
        unit = LABELS.get(biomarker, (biomarker, ""))[1]
        for model, g in data[(data["source"] == source) & (data["biomarker"] == biomarker)
                             & (data["reference_kind"] == kind)].groupby("model"):
            colour = COLOURS.get(model, "black")
            ax.scatter(g["width90"], g["abs_error"], s=3, alpha=0.15, color=colour, rasterized=True)
            b = bins[(bins["source"] == source) & (bins["biomarker"] == biomarker)
                     & (bins["reference_kind"] == kind) & (bins["model"] == model)]
            ax.plot(b["width_median"], b["mae"], marker="o", color=colour, label=model)
        ax.set_xlabel(f"90 % interval width [{unit}]")
        ax.set_ylabel(f"{error_label(kind)} [{unit}]")
        ax.set_title(panel_title(source, biomarker, kind), fontsize=9)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle("Error against predicted uncertainty (dots: windows; lines: MAE per width bin)")
    fig.tight_layout()
    fig.savefig(out / "invivo_error_vs_width.png", dpi=110)
    plt.close(fig)


def plot_retained(table: pd.DataFrame, metric: str, out: Path) -> None:
    table = table[table["rule"] == "width"]
    keys = panels(table)
    fig, axes = grid(len(keys))
    for ax, (source, biomarker, kind) in zip(axes, keys, strict=False):
        unit = LABELS.get(biomarker, (biomarker, ""))[1]
        part = table[(table["source"] == source) & (table["biomarker"] == biomarker)
                     & (table["reference_kind"] == kind)]
        for model, g in part.groupby("model"):
            g = g.sort_values("retained_fraction")
            colour = COLOURS.get(model, "black")
            ax.plot(g["retained_fraction"], g[metric], marker="o", color=colour, label=model)
            if metric == "mae":
                ax.fill_between(g["retained_fraction"], g["mae_low"], g["mae_high"],
                                color=colour, alpha=0.2)
        if metric == "coverage":
            ax.axhline(0.9, color="grey", ls="--", lw=0.8)
        ax.set_xlabel("fraction kept (narrowest intervals)")
        ax.set_ylabel(f"mean {error_label(kind)} [{unit}]" if metric == "mae"
                      else "90 % interval coverage")
        ax.set_title(panel_title(source, biomarker, kind), fontsize=9)
        ax.invert_xaxis()
        ax.legend(fontsize=7, loc="upper left")
    what = ("MAE (band: 90 % record-bootstrap interval)" if metric == "mae"
            else "coverage of the 90 % interval")
    fig.suptitle(f"{what} after rejecting the most uncertain windows")
    fig.tight_layout()
    fig.savefig(out / f"invivo_retained_{metric}.png", dpi=110)
    plt.close(fig)


def panels(table: pd.DataFrame) -> list[tuple[str, str, str]]:
    """(source, biomarker, reference kind) of every figure panel: simulations first."""
    order = {b: i for i, b in enumerate(LABELS)}
    keys = table[["source", "biomarker", "reference_kind"]].drop_duplicates()
    return sorted(keys.itertuples(index=False, name=None),
                  key=lambda k: (k[0] != "simulation", order.get(k[1], 99)))


# --- text ----------------------------------------------------------------------------------------
def markdown(table: pd.DataFrame, fractions: list[float]) -> str:
    width = table[table["rule"] == "width"]
    flag = table[table["rule"] == "reject_flag"].set_index(GROUP)
    head = (["source", "model", "biomarker", "reference", "windows"]
            + [f"MAE {f:.0%}" for f in fractions] + [f"cov90 {f:.0%}" for f in fractions]
            + ["rho(width, |err|)", "flag keeps", "MAE flag-kept"])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for key, g in width.groupby(GROUP, sort=False):
        g = g.set_index("retained_fraction")
        f = flag.loc[key] if key in flag.index else None
        cells = [*key[:3], reference_title(key[3]).removeprefix("vs "), str(int(g["n"].iloc[0]))]
        cells += [_mae_cell(g.loc[fr]) for fr in fractions]
        cells += [f"{g.loc[fr, 'coverage']:.2f}" for fr in fractions]
        cells += [f"{g['spearman_rho'].iloc[0]:.2f}",
                  f"{f['retained_fraction']:.0%}" if f is not None else "–",
                  f"{f['mae']:.3g}" if f is not None else "–"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _mae_cell(row: pd.Series) -> str:
    if np.isfinite(row.get("mae_low", np.nan)):
        return f"{row['mae']:.3g} [{row['mae_low']:.3g}, {row['mae_high']:.3g}]"
    return f"{row['mae']:.3g}"


def record_markdown(table: pd.DataFrame) -> str:
    part = table[(table["rule"] == "width") & (table["source"] == "real")
                 & table["records"].notna() & (table["retained_fraction"] < 1)]
    if part.empty:
        return ""
    lines = ["| model | biomarker | reference | kept | records | records whose MAE fell | "
             "median per-record MAE reduction | pooled reduction [90 % record bootstrap] |",
             "|---|---|---|---|---|---|---|---|"]
    for r in part.itertuples(index=False):
        lines.append(f"| {r.model} | {r.biomarker} | {reference_title(r.reference_kind)[3:]} | "
                     f"{r.retained_fraction:.0%} | {int(r.records)} | {r.records_improved:.0%} | "
                     f"{r.record_reduction_median:+.0%} | {r.mae_reduction:+.0%} "
                     f"[{r.reduction_low:+.0%}, {r.reduction_high:+.0%}] |")
    return "\n".join(lines) + "\n"


# --- main ----------------------------------------------------------------------------------------
def load_models(cfg: StudyConfig) -> dict:
    posteriors = {name: load_default_posterior(name) for name in cfg.models}
    if cfg.hybrid_components and "hybrid" in posteriors:
        posteriors["hybrid"].n_apw = cfg.hybrid_components
    return posteriors


def estimate_rows(cfg: StudyConfig, out: Path) -> pd.DataFrame:
    """Every model on the simulations and the real records; writes rows.csv and skipped.txt."""
    started = time.perf_counter()
    posteriors = load_models(cfg)
    frames = [simulation_rows(p, name, cfg)
              for name, p in progress(posteriors.items(), desc="simulations", unit="model")]
    print(f"simulations: {time.perf_counter() - started:.0f} s")
    real, skipped = all_real_rows(posteriors, cfg)
    rows = pd.concat([*frames, real], ignore_index=True)
    rows.to_csv(out / "rows.csv", index=False)
    (out / "skipped.txt").write_text("".join(f"{s}\n" for s in skipped))
    return rows


def analyse(rows: pd.DataFrame, cfg: StudyConfig, out: Path) -> pd.DataFrame:
    """Tables and figures from the raw rows alone (no posterior is run)."""
    records = per_record(rows, cfg)
    table = summary(rows, records, cfg)
    bins = width_error_bins(rows, cfg.width_bins, by=GROUP)
    table.to_csv(out / "summary.csv", index=False)
    bins.to_csv(out / "bins.csv", index=False)
    records.to_csv(out / "per_record.csv", index=False)
    plot_error_vs_width(rows, bins, out)
    plot_retained(table, "mae", out)
    plot_retained(table, "coverage", out)
    return table


def main(argv: list[str]) -> pd.DataFrame:
    cfg = load_config(argv)
    torch.set_num_threads(max(1, cfg.threads))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if cfg.from_rows:
        if not (out / "rows.csv").is_file():
            raise InputFileError(f"from_rows=true needs {out / 'rows.csv'} from an earlier run")
        rows = pd.read_csv(out / "rows.csv", keep_default_na=False, na_values=[""])
    else:
        rows = estimate_rows(cfg, out)
    table = analyse(rows, cfg, out)
    elapsed = time.perf_counter() - started
    skipped = (out / "skipped.txt").read_text().splitlines() if (out / "skipped.txt").is_file() else []
    n_records = rows.loc[rows["source"] == "real", "record"].nunique()
    text = (markdown(table, cfg.fractions) + "\n" + record_markdown(table)
            + f"\n{n_records} real records scored; {len(skipped)} record/model pairs skipped"
            + "".join(f"\n- {s}" for s in skipped)
            + f"\n\n{'Tables from rows.csv' if cfg.from_rows else 'Total'} {elapsed:.0f} s "
              f"({cfg.n_samples} draws per window, {cfg.threads} threads).\n")
    (out / "results.md").write_text(text)
    print(text)
    print(f"wrote {out}/rows.csv, summary.csv, bins.csv, per_record.csv, results.md, figures")
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
