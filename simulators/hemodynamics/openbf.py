"""Import openBF YAML networks (openBF 2.x and 1.x key spellings) into the project's format.

Deliberate differences from openBF, all documented here:
- an outlet giving ``Cc`` and ``R1`` but no ``R2`` is read as total resistance R1 split into
  R1 = Z0 (characteristic impedance) and R2 = R1 - Z0 (openBF keeps R1 and makes the total
  2 R1 - Z0, see notes §2.4);
- ``Rp``/``Rd`` tapering is applied physically (R0 linear along the segment), not with openBF's
  per-cell slope quirk;
- openBF 1.x ``conv_tol`` (a percentage) is used as the tolerance in mmHg;
- ``visco-elastic: true`` gives the Voigt wall of :mod:`viscoelastic` with openBF's b0, b1 but
  a backward-Euler (not Crank-Nicolson) implicit step, see there.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import yaml

from simulators.hemodynamics.errors import NetworkError
from simulators.hemodynamics.network import (
    Inflow,
    Network,
    Reflection,
    Segment,
    Windkessel,
    characteristic_impedance,
)

log = logging.getLogger(__name__)

_NAME_KEYS = ("project_name", "project name", "proj_name")
_INLET_KEYS = ("inlet_file", "inlet file")
_TOL_KEYS = ("convergence_tolerance", "convergence tolerance", "conv_tol")
_JUMP_KEYS = ("jump", "num_snapshots")
_VESSEL_KEYS = {
    "label", "sn", "tn", "L", "E", "R0", "Rp", "Rd", "h0", "M", "gamma_profile", "Pext",
    "R1", "R2", "Cc", "Rt", "Pout", "outlet", "inlet", "inlet file", "inlet_file",
    "inlet number", "inlet_number", "phi", "visco-elastic", "inlet_impedance_matching",
}


def _first(mapping: dict, keys: tuple[str, ...], default=None):
    for key in keys:
        if key in mapping:
            return mapping[key]
    return default


def read_inflow_file(path: Path) -> Inflow:
    """Read a two-column inlet file (t [s], Q [m^3/s]); the last time is the period.

    Errors name the file, never its contents (numpy's message quotes the offending line)."""
    try:
        data = np.loadtxt(path, ndmin=2)
    except OSError as exc:
        raise NetworkError(f"cannot read inlet file {path}: {exc.strerror or type(exc).__name__}") from None
    except ValueError:
        raise NetworkError(f"cannot read inlet file {path}: expected two numeric columns "
                           "(t [s], Q [m^3/s]) on every line") from None
    if data.shape[1] < 2 or len(data) < 2:
        raise NetworkError(f"inlet file {path} needs two columns (t, Q) and at least 2 rows")
    t, q = data[:, 0], data[:, 1]
    if t[0] != 0.0:  # openBF interpolates from the first row; shift so the period starts at 0
        t = t - t[0]
    return Inflow(t=t.tolist(), q=q.tolist())


def _find_inlet_file(data: dict, yaml_path: Path, allow_outside_paths: bool = False) -> Path:
    """The inlet file named in the network, looked up beside the YAML (as given, then by name).

    A path leading out of the YAML's folder (``../``, absolute, or a link) is refused unless
    ``allow_outside_paths``: a network file from elsewhere must not make us read any file."""
    name = _first(data, _INLET_KEYS)
    for vessel in data["network"]:
        name = name or _first(vessel, _INLET_KEYS)
    if name is None:
        raise NetworkError(f"{yaml_path}: no inlet file given (inlet_file / 'inlet file')")
    folder = yaml_path.parent.resolve()
    found = [c for c in (yaml_path.parent / str(name), yaml_path.parent / Path(str(name)).name)
             if c.is_file()]
    inside = [c for c in found if c.resolve().is_relative_to(folder)]
    if allow_outside_paths and found:
        return found[0]
    if inside:
        return inside[0]
    if found:
        raise NetworkError(f"inlet file {name!r} is outside the network's folder {folder}; "
                           "copy it there, or pass allow_outside_paths=true to read it anyway")
    raise NetworkError(f"inlet file not found: {yaml_path.parent / str(name)}")


def _segment(vessel: dict, rho: float) -> Segment:
    label = str(vessel.get("label", f"vessel_{vessel.get('sn')}_{vessel.get('tn')}"))
    unknown = sorted(set(vessel) - _VESSEL_KEYS)
    if unknown:
        log.warning("vessel %s: ignoring unknown openBF keys %s", label, unknown)
    if vessel.get("inlet_impedance_matching"):
        raise NetworkError(f"vessel {label}: inlet_impedance_matching is not supported")
    try:
        r_prox = float(vessel["R0"] if "R0" in vessel else vessel["Rp"])
        r_dist = float(vessel["R0"] if "R0" in vessel else vessel.get("Rd", r_prox))
        seg = Segment(
            name=label,
            sn=int(vessel["sn"]),
            tn=int(vessel["tn"]),
            length=float(vessel["L"]),
            r_prox=r_prox,
            r_dist=r_dist,
            E=float(vessel["E"]),
            h0=float(vessel["h0"]) if "h0" in vessel else None,
            p_ref=float(vessel.get("Pext", 0.0)),
            gamma_profile=float(vessel.get("gamma_profile", 2.0)),
            min_cells=int(vessel.get("M", 0)),
            viscoelastic=_flag(vessel.get("visco-elastic", False), label),
        )
    except KeyError as exc:
        raise NetworkError(f"vessel {label}: missing key {exc}") from None
    seg.outlet = _outlet(vessel, seg, rho)
    return seg


def _flag(value, label: str) -> bool:
    """A YAML boolean (openBF reads ``visco-elastic`` as a Julia Bool)."""
    if not isinstance(value, bool):
        raise NetworkError(f"vessel {label}: visco-elastic must be true or false, got {value!r}")
    return value


def _outlet(vessel: dict, seg: Segment, rho: float) -> Windkessel | Reflection | None:
    p_out = float(vessel.get("Pout", 0.0))
    if "Cc" in vessel:
        c = float(vessel["Cc"])
        if "R2" in vessel:
            r1 = float(vessel["R1"]) if "R1" in vessel else characteristic_impedance(seg, rho)
            return Windkessel(R1=r1, R2=float(vessel["R2"]), C=c, p_out=p_out)
        total = float(vessel["R1"])
        z0 = characteristic_impedance(seg, rho)
        return Windkessel(R1=z0, R2=total - z0, C=c, p_out=p_out)
    if "Rt" in vessel:
        return Reflection(Rt=float(vessel["Rt"]))
    return None


def import_openbf(path: str | Path, allow_outside_paths: bool = False) -> Network:
    """Read an openBF YAML network (2.x or 1.x spelling) and its inlet file (which must be in
    the YAML's folder unless ``allow_outside_paths``)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise NetworkError(f"cannot read openBF network {path}: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("network"), list):
        raise NetworkError(f"{path}: not an openBF network (no 'network:' list)")
    try:
        net = _network(data, path, allow_outside_paths)
    except NetworkError:
        raise
    except (KeyError, TypeError, ValueError) as exc:  # a missing key or a non-numeric value
        what = f"missing key {exc}" if isinstance(exc, KeyError) else str(exc)
        raise NetworkError(f"{path}: {what}") from None
    net.validate()
    return net


def _network(data: dict, path: Path, allow_outside_paths: bool) -> Network:
    blood = data.get("blood", {})
    solver = data.get("solver", {})
    rho = float(blood.get("rho", 1060.0))
    return Network(
        name=str(_first(data, _NAME_KEYS, path.stem)),
        segments=[_segment(v, rho) for v in data["network"]],
        inflow=read_inflow_file(_find_inlet_file(data, path, allow_outside_paths)),
        rho=rho,
        mu=float(blood.get("mu", 4.0e-3)),
        cfl=float(solver.get("Ccfl", 0.9)),
        max_cycles=int(solver.get("cycles", 30)),
        tolerance_mmhg=float(_first(solver, _TOL_KEYS, 1.0)),
        samples_per_cycle=int(_first(solver, _JUMP_KEYS, 100)),
    )
