"""The one registry of parameters and biomarkers: names, units, bounds and definitions.

Every simulator parameter, every label in a simulated dataset and every biomarker a posterior
reports is looked up here, so units and physiological bounds are stated once. Bounds are
*physiological plausibility* limits (used to validate inputs and to bound priors), not priors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from cardiosbi.errors import ConfigError

Kind = Literal["parameter", "biomarker"]


@dataclass(frozen=True)
class Quantity:
    """A named physical quantity with unit, plausible bounds and a definition."""

    name: str
    unit: str
    low: float
    high: float
    description: str
    kind: Kind

    def check(self, value: float) -> bool:
        """True when ``value`` lies within the physiological bounds (inclusive)."""
        return self.low <= value <= self.high


_QUANTITIES = [
    # --- biomarkers (what a posterior reports; also dataset labels) ---
    Quantity("hr", "bpm", 30.0, 220.0, "Heart rate, 60 / cardiac period.", "biomarker"),
    Quantity("sv", "mL", 10.0, 200.0, "Stroke volume: net aortic inflow volume per beat.", "biomarker"),
    Quantity("co", "L/min", 0.5, 20.0, "Cardiac output = HR * SV / 1000.", "biomarker"),
    Quantity(
        "svr", "dyn*s/cm^5", 200.0, 4000.0,
        "Systemic vascular resistance = 80 * (MAP - P_out) / CO with MAP at the aortic root and "
        "P_out the Windkessel outflow (venous) pressure, both in mmHg, CO in L/min.",
        "biomarker",
    ),
    Quantity("lvet", "ms", 150.0, 450.0, "Left-ventricular ejection time: duration of positive aortic inflow.", "biomarker"),
    Quantity("map", "mmHg", 30.0, 180.0, "Mean arterial pressure: time average over one beat at the measurement site.", "biomarker"),
    Quantity("sbp", "mmHg", 50.0, 260.0, "Systolic blood pressure: beat maximum at the measurement site.", "biomarker"),
    Quantity("dbp", "mmHg", 20.0, 150.0, "Diastolic blood pressure: beat minimum at the measurement site.", "biomarker"),
    Quantity("pp", "mmHg", 5.0, 150.0, "Pulse pressure = SBP - DBP at the measurement site.", "biomarker"),
    Quantity(
        "pwv_cf", "m/s", 2.0, 25.0,
        "Carotid-femoral pulse-wave velocity: path length difference over foot-to-foot transit time.",
        "biomarker",
    ),
    Quantity(
        "tac", "mL/mmHg", 0.1, 5.0,
        "Total arterial compliance: 1D network compliance plus all peripheral Windkessel compliances.",
        "biomarker",
    ),
    # --- simulator parameters (prior dimensions) ---
    Quantity("pft", "ms", 40.0, 200.0, "Time from ejection onset to peak aortic flow.", "parameter"),
    Quantity("rfv", "mL", 0.0, 10.0, "Reverse (regurgitant) flow volume after valve closure.", "parameter"),
    Quantity("pvr", "Pa*s/m^3", 2.0e7, 5.0e8, "Total peripheral vascular resistance of all Windkessels in parallel.", "parameter"),
    Quantity("pvc_scale", "1", 0.2, 3.0, "Multiplier on the reference peripheral compliances.", "parameter"),
    Quantity("k3", "g/(s^2*cm)", 1.0e5, 5.0e6, "Stiffness offset in Eh/r0 = k1*exp(k2*r0) + k3 (PWDB convention).", "parameter"),
    Quantity("diameter_scale", "1", 0.6, 1.5, "Multiplier on reference large-artery diameters.", "parameter"),
    Quantity("length_scale", "1", 0.7, 1.3, "Multiplier on all segment lengths (body height / 170 cm).", "parameter"),
    Quantity("height", "cm", 140.0, 210.0, "Body height; segment lengths scale with height / 170 cm.", "parameter"),
    Quantity("age", "years", 18.0, 95.0, "Age of the virtual subject.", "parameter"),
    Quantity("p_out", "mmHg", 0.0, 40.0, "Outflow (venous) pressure downstream of every Windkessel.", "parameter"),
    Quantity("p_ref", "mmHg", 0.0, 120.0, "Reference pressure of the tube law (pressure at A = A0).", "parameter"),
    # --- optical PPG sensor/skin parameters (simulators/ppg/optical.py) ---
    Quantity("melanin", "1", 0.0, 0.5, "Melanin volume fraction of the epidermis (skin tone).", "parameter"),
    Quantity("blood_fraction", "1", 0.001, 0.1, "Blood volume fraction of the dermis.", "parameter"),
    Quantity("pulsatile_fraction", "1", 0.0, 0.3, "Peak relative increase of dermal blood volume over a beat.", "parameter"),
    Quantity("pulsatile_blood_fraction", "1", 0.0, 0.03,
             "Peak arterial blood added to the dermis over a beat, as a volume fraction: blood_fraction "
             "* pulsatile_fraction (the skin's pulsatile perfusion, before contact pressure).", "biomarker"),
    Quantity("spo2", "1", 0.6, 1.0, "Arterial oxygen saturation.", "parameter"),
    Quantity("perfusion_index", "%", 0.0, 100.0, "Optical PPG AC / DC * 100 at the sensor.", "biomarker"),
    Quantity("tissue_saturation", "1", 0.2, 1.0,
             "Oxygen saturation of the non-pulsatile (mostly venous) skin blood.", "parameter"),
    Quantity("epidermis_thickness", "mm", 0.01, 1.0,
             "Epidermis thickness under the sensor (about 0.05-0.15 mm at the wrist, thicker on glabrous skin).",
             "parameter"),
    Quantity("dermis_thickness", "mm", 0.3, 5.0, "Dermis thickness under the sensor (the diffusion top layer).",
             "parameter"),
    Quantity("sensor_distance", "mm", 0.0, 30.0,
             "Source-detector distance (reflectance; lateral offset in transmission).", "parameter"),
    Quantity("contact_pressure", "mmHg", 0.0, 200.0,
             "Pressure of the sensor on the skin: squeezes venous blood, raises arterial pulsatility "
             "(simulators/ppg/sensor.py).", "parameter"),
    Quantity("led_gain", "1", 0.05, 20.0,
             "LED power times detector responsivity relative to nominal; scales DC and AC, not their ratio.",
             "parameter"),
    Quantity("deep_pulsatile_share", "1", 0.0, 1.0,
             "Share of the pulsatile arterial blood in the subcutis (deep plexus) rather than the dermis.",
             "parameter"),
    Quantity("dc", "1/cm^2", 0.0, 1000.0,
             "Optical PPG DC at one wavelength (label dc_<nm>): mean detected light per unit source power "
             "times the LED gain, plus ambient light.", "biomarker"),
    Quantity("ac", "1/cm^2", 0.0, 1000.0,
             "Optical PPG AC at one wavelength (label ac_<nm>): beat maximum minus minimum of the detected "
             "light, in the units of dc.", "biomarker"),
    Quantity("pi", "%", 0.0, 100.0,
             "Perfusion index at one wavelength (label pi_<nm>) = 100 * AC / DC.", "biomarker"),
    Quantity("spo2_ratio", "1", 0.05, 10.0,
             "Ratio of ratios R = (AC/DC at red) / (AC/DC at infrared), the pulse oximeter's SpO2 "
             "observable (simulators/ppg/spo2.py).", "biomarker"),
]

REGISTRY: dict[str, Quantity] = {q.name: q for q in _QUANTITIES}


def get(name: str) -> Quantity:
    """Look up a quantity by name; the error lists the valid names."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError(
            f"unknown parameter or biomarker {name!r}; valid names: {', '.join(sorted(REGISTRY))}"
        ) from None


def quantity_of(label: str) -> Quantity:
    """The quantity of a dataset label; per-site labels (``map_radial``) share their base's."""
    parts = label.split("_")
    for end in range(len(parts), 0, -1):  # longest registered prefix: map_aortic_root -> map
        base = "_".join(parts[:end])
        if base in REGISTRY:
            return REGISTRY[base]
    return get(label)  # raises, listing the valid names


def names(kind: Kind | None = None) -> list[str]:
    """Registered names, optionally only parameters or only biomarkers."""
    return [q.name for q in _QUANTITIES if kind is None or q.kind == kind]


def as_table() -> list[dict[str, object]]:
    """The registry as rows (for docs, model cards and saved posteriors)."""
    return [
        {"name": q.name, "unit": q.unit, "low": q.low, "high": q.high, "kind": q.kind,
         "description": q.description}
        for q in _QUANTITIES
    ]
