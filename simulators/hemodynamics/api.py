"""Public entry point: ``simulate(params, network=..., sites=..., fs=...) -> SimulationResult``."""

from __future__ import annotations

import copy
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from simulators.hemodynamics.errors import NetworkError, NoValidSubjectError
from simulators.hemodynamics.inflow import aortic_inflow, inflow_validity
from simulators.hemodynamics.labels import (
    PWV_PLAUSIBLE,
    heart_labels,
    path_length,
    pressure_labels,
    pulse_wave_velocity,
    total_arterial_compliance,
    transit_time,
)
from simulators.hemodynamics.layout import Parameters, Topology, build_layout
from simulators.hemodynamics.network import MMHG, Inflow, Network, Site, Windkessel, load_network
from simulators.hemodynamics.pwdb import OVERRIDABLE, pwdb_subject_network, r1_clamped
from simulators.hemodynamics.solver import RunOutput, RunSettings, pressure_at, run

log = logging.getLogger(__name__)

HEART = ("hr", "sv", "lvet", "pft", "rfv")
NOT_PERIODIC, INVALID = 5, 6
PWV_SITES = ("carotid", "femoral")


@dataclass
class SimulationResult:
    """Outputs of :func:`simulate` for a batch of B subjects (the layout the dataset pipeline reads).

    ``waveforms[site][signal]`` is (B, T) at ``fs``; signals P [Pa], Q [m^3/s], A [m^2] and, at
    Windkessel sites, Pc [Pa] and Q_out [m^3/s]. Subjects with a shorter beat than the longest
    one continue periodically. ``status`` 0 = ok; ``reason`` names the failure.
    """

    fs: float
    t: torch.Tensor
    waveforms: dict[str, dict[str, torch.Tensor]]
    site_info: dict[str, dict]
    labels: dict[str, torch.Tensor]
    status: torch.Tensor
    reason: list[str]
    cycles: torch.Tensor
    converged: torch.Tensor
    r1_clamped: torch.Tensor = field(default_factory=lambda: torch.zeros(0, dtype=torch.bool))


def _batch_values(params: Mapping[str, object]) -> tuple[dict[str, np.ndarray], int]:
    values = {k: np.atleast_1d(np.asarray(torch.as_tensor(v).cpu(), dtype=np.float64)) for k, v in params.items()}
    sizes = {len(v) for v in values.values()}
    if len(sizes) > 1:
        raise NetworkError(f"all parameters need the same batch length, got {sorted(sizes)}")
    if "height" in values:
        values["length_scale"] = values.pop("height") / 170.0
    unknown = sorted(set(values) - set(OVERRIDABLE))
    if unknown:
        raise NetworkError(f"unknown parameter(s) {unknown}; valid: {', '.join(OVERRIDABLE)}, height")
    return values, (sizes.pop() if sizes else 1)


def _generic_subject(base: Network, v: dict[str, float]) -> Network:
    """A copy of a non-PWDB network with the given parameter values applied."""
    if "k3" in v:
        raise NetworkError("k3 applies only to network='pwdb116' (PWDB stiffness law)")
    net = copy.deepcopy(base)
    for seg in net.segments:
        seg.length *= v.get("length_scale", 1.0)
        seg.r_prox *= v.get("diameter_scale", 1.0)
        seg.r_dist *= v.get("diameter_scale", 1.0)
        if "p_ref" in v:
            seg.p_ref = v["p_ref"] * MMHG
    wks = [s.outlet for s in net.segments if isinstance(s.outlet, Windkessel)]
    if "pvr" in v and wks:
        scale = v["pvr"] * sum(1.0 / (w.R1 + w.R2) for w in wks)
        for w in wks:
            w.R1, w.R2 = w.R1 * scale, w.R2 * scale
    for w in wks:
        w.C *= v.get("pvc_scale", 1.0)
        w.p_out = v["p_out"] * MMHG if "p_out" in v else w.p_out
    if any(k in v for k in HEART):
        t = np.asarray(base.inflow.t)
        heart = {"hr": 60.0 / base.inflow.period, "sv": np.trapezoid(base.inflow.q, t) * 1e6,
                 "lvet": 282.0, "pft": 79.0, "rfv": 0.0}
        heart.update({k: v[k] for k in HEART if k in v})
        tt, qq = aortic_inflow(*(np.array([heart[k]]) for k in HEART))
        net.inflow = Inflow(t=tt[0].tolist(), q=qq[0].tolist())
    return net


def build_subjects(params: Mapping[str, object], network: str | Network, viscoelastic: bool = False
                   ) -> tuple[list[Network | None], list[str]]:
    """One network per subject (None with a reason where the parameters are invalid).

    ``viscoelastic`` turns the Voigt wall on in every segment; otherwise the network's own
    per-segment flags hold (none for pwdb116).
    """
    values, n = _batch_values(params)
    base = None if network == "pwdb116" else (network if isinstance(network, Network) else load_network(network))
    ref_period = base.inflow.period if base is not None else None
    nets: list[Network | None] = []
    reasons: list[str] = []
    for b in range(n):
        v = {k: float(x[b]) for k, x in values.items()}
        if any(not math.isfinite(x) for x in v.values()):
            nets.append(None)
            reasons.append("invalid_parameters")
            continue
        hr = v.get("hr", 60.0 / ref_period if ref_period else 72.916)
        ok = bool(inflow_validity(np.array([hr]), np.array([v.get("lvet", 282.0)]), np.array([v.get("pft", 79.0)]))[0])
        if not ok:
            nets.append(None)
            reasons.append("invalid_parameters")
            continue
        try:
            net = pwdb_subject_network(1, **v) if base is None else _generic_subject(base, v)
            for seg in net.segments:
                seg.viscoelastic = seg.viscoelastic or viscoelastic
            nets.append(net)
            reasons.append("")
        except NetworkError:
            nets.append(None)
            reasons.append("invalid_parameters")
    return nets, reasons


def _site(net: Network, name: str) -> Site:
    if name in net.sites:
        return net.sites[name]
    if name in [s.name for s in net.segments]:
        return Site(segment=name, position=0.5)
    raise NetworkError(f"unknown site {name!r}; known: {', '.join(net.sites) or 'segment names'}")


def _resample(beat: torch.Tensor, period: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Periodic linear interpolation of beats (B, J) (uniform over each period) at times t."""
    J = beat.shape[1]
    phase = torch.remainder(t.unsqueeze(0).double(), period.unsqueeze(1)) / period.unsqueeze(1) * J
    i0 = phase.floor().long() % J
    w = (phase - phase.floor()).to(beat.dtype)
    return beat.gather(1, i0) * (1 - w) + beat.gather(1, (i0 + 1) % J) * w


def simulate(
    params: Mapping[str, object],
    network: str | Network = "pwdb116",
    sites: Sequence[str] = ("radial", "digital"),
    fs: float = 500.0,
    n_beats: int = 1,
    device: str = "cpu",
    dtype: torch.dtype = torch.float32,
    dx: float = 1e-3,
    min_cells: int = 5,
    max_cycles: int = 30,
    tolerance_mmhg: float = 1.0,
    compile: bool = True,
    samples_per_beat: int = 1024,
    viscoelastic: bool = False,
) -> SimulationResult:
    """Simulate a batch of subjects to periodic steady state and return beats and labels.

    ``params``: name -> 1-D array of length B (registry names; unspecified ones take the
    network's reference values). ``network``: "pwdb116" (PWDB subject builder), another shipped
    name, a YAML path or a Network. ``sites``: named sites of the network or segment names.
    Each beat is first sampled at ``samples_per_beat`` points (labels use these), then
    resampled to ``fs``. ``compile`` (default) runs the time steps through torch.compile: 10-30 s
    of compilation per network and dtype, then 3-10x faster steps. ``viscoelastic``
    gives every segment the Voigt viscoelastic wall (:mod:`viscoelastic`; False keeps the
    network's own per-segment flags).
    """
    nets, reasons = build_subjects(params, network, viscoelastic)
    valid = [i for i, n in enumerate(nets) if n is not None]
    B = len(nets)
    if not valid:
        raise NoValidSubjectError("no subject has valid parameters")
    ok_nets = [nets[i] for i in valid]
    ref = ok_nets[0]
    record_names = list(dict.fromkeys(["aortic_root", *sites, *PWV_SITES]))
    record_names = [s for s in record_names if s in sites or s in ref.sites]
    topo, p = build_layout(ok_nets, dx, min_cells, dtype, torch.device(device))
    cells = [topo.cell_at(_site(ref, s).segment, _site(ref, s).position) for s in record_names]
    settings = RunSettings(cfl=ref.cfl, max_cycles=max_cycles, tolerance_mmhg=tolerance_mmhg,
                           samples_per_cycle=samples_per_beat, compile=compile)
    out = run(topo, p, list(dict.fromkeys(cells)), list(dict.fromkeys(cells)), settings)
    return _assemble(out, topo, p, ok_nets, valid, B, reasons, record_names, cells, sites, fs, n_beats)


def _assemble(out: RunOutput, topo: Topology, p: Parameters, nets, valid, B, reasons, record_names,
              cells, sites, fs, n_beats) -> SimulationResult:
    dev, dtype = p.A0.device, p.A0.dtype
    idx = torch.tensor(valid, device=dev)
    n_out = int(round(n_beats * float(p.period.max()) * fs))
    t = torch.arange(n_out, dtype=torch.float64, device=dev) / fs
    rows = {c: i for i, c in enumerate(out.record_cells)}
    P_all = pressure_at(out.A, p, out.record_cells)

    def full(x: torch.Tensor, fill=float("nan")) -> torch.Tensor:
        shape = (B, *x.shape[1:])
        y = torch.full(shape, fill, dtype=x.dtype, device=dev) if x.dtype.is_floating_point else torch.full(shape, fill, dtype=x.dtype, device=dev)
        y[idx] = x
        return y

    waveforms, site_info, labels, beats = {}, {}, {}, {}
    for name, cell in zip(record_names, cells, strict=True):
        r = rows[cell]
        beats[name] = P_all[:, r]
        if name not in sites:
            continue
        site = _site(nets[0], name)
        seg_index = topo.segment_names.index(site.segment)
        terminal = site.position == 1.0 and nets[0].segments[seg_index].outlet is not None
        sig = {"P": P_all[:, r], "Q": out.Q[:, r], "A": out.A[:, r]}
        info: dict = {"segment": site.segment, "position": site.position, "terminal": terminal}
        if terminal:
            w = topo.wk_segments.index(site.segment)
            sig["Pc"] = out.Pc[:, w].to(dtype)
            sig["Q_out"] = ((out.Pc[:, w] - p.wk_p_out[:, w:w + 1].double()) / p.wk_R2[:, w:w + 1].double()).to(dtype)
            for key, value in (("R1", p.wk_R1), ("R2", p.wk_R2), ("C", p.wk_C), ("p_out", p.wk_p_out)):
                info[key] = full(value[:, w])
        waveforms[name] = {k: full(_resample(v, p.period, t)) for k, v in sig.items()}
        site_info[name] = info
        for key, value in pressure_labels(beats[name]).items():
            labels[f"{key}_{name}"] = full(value)
    labels.update({k: full(v) for k, v in heart_labels(p.inflow_t, p.inflow_q, p.period).items()})
    if "aortic_root" in beats:
        labels.update({k: full(v) for k, v in pressure_labels(beats["aortic_root"]).items()})
        co = labels["co"][idx]
        p_out = p.wk_p_out.double().mean(dim=1) / MMHG
        labels["svr"] = full(80.0 * (labels["map"][idx] - p_out) / co)
    if all(s in beats for s in PWV_SITES):
        dist = [path_length(n, _site(n, "femoral").segment, _site(n, "femoral").position)
                - path_length(n, _site(n, "carotid").segment, _site(n, "carotid").position) for n in nets]
        delay = transit_time(beats["carotid"], beats["femoral"], p.period)
        pwv = pulse_wave_velocity(torch.tensor(dist, dtype=torch.float64, device=dev), delay)
        undefined = int((torch.isnan(pwv) & (out.status == 0)).sum())
        if undefined:
            log.info("pwv_cf is NaN for %d of %d simulated subjects (no upstroke found, transit "
                     "time <= 0, or PWV outside %s m/s)", undefined, len(valid), PWV_PLAUSIBLE)
        labels["pwv_cf"] = full(pwv)
    labels["tac"] = full(total_arterial_compliance(p.A0, p.beta, p.dx, topo.interior, p.wk_C))
    status = torch.full((B,), INVALID, dtype=torch.long, device=dev)
    status[idx] = torch.where((out.status == 0) & ~out.converged, torch.full_like(out.status, NOT_PERIODIC), out.status)
    reason = list(reasons)
    for k, i in enumerate(valid):
        reason[i] = out.reason[k] or ("not_periodic" if int(status[i]) == NOT_PERIODIC else "")
    clamped = torch.zeros(B, dtype=torch.bool, device=dev)
    clamped[idx] = torch.tensor([r1_clamped(n) for n in nets], device=dev)
    return SimulationResult(
        fs=fs, t=t, waveforms=waveforms, site_info=site_info, labels=labels, status=status,
        reason=reason, cycles=full(out.cycles, 0), converged=full(out.converged, False),
        r1_clamped=clamped,
    )
