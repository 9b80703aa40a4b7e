"""Do the default-model priors cover what ICU monitors show? (issue #17: a prior for the ICU)

For each prior (``adult``: the shipped models'; ``icu``: HR 30-220 bpm), 20,000 draws give the
marginals of HR and of the Ohm's-law MAP estimate that the constraints act on. The real records
(CinC 2015 ICU alarms, ABP + ECG) are cut into the models' 8-s windows by the package's quality
code; every accepted window's references (HR from the ECG, else from the ABP beats; MAP, SBP and
DBP from the ABP) are compared with each prior: the share of windows outside the prior's support
(the model can only answer "at the bound") and outside its central 98 % (thin training data).

    python experiments/default_model/prior_coverage.py [--records GLOB ...] [--out runs/prior_coverage]

Writes windows.csv (one row per accepted window), coverage.csv / coverage.md, prior_vs_icu.png.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from omegaconf import OmegaConf  # noqa: E402

from cardiosbi.cli.main import compose  # noqa: E402
from cardiosbi.datasets.prior import DERIVED, Prior, PriorConfig  # noqa: E402
from cardiosbi.errors import CardiosbiError  # noqa: E402
from cardiosbi.io import load_recording  # noqa: E402
from cardiosbi.io.cohort import discover_records  # noqa: E402
from cardiosbi.signals.windows import WindowConfig, make_windows  # noqa: E402
from cardiosbi.utils.config import to_dataclass  # noqa: E402
from cardiosbi.utils.progress import progress  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
RECORDS = ["../shared/data/real/cinc2015_vtach/*.hea", "../shared/data/real/cinc2015_vtach_more/*.hea"]
PRIORS = ("adult", "icu")
# reference column -> (prior quantity, axis label)
CHECKS = {"hr": ("hr", "heart rate [bpm]"), "map": ("map_estimate", "mean arterial pressure [mmHg]")}


def load_prior(name: str) -> Prior:
    """The prior group ``name`` composed by hydra exactly as ``cardiosbi simulate prior=name``."""
    cfg = compose("simulate", [f"prior={name}"])
    return Prior(to_dataclass(OmegaConf.to_container(cfg.prior), PriorConfig, f"prior {name}"))


def prior_marginals(prior: Prior, n: int = 20_000, seed: int = 0) -> pd.DataFrame:
    """HR and the MAP estimate of ``n`` accepted draws."""
    draws = prior.sample([[seed, i] for i in range(n)])
    full = [prior.full(row) for row in draws.theta]
    return pd.DataFrame({"hr": [p["hr"] for p in full],
                         "map_estimate": [DERIVED["map_estimate"][1](p) for p in full]})


def real_windows(patterns: list[str]) -> pd.DataFrame:
    """References of every accepted 8-s ABP window of the records."""
    config = WindowConfig(channels=["abp"], sampling_rate=125.0, window_s=8.0, hop_s=8.0,
                          normalize=False)
    frames = []
    refs = [ref for pattern in patterns for ref in discover_records(pattern)]
    for ref in progress(refs, desc="records", unit="record"):
        try:
            _windows, quality = make_windows(load_recording(ref), config=config)
        except CardiosbiError as exc:
            print(f"skipped {Path(ref).stem}: {exc}", file=sys.stderr)
            continue
        kept = quality.loc[quality["accepted"]].copy()
        kept["record"] = Path(ref).stem
        frames.append(kept)
    rows = pd.concat(frames, ignore_index=True)
    hr_ecg = rows["hr_ecg"] if "hr_ecg" in rows else np.nan
    return pd.DataFrame({"record": rows["record"], "start_s": rows["start_s"],
                         "hr": pd.Series(hr_ecg, index=rows.index).fillna(rows["hr_abp"]),
                         "map": rows["map_abp"], "sbp": rows["sbp_abp"], "dbp": rows["dbp_abp"]})


def coverage(windows: pd.DataFrame, marginals: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Per prior and quantity: its range, central 98 %, and the share of windows outside each."""
    rows = []
    for name, draws in marginals.items():
        for column, (quantity, _label) in CHECKS.items():
            values = windows[column].dropna().to_numpy()
            lo, hi = draws[quantity].min(), draws[quantity].max()
            q01, q99 = draws[quantity].quantile([0.01, 0.99])
            records = windows.dropna(subset=[column]).assign(
                out=lambda d, lo=lo, hi=hi, c=column: (d[c] < lo) | (d[c] > hi))
            rows.append({"prior": name, "quantity": column, "prior_min": lo, "prior_max": hi,
                         "prior_q01": q01, "prior_q99": q99, "windows": len(values),
                         "outside_support": float(np.mean((values < lo) | (values > hi))),
                         "outside_central98": float(np.mean((values < q01) | (values > q99))),
                         "records_with_windows_outside": int(records.groupby("record")["out"].any().sum()),
                         "records": records["record"].nunique()})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame) -> str:
    lines = ["| prior | quantity | prior range | central 98 % | windows outside range | outside central 98 % | records with a window outside |",
             "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| {r.prior} | {r.quantity.upper()} | {r.prior_min:.0f}–{r.prior_max:.0f} | "
                     f"{r.prior_q01:.0f}–{r.prior_q99:.0f} | {100 * r.outside_support:.1f} % | "
                     f"{100 * r.outside_central98:.1f} % | {r.records_with_windows_outside}/{r.records} |")
    return "\n".join(lines)


def plot(windows: pd.DataFrame, marginals: dict[str, pd.DataFrame], path: Path) -> None:
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for ax, (column, (quantity, label)) in zip(axes, CHECKS.items(), strict=True):
        values = windows[column].dropna()
        bins = np.linspace(min(values.min(), 20), max(values.max(), 230 if column == "hr" else 160), 60)
        ax.hist(values, bins=bins, density=True, color="0.6", label=f"ICU windows (n={len(values):,})")
        for name, draws in marginals.items():
            ax.hist(draws[quantity], bins=bins, density=True, histtype="step", lw=2,
                    label=f"prior '{name}'")
        ax.set_xlabel(label)
        ax.set_ylabel("density [1 / unit]")
        ax.legend(fontsize=8)
    axes[1].set_title("prior: Ohm's-law MAP estimate (P_out + PVR·CO)", fontsize=9)
    fig.suptitle(f"Default-model priors against the accepted 8-s windows of "
                 f"{windows['record'].nunique()} ICU records")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(argv: list[str]) -> pd.DataFrame:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", nargs="+", default=RECORDS)
    parser.add_argument("--out", default="runs/prior_coverage")
    parser.add_argument("--draws", type=int, default=20_000)
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    marginals = {name: prior_marginals(load_prior(name), args.draws) for name in PRIORS}
    windows = real_windows(args.records)
    windows.to_csv(out / "windows.csv", index=False)
    table = coverage(windows, marginals)
    table.to_csv(out / "coverage.csv", index=False)
    (out / "coverage.md").write_text(markdown(table) + "\n")
    plot(windows, marginals, out / "prior_vs_icu.png")
    print(markdown(table))
    return table


if __name__ == "__main__":
    main(sys.argv[1:])
