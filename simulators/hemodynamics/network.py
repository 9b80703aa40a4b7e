"""The project's arterial-network format: dataclasses, validation and YAML on disk.

A :class:`Network` is a list of :class:`Segment` objects joined at numbered nodes, one
prescribed-flow inlet (:class:`Inflow`) and terminal outlets (:class:`Windkessel` or
:class:`Reflection`). Units are SI throughout (m, Pa, m^3/s, kg/m^3, Pa s).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import yaml

from simulators.hemodynamics.errors import NetworkError
from simulators.hemodynamics.viscoelastic import WALL_B0, WALL_B1

MMHG = 133.322  # Pa per mmHg
NETWORK_DIR = Path(__file__).parent / "networks"
SHIPPED = ("cca", "uta", "ibif", "adan56", "pwdb116")


@dataclass
class Windkessel:
    """Three-element (RCR) Windkessel outlet: R1 [Pa s/m^3], R2 [Pa s/m^3], C [m^3/Pa]."""

    R1: float
    R2: float
    C: float
    p_out: float = 0.0  # outflow (venous) pressure [Pa]


@dataclass
class Reflection:
    """Outlet with a constant reflection coefficient Rt for the incoming characteristic."""

    Rt: float


@dataclass
class Segment:
    """One arterial segment between nodes ``sn`` (upstream) and ``tn`` (downstream).

    Wall: ``E`` [Pa] with thickness ``h0`` [m]; ``h0 = None`` uses the empirical h(R0) law.
    ``p_ref`` is the pressure at which the lumen area equals A0 = pi R0^2.
    ``viscoelastic`` adds the Voigt wall term of :mod:`viscoelastic` (coefficients b0, b1 of the
    network).
    """

    name: str
    sn: int
    tn: int
    length: float
    r_prox: float
    r_dist: float
    E: float
    h0: float | None = None
    p_ref: float = 0.0
    gamma_profile: float = 2.0
    min_cells: int = 0
    outlet: Windkessel | Reflection | None = None
    viscoelastic: bool = False

    @property
    def tapered(self) -> bool:
        return self.r_prox != self.r_dist


@dataclass
class Inflow:
    """Prescribed aortic flow over one period: ``t`` [s] from 0 to the period, ``q`` [m^3/s]."""

    t: list[float]
    q: list[float]

    @property
    def period(self) -> float:
        return float(self.t[-1])


@dataclass
class Site:
    """A named measurement site: a position (0 = upstream end, 1 = downstream end) on a segment."""

    segment: str
    position: float


@dataclass
class Network:
    """A whole arterial network with blood properties and default solver settings.

    ``wall_b0`` [kg/s] and ``wall_b1`` [kg m/s] set the Voigt wall coefficient
    Gamma = b0 + b1 / (2 R0) of its viscoelastic segments (PWDB's values by default).
    """

    name: str
    segments: list[Segment]
    inflow: Inflow
    rho: float = 1060.0
    mu: float = 4.0e-3
    cfl: float = 0.9
    max_cycles: int = 30
    tolerance_mmhg: float = 1.0
    samples_per_cycle: int = 100
    sites: dict[str, Site] = field(default_factory=dict)
    wall_b0: float = WALL_B0
    wall_b1: float = WALL_B1

    def segment(self, name: str) -> Segment:
        for seg in self.segments:
            if seg.name == name:
                return seg
        raise NetworkError(f"network {self.name!r} has no segment {name!r}")

    def validate(self) -> None:
        """Check topology and values; raise NetworkError naming the first problem."""
        validate_network(self)


def empirical_wall_thickness(r0: np.ndarray | float) -> np.ndarray | float:
    """Wall thickness h0(R0) = R0 (a e^{b R0} + c e^{d R0}) used when h0 is not given (R0 in m)."""
    a, b, c, d = 0.2802, -505.3, 0.1324, -11.14
    return r0 * (a * np.exp(b * r0) + c * np.exp(d * r0))


def wall_beta(E: float, h0: float | None, r0: np.ndarray | float) -> np.ndarray | float:
    """Tube-law stiffness beta = (4/3) E h0 / R0 [Pa] (Poisson ratio 0.5)."""
    h = empirical_wall_thickness(r0) if h0 is None else h0
    return (4.0 / 3.0) * E * h / r0


def characteristic_impedance(seg: Segment, rho: float) -> float:
    """Z0 = rho c0 / A0 at the distal radius of ``seg`` [Pa s/m^3]."""
    r0 = seg.r_dist
    beta = float(wall_beta(seg.E, seg.h0, r0))
    a0 = math.pi * r0**2
    return rho * math.sqrt(beta / (2.0 * rho)) / a0


def validate_network(net: Network) -> None:
    if not net.segments:
        raise NetworkError(f"network {net.name!r} has no segments")
    for key in ("wall_b0", "wall_b1"):
        value = getattr(net, key)
        if not (math.isfinite(value) and value >= 0):
            raise NetworkError(f"network {net.name!r}: {key} must be >= 0, got {value}")
    names = [s.name for s in net.segments]
    dup = {n for n in names if names.count(n) > 1}
    if dup:
        raise NetworkError(f"duplicate segment names: {sorted(dup)}")
    for s in net.segments:
        for key in ("length", "r_prox", "r_dist", "E"):
            value = getattr(s, key)
            if not (math.isfinite(value) and value > 0):
                raise NetworkError(f"segment {s.name!r}: {key} must be > 0, got {value}")
        if s.h0 is not None and not s.h0 > 0:
            raise NetworkError(f"segment {s.name!r}: h0 must be > 0 (or omitted), got {s.h0}")
        if isinstance(s.outlet, Windkessel):
            w = s.outlet
            if not (w.R1 >= 0 and w.R2 > 0 and w.C > 0):
                raise NetworkError(
                    f"segment {s.name!r}: Windkessel needs R1 >= 0, R2 > 0, C > 0 "
                    f"(got R1={w.R1}, R2={w.R2}, C={w.C})"
                )
    parents: dict[int, list[str]] = {}
    children: dict[int, list[str]] = {}
    for s in net.segments:
        children.setdefault(s.sn, []).append(s.name)
        parents.setdefault(s.tn, []).append(s.name)
    roots = [n for n in children if n not in parents]
    if len(roots) != 1 or len(children[roots[0]]) != 1:
        raise NetworkError(
            f"network {net.name!r} needs exactly one inlet segment (a node with no parent and one "
            f"child); found inlet nodes {roots}"
        )
    for s in net.segments:
        terminal = s.tn not in children
        if terminal and s.outlet is None:
            raise NetworkError(f"terminal segment {s.name!r} needs an outlet (Windkessel or Rt)")
        if not terminal and s.outlet is not None:
            raise NetworkError(f"segment {s.name!r} has an outlet but continues at node {s.tn}")
    t = np.asarray(net.inflow.t, dtype=float)
    if t.ndim != 1 or len(t) < 2 or t[0] != 0.0 or np.any(np.diff(t) <= 0):
        raise NetworkError("inflow times must start at 0 and increase strictly")
    if len(net.inflow.q) != len(t) or not np.all(np.isfinite(net.inflow.q)):
        raise NetworkError("inflow needs one finite flow value per time")
    for site_name, site in net.sites.items():
        net.segment(site.segment)
        if not 0.0 <= site.position <= 1.0:
            raise NetworkError(f"site {site_name!r}: position must lie in [0, 1]")


def _outlet_from_dict(d: dict | None) -> Windkessel | Reflection | None:
    if d is None:
        return None
    if "Rt" in d:
        return Reflection(**d)
    return Windkessel(**d)


def network_from_dict(data: dict) -> Network:
    """Build a Network from the plain dictionary of the project's YAML format."""
    try:
        segments = [
            Segment(**{**s, "outlet": _outlet_from_dict(s.get("outlet"))})
            for s in data["segments"]
        ]
        fields = {k: v for k, v in data.items() if k not in ("segments", "inflow", "sites")}
        net = Network(
            segments=segments,
            inflow=Inflow(**data["inflow"]),
            sites={k: Site(**v) for k, v in (data.get("sites") or {}).items()},
            **fields,
        )
    except (KeyError, TypeError) as exc:
        raise NetworkError(f"invalid network definition: {exc}") from None
    net.validate()
    return net


def network_to_dict(net: Network) -> dict:
    """The plain dictionary written to YAML (inverse of :func:`network_from_dict`)."""
    return dataclasses.asdict(net)


def save_network(net: Network, path: str | Path) -> Path:
    """Write ``net`` in the project's YAML format."""
    path = Path(path)
    path.write_text(yaml.safe_dump(network_to_dict(net), sort_keys=False, width=100))
    return path


def load_network(name_or_path: str | Path, allow_outside_paths: bool = False) -> Network:
    """Load a shipped network by name (cca, uta, ibif, adan56, pwdb116) or a YAML file.

    A file in openBF syntax (it has a ``network:`` list) is imported with
    :func:`simulators.hemodynamics.openbf.import_openbf`; its inlet file must lie in the YAML's
    folder unless ``allow_outside_paths``.
    """
    if str(name_or_path) in SHIPPED:
        path = NETWORK_DIR / f"{name_or_path}.yaml"
    else:
        path = Path(name_or_path)
    if not path.is_file():
        raise NetworkError(
            f"network not found: {name_or_path} (give a YAML file or one of {', '.join(SHIPPED)})"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise NetworkError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, dict):
        raise NetworkError(f"{path}: expected a YAML mapping at the top level")
    if "network" in data:
        from simulators.hemodynamics.openbf import import_openbf

        return import_openbf(path, allow_outside_paths)
    return network_from_dict(data)
