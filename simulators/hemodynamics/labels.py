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


# A foot-to-foot PWV outside this range [m/s] is taken as a detection failure: it is wider
# than any physiological carotid-femoral PWV (the registry's range for pwv_cf is 2-25 m/s).
PWV_PLAUSIBLE = (1.0, 40.0)


def foot_time(P: torch.Tensor, period: torch.Tensor) -> torch.Tensor:
    """Foot of the pressure upstroke by the intersecting-tangent method, in s within the beat.

    ``P`` (B, J): one beat per row, sampled uniformly over ``period`` (B,), that starts in
    diastole before the upstroke (simulate's beats start at the onset of ejection, so at every
    site the foot follows the start). The beat is not treated as periodic: a beat converged to
    a beat-to-beat tolerance does not close exactly, and in a low-pulse beat the jump from its
    last to its first sample can be steeper than the upstroke.

    The systolic peak is the maximum of the beat and the diastolic minimum the lowest point
    before it; the upstroke is the steepest rise between the two (a dicrotic notch or a
    reflected wave after the peak can be steeper in low-pulse beats). The tangent there meets
    the horizontal line through the minimum; the position and slope of the steepest point are
    refined by a parabola through the three slopes around it (sub-sample accuracy). NaN for a
    beat without a rise before its peak (e.g. one that starts at its maximum).
    """
    p = P.double()
    J = p.shape[1]
    dt = period.double() / J
    k = torch.arange(J, device=p.device)
    peak = p.argmax(dim=1)
    low = torch.where(k <= peak[:, None], p, torch.full_like(p, torch.inf)).argmin(dim=1)
    slope = torch.gradient(p, dim=1)[0] / dt[:, None]  # one-sided at the ends: no wrap-around
    rising = (k >= low[:, None]) & (k < peak[:, None])
    i = torch.where(rising, slope, torch.full_like(slope, -torch.inf)).argmax(dim=1)

    def take(x: torch.Tensor, offset: int) -> torch.Tensor:
        return x.gather(1, (i + offset).clamp(0, J - 1)[:, None]).squeeze(1)

    before, at, after = take(slope, -1), take(slope, 0), take(slope, 1)
    curvature = before - 2 * at + after
    shift = torch.where(curvature < 0, 0.5 * (before - after) / curvature, torch.zeros_like(at))
    shift = shift.clamp(-0.5, 0.5)
    steepest = at - 0.25 * (before - after) * shift
    p_prev, p_at, p_next = take(p, -1), take(p, 0), take(p, 1)
    p_steep = p_at + 0.5 * shift * (p_next - p_prev) + 0.5 * shift**2 * (p_next - 2 * p_at + p_prev)
    p_low = p.gather(1, low[:, None]).squeeze(1)
    foot = (i + shift) * dt - (p_steep - p_low) / steepest
    valid = (peak > low) & (steepest > 0)
    foot = torch.remainder(foot, period.double())
    return torch.where(valid, foot, torch.full_like(foot, torch.nan))


def transit_time(p_prox: torch.Tensor, p_dist: torch.Tensor, period: torch.Tensor) -> torch.Tensor:
    """Foot-to-foot delay [s] from a proximal to a distal site; NaN when it is not a delay.

    The difference of the feet is wrapped into (-T/2, T/2]; a delay <= 0 (the distal foot
    first) or a foot that was not found gives NaN.
    """
    d = foot_time(p_dist, period) - foot_time(p_prox, period)
    d = torch.remainder(d + period / 2, period) - period / 2
    return torch.where(d > 0, d, torch.full_like(d, torch.nan))


def pulse_wave_velocity(distance: torch.Tensor, delay: torch.Tensor) -> torch.Tensor:
    """distance / delay [m/s]; NaN for a missing delay or a velocity outside PWV_PLAUSIBLE."""
    pwv = distance / delay
    plausible = (pwv >= PWV_PLAUSIBLE[0]) & (pwv <= PWV_PLAUSIBLE[1])
    return torch.where(plausible, pwv, torch.full_like(pwv, torch.nan))


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
