"""Labels computed from a simulated beat (registry units: bpm, mL, L/min, ms, mmHg, m/s)."""

from __future__ import annotations

import torch

from simulators.hemodynamics.network import MMHG, Network

DYN_S_CM5 = 1e-5  # 1 Pa s/m^3 = 1e-5 dyn s/cm^5; SVR in dyn s/cm^5 = 80 * mmHg / (L/min)


def heart_labels(inflow_t: torch.Tensor, inflow_q: torch.Tensor, period: torch.Tensor) -> dict:
    """HR, SV (net inflow per beat), CO and LVET (time with inflow above 1 % of its peak)."""
    t, q = inflow_t.double(), inflow_q.double()
    inside = t <= period.unsqueeze(1)
    q_in = torch.where(inside, q, torch.zeros_like(q))
    sv = torch.trapezoid(q_in, t, dim=1) * 1e6
    hr = 60.0 / period
    dt = torch.diff(t, dim=1)
    ejecting = (q_in[:, :-1] > 0.01 * q_in.amax(dim=1, keepdim=True)) & inside[:, 1:]
    lvet = (dt * ejecting).sum(dim=1) * 1e3
    return {"hr": hr, "sv": sv, "co": hr * sv / 1000.0, "lvet": lvet}


def pressure_labels(P: torch.Tensor) -> dict[str, torch.Tensor]:
    """MAP, SBP, DBP, PP [mmHg] of beats P (B, J) [Pa] sampled uniformly over one beat."""
    p = P.double() / MMHG
    sbp, dbp = p.amax(dim=1), p.amin(dim=1)
    return {"map": p.mean(dim=1), "sbp": sbp, "dbp": dbp, "pp": sbp - dbp}


def foot_time(P: torch.Tensor, period: torch.Tensor) -> torch.Tensor:
    """Foot of the pressure upstroke by the intersecting-tangent method, in s within the beat.

    The tangent at the steepest upstroke meets the horizontal line through the beat minimum.
    """
    J = P.shape[1]
    dt = (period / J).unsqueeze(1)
    slope = (torch.roll(P, -1, dims=1) - torch.roll(P, 1, dims=1)).double() / (2 * dt)
    i = slope.argmax(dim=1, keepdim=True)
    p_at = P.double().gather(1, i)
    p_min = P.double().amin(dim=1, keepdim=True)
    foot = i.double() * dt - (p_at - p_min) / slope.gather(1, i)
    return torch.remainder(foot, period.unsqueeze(1)).squeeze(1)


def transit_time(p_prox: torch.Tensor, p_dist: torch.Tensor, period: torch.Tensor) -> torch.Tensor:
    """Foot-to-foot delay from a proximal to a distal site, wrapped into (-T/2, T/2]."""
    d = foot_time(p_dist, period) - foot_time(p_prox, period)
    return torch.remainder(d + period / 2, period) - period / 2


def path_length(net: Network, segment: str, position: float) -> float:
    """Distance along the tree from the inlet to ``position`` on ``segment`` [m]."""
    by_tn = {s.tn: s for s in net.segments}
    seg = net.segment(segment)
    distance = position * seg.length
    while seg.sn in by_tn:
        seg = by_tn[seg.sn]
        distance += seg.length
    return distance


def total_arterial_compliance(A0: torch.Tensor, beta: torch.Tensor, dx: torch.Tensor,
                              interior: torch.Tensor, wk_C: torch.Tensor) -> torch.Tensor:
    """1D compliance sum(dA/dP dx) at A = A0 (dA/dP = 2 A0 / beta) plus all WK C [mL/mmHg]."""
    c1d = (2.0 * A0 / beta * dx * interior).double().sum(dim=1)
    return (c1d + wk_C.double().sum(dim=1)) * 1e6 * MMHG
