"""The one-page summary: which design keeps which quantity identifiable for which skin tone."""

from __future__ import annotations

import pandas as pd

from cardiosbi.sensor_design.design import SensorDesign
from cardiosbi.sensor_design.figures import LABELS
from cardiosbi.sensor_design.identifiability import Thresholds
from cardiosbi.sensor_design.windows import SKIN_TONES, TARGETS

MODEL_LIMITS = (
    "Model limits (read before trusting a verdict): the blood-volume drive is a lumped "
    "three-element Windkessel, not the site's own wave; light transport is the two-layer "
    "diffusion approximation, marginal at 530 nm where it makes green pulses too strong; "
    "noise is shot noise plus a white front-end floor (no motion, no ambient light); SV reaches "
    "a normalised PPG only through shape, which a Windkessel does not give it."
)


def design_summary(table: pd.DataFrame, designs: list[SensorDesign], thresholds: Thresholds,
                   perfusion: str, spo2: pd.DataFrame | None = None) -> str:
    """Markdown: the designs, then per noise floor a design x skin-tone table of the quantities
    identifiable at ``perfusion`` perfusion, then the quantities no design recovers, the cells
    where a posterior was overconfident and (``spo2`` from :func:`spo2_comparison`) the SpO2
    error of the NPE beside the classical ratio-of-ratios curve."""
    part = table[table["perfusion"] == perfusion]
    lines = ["# Sensor design: what each design keeps identifiable", "",
             f"A quantity is identifiable when its median 90 % interval is at most "
             f"{thresholds.max_relative_width:.2f} of the prior's 5-95 % range and the intervals "
             f"cover at least {thresholds.min_coverage:.2f} of held-out truths. "
             f"Perfusion stratum: {perfusion}. Noise floor: SD per sample in the optical model's "
             "detected-intensity units (light per unit source power and detector area, 1/cm²); a "
             "floor 10x lower is the same as an LED 10x stronger. Perfusion = blood fraction x "
             "pulsatile fraction, the arterial blood a beat adds to the dermis.",
             "", "| design | LEDs [nm] | geometry | distance [mm] | LED power |", "|---|---|---|---|---|"]
    lines += [f"| {d.name} | {', '.join(f'{w:.0f}' for w in d.wavelengths_nm)} | {d.geometry} | "
              f"{d.distance_mm:g} | {d.led_power:g} |" for d in designs]
    for floor in sorted(part["noise_floor"].unique()):
        lines += ["", f"## Noise floor {floor:.0e}", "", "| design | " + " | ".join(
            f"Fitzpatrick {t}" for t in SKIN_TONES) + " |", "|---" * (len(SKIN_TONES) + 1) + "|"]
        at_floor = part[part["noise_floor"] == floor]
        for design in designs:
            cells = [_identified(at_floor, design.name, tone) for tone in SKIN_TONES]
            lines.append(f"| {design.name} | " + " | ".join(cells) + " |")
    lines += ["", _never_identified(part), "", _overconfident(table, thresholds)]
    if spo2 is not None and not spo2.empty:
        lines += ["", *_spo2_lines(spo2[spo2["perfusion"] == perfusion])]
    lines += ["", MODEL_LIMITS, ""]
    return "\n".join(lines)


def _spo2_lines(spo2: pd.DataFrame) -> list[str]:
    """SpO2 RMSE [percentage points], NPE / classical ratio of ratios, per design and skin tone."""
    lines = ["## SpO2: NPE posterior median vs the classical ratio-of-ratios curve",
             "", "RMSE in SpO2 points, NPE / ratio of ratios (quadratic in R fitted on the same "
             "training windows).", "",
             "| design | noise floor | " + " | ".join(f"Fitzpatrick {t}" for t in SKIN_TONES) + " |",
             "|---|---" + "|---" * len(SKIN_TONES) + "|"]
    for (design, floor), group in spo2.groupby(["design", "noise_floor"], sort=False):
        by_tone = group.set_index("skin_tone")
        cells = [f"{100 * by_tone.loc[t, 'rmse_npe']:.1f} / {100 * by_tone.loc[t, 'rmse_ratio_of_ratios']:.1f}"
                 if t in by_tone.index else "-" for t in SKIN_TONES]
        lines.append(f"| {design} | {floor:.0e} | " + " | ".join(cells) + " |")
    return lines


def _identified(part: pd.DataFrame, design: str, tone: str) -> str:
    rows = part[(part["design"] == design) & (part["skin_tone"] == tone) & part["identifiable"]]
    names = [LABELS[t] for t in TARGETS if t in set(rows["target"])]
    return ", ".join(names) if names else "none"


def _never_identified(part: pd.DataFrame) -> str:
    ever = set(part.loc[part["identifiable"], "target"])
    never = [LABELS[t] for t in TARGETS if t not in ever]
    if not never:
        return "Every quantity is identifiable under at least one design and condition."
    return f"Not identifiable by any design under any condition here: {', '.join(never)}."


def _overconfident(table: pd.DataFrame, thresholds: Thresholds) -> str:
    low = table[table["coverage90"] < thresholds.min_coverage]
    if low.empty:
        return f"Every cell's 90 % coverage is at least {thresholds.min_coverage:.2f}."
    worst = low.nsmallest(1, "coverage90").iloc[0]
    return (f"{len(low)} of {len(table)} cells cover less than {thresholds.min_coverage:.2f} "
            f"(overconfident; worst: {worst['design']}, {LABELS[worst['target']]}, Fitzpatrick "
            f"{worst['skin_tone']}, {worst['perfusion']} perfusion, floor {worst['noise_floor']:.0e}: "
            f"{worst['coverage90']:.2f}). Those cells are never called identifiable.")
