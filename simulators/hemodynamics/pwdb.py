"""PWDB whole-body subjects (116 segments) as concrete networks.

Follows the openBF port of PWDB (openBF PR #55; notes §6.3): wall stiffness
Eh/r0 = k1 exp(k2 r0[cm]) + k3 [g s^-2 cm^-1] at the mean radius, no taper, h0 from h(r),
reference pressure = DBP in every segment, R1 = characteristic impedance of the terminal
segment, R2 = peripheral resistance - R1, outflow pressure 33.2 mmHg at the Windkessels,
velocity profile from PWDB's alpha. Subject geometry and peripheral R, C come from
``pwdb_geo`` (one CSV per subject), scalar parameters from ``pwdb_model_configs.csv``.
"""

from __future__ import annotations

import csv
import math
import re
import tarfile
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from simulators.hemodynamics.errors import NetworkError
from simulators.hemodynamics.inflow import aortic_inflow, inflow_validity
from simulators.hemodynamics.network import (
    MMHG,
    NETWORK_DIR,
    Inflow,
    Network,
    Segment,
    Site,
    Windkessel,
    empirical_wall_thickness,
)

PWDB_DIR = NETWORK_DIR / "pwdb116"
R1_MAX_FRACTION = 0.9  # R1 = min(Z0, 0.9 R_peripheral): keeps R2 > 0 (PWDB segment 26 hazard)
SITES = {  # measurement sites (notes §6.1): segment number, position along it
    "aortic_root": (1, 0.0),
    "carotid": (15, 0.5),
    "brachial": (21, 0.75),
    "radial": (22, 1.0),
    "digital": (112, 1.0),
    "femoral": (46, 0.5),
    "anterior_tibial": (49, 1.0),
}
OVERRIDABLE = (
    "hr", "sv", "lvet", "pft", "rfv", "pvr", "pvc_scale", "k3", "diameter_scale",
    "length_scale", "p_out", "p_ref",
)


@dataclass
class PWDBSubject:
    """The scalar parameters of one PWDB subject (PWDB units: bpm, mL, ms, mmHg, cgs k's)."""

    hr: float
    sv: float
    lvet: float
    pft: float
    rfv: float
    dbp: float
    mbp: float
    pvr: float  # Pa s/m^3
    pvc: float
    p_out: float  # mmHg
    viscosity: float
    density: float
    alpha: float
    k1: float
    k2: float
    k3: float
    age: float


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


@lru_cache(maxsize=1)
def segment_names() -> list[str]:
    """Segment names (slugs) of the 116-segment model, in segment-number order."""
    with open(PWDB_DIR / "116_artery_model.txt", newline="") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))[1:]
    return [_slug(r[12]) for r in rows]


@lru_cache(maxsize=1)
def _config_table() -> dict[int, dict[str, float]]:
    with open(PWDB_DIR / "pwdb_model_configs.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    header = [h.strip().split(" [")[0] for h in rows[0]]
    return {int(r[0]): dict(zip(header, map(float, r), strict=False)) for r in rows[1:]}


def n_subjects() -> int:
    return len(_config_table())


def subject_parameters(subject: int) -> PWDBSubject:
    """Scalar parameters of PWDB subject ``subject`` (1-based, 1..4374)."""
    table = _config_table()
    if subject not in table:
        raise NetworkError(f"PWDB subject {subject} does not exist (1..{len(table)})")
    r = table[subject]
    return PWDBSubject(
        hr=r["hr"], sv=r["sv"], lvet=r["lvet"], pft=r["pft"], rfv=r["rfv"], dbp=r["dbp"],
        mbp=r["mbp"], pvr=r["pvr"], pvc=r["pvc"], p_out=r["p_out"], viscosity=r["viscosity"],
        density=r["density"], alpha=r["alpha"], k1=r["k1"], k2=r["k2"], k3=r["k3"], age=r["age"],
    )


@lru_cache(maxsize=64)
def subject_geometry(subject: int) -> np.ndarray:
    """Columns seg_no, inlet_node, outlet_node, length, r_in, r_out, peripheral C, R (SI)."""
    member = f"pwdb_geo/pwdb_geo_{subject:04d}.csv"
    with tarfile.open(PWDB_DIR / "pwdb_geo.tar.gz") as tar:
        try:
            fh = tar.extractfile(member)
        except KeyError:
            raise NetworkError(f"PWDB geometry of subject {subject} not found") from None
        return np.loadtxt(fh, delimiter=",", skiprows=1, ndmin=2)


def stiffness_eh_over_r(r0: float, k1: float, k2: float, k3: float) -> float:
    """Eh/r0 [Pa] from PWDB's k1 exp(k2 r0[cm]) + k3 [g s^-2 cm^-1] (x 0.1 to Pa)."""
    return 0.1 * (k1 * math.exp(k2 * r0 * 100.0) + k3)


def pwdb_subject_network(subject: int = 1, viscoelastic: bool = False, **overrides: float) -> Network:
    """The network of PWDB subject ``subject``, optionally with new parameter values.

    ``viscoelastic`` gives every segment the Voigt wall with PWDB's b0 = 600 g/s and
    b1 = 150 g cm/s (PWDB itself spared segments < 1.1 cm, a time-step limit of its explicit
    scheme that our implicit step does not have; elastic walls by default, as the openBF port).

    Overrides (registry names and units): hr [bpm], sv [mL], lvet [ms], pft [ms], rfv [mL],
    pvr [Pa s/m^3] (rescales all peripheral resistances), pvc_scale (peripheral compliances
    = reference subject's x pvc_scale), k3 [g/(s^2 cm)], diameter_scale (all radii),
    length_scale (all lengths), p_out [mmHg], p_ref [mmHg] (tube-law reference pressure).
    """
    unknown = sorted(set(overrides) - set(OVERRIDABLE))
    if unknown:
        raise NetworkError(f"unknown PWDB parameter(s) {unknown}; valid: {', '.join(OVERRIDABLE)}")
    sp = subject_parameters(subject)
    geo = subject_geometry(subject)
    v = {
        "hr": sp.hr, "sv": sp.sv, "lvet": sp.lvet, "pft": sp.pft, "rfv": sp.rfv, "pvr": None,
        "pvc_scale": None, "k3": sp.k3, "diameter_scale": 1.0, "length_scale": 1.0,
        "p_out": sp.p_out, "p_ref": sp.dbp,
    }
    v.update({k: float(x) for k, x in overrides.items()})
    rho, zeta = sp.density, (2.0 - sp.alpha) / (sp.alpha - 1.0)
    r_per, c_per = geo[:, 7].copy(), geo[:, 6].copy()
    terminal = r_per > 0
    if v["pvr"] is not None:
        r_per[terminal] *= v["pvr"] / (1.0 / np.sum(1.0 / r_per[terminal]))
    if v["pvc_scale"] is not None:
        c_per = subject_geometry(1)[:, 6] * v["pvc_scale"]
    names = segment_names()
    segments = []
    for i, row in enumerate(geo):
        r0 = float(0.5 * (row[4] + row[5]) * v["diameter_scale"])
        eh_r = stiffness_eh_over_r(r0, sp.k1, sp.k2, v["k3"])
        h0 = float(empirical_wall_thickness(r0))
        seg = Segment(
            name=names[i], sn=int(row[1]), tn=int(row[2]), length=float(row[3] * v["length_scale"]),
            r_prox=r0, r_dist=r0, E=eh_r * r0 / h0, h0=h0, p_ref=v["p_ref"] * MMHG,
            gamma_profile=float(zeta), viscoelastic=bool(viscoelastic),
        )
        if terminal[i]:
            z0 = rho * math.sqrt((2.0 / 3.0) * eh_r / rho) / (math.pi * r0**2)
            r1 = min(z0, R1_MAX_FRACTION * r_per[i])
            seg.outlet = Windkessel(
                R1=float(r1), R2=float(r_per[i] - r1), C=float(c_per[i]), p_out=v["p_out"] * MMHG
            )
        segments.append(seg)
    hr, sv, lvet, pft, rfv = (np.array([v[k]]) for k in ("hr", "sv", "lvet", "pft", "rfv"))
    if not bool(inflow_validity(hr, lvet, pft)[0]):
        raise NetworkError(f"inflow timings do not fit one beat: HR {v['hr']}, LVET {v['lvet']}, PFT {v['pft']}")
    t, q = aortic_inflow(hr, sv, lvet, pft, rfv)
    net = Network(
        name=f"pwdb116_subject{subject:04d}", segments=segments,
        inflow=Inflow(t=t[0].tolist(), q=q[0].tolist()), rho=rho, mu=sp.viscosity, cfl=0.75,
        max_cycles=30, tolerance_mmhg=1.0, samples_per_cycle=200,
        sites={k: Site(segment=names[n - 1], position=pos) for k, (n, pos) in SITES.items()},
    )
    net.validate()
    return net


def r1_clamped(net: Network) -> bool:
    """True when some terminal's R1 was limited below its characteristic impedance."""
    return any(
        isinstance(s.outlet, Windkessel) and s.outlet.R1 >= R1_MAX_FRACTION * (s.outlet.R1 + s.outlet.R2) * (1 - 1e-12)
        for s in net.segments
    )
