"""Batched three-element Windkessel (WK3): a cheap, exact lumped model of the systemic circulation.

The aortic inflow Q(t) is a smooth ejection pulse set by heart rate, stroke volume, ejection
time (LVET) and peak-flow time (PFT); the load is a characteristic impedance R_c in series with
a compliance C parallel to a peripheral resistance R_p draining to an outflow pressure P_out:

    P_in = R_c Q + P_c,      C dP_c/dt = Q - (P_c - P_out) / R_p.

The ODE is linear, so each step is integrated *exactly* for a piecewise-linear inflow (an
exponential integrator, stable for any step and any tau = R_p C), and the periodic steady state
is solved in closed form instead of by running cycles. Everything is batched over subjects in
torch, so the same code runs on CPU or GPU.

R_c is the aortic characteristic impedance Z0 = rho c0 / A0 with the Moens-Korteweg wave speed
from the PWDB stiffness law Eh/r0 = k1 exp(k2 r0) + k3 (see the hemodynamics notes, section 6.3);
R_p = pvr - R_c so that the total resistance equals ``pvr``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import torch

MMHG = 133.322  # Pa per mmHg
RHO = 1060.0  # blood density [kg/m^3]
K1 = 3.0e6  # g/(s^2 cm), PWDB stiffness law
K2 = -13.5  # 1/cm
AORTIC_ROOT_RADIUS_CM = 1.5  # reference ascending-aorta radius, scaled by diameter_scale
REFERENCE_COMPLIANCE = 1.0e-8  # m^3/Pa (about 1.33 mL/mmHg total arterial compliance)
MAX_RC_FRACTION = 0.5  # R_c is clamped to this share of pvr so that R_p stays positive

DEFAULTS = {
    "hr": 75.0, "sv": 70.0, "lvet": 290.0, "pft": 80.0, "pvr": 1.07e8, "pvc_scale": 1.0,
    "k3": 9.09e5, "diameter_scale": 1.0, "p_out": 33.2,
}
PARAMETERS = tuple(DEFAULTS)


@dataclass
class WindkesselResult:
    """One periodic beat per subject, sampled on each subject's own uniform phase grid.

    ``phase`` is (T,) in [0, 1); sample j of subject b lies at time ``phase[j] * period[b]``.
    ``waveforms`` follows the hemodynamics contract: site -> signal -> (B, T) in SI units; the
    aortic root is a Windkessel outlet, so it carries "Pc" and "Q_out" besides "P" and "Q".
    """

    phase: torch.Tensor
    period: torch.Tensor
    waveforms: dict[str, dict[str, torch.Tensor]]
    site_info: dict[str, dict]
    labels: dict[str, torch.Tensor]
    status: torch.Tensor
    reason: list[str]


def inflow(phase: torch.Tensor, period: torch.Tensor, sv: torch.Tensor, lvet: torch.Tensor,
           pft: torch.Tensor) -> torch.Tensor:
    """Aortic inflow [m^3/s] (B, T): a sine pulse warped to peak at PFT and end at LVET.

    Q = Q_max sin(pi u / 2) with u rising linearly 0 -> 1 over [0, PFT] and 1 -> 2 over
    [PFT, LVET]; zero in diastole. Its integral is Q_max 2 LVET / pi, which fixes Q_max from SV.
    """
    t = phase[None, :] * period[:, None]
    t_peak, t_end = pft[:, None], lvet[:, None]
    u = torch.where(t <= t_peak, t / t_peak, 1.0 + (t - t_peak) / (t_end - t_peak))
    q_max = sv[:, None] * math.pi / (2.0 * t_end)
    return torch.where(t < t_end, q_max * torch.sin(0.5 * math.pi * u.clamp(0.0, 2.0)),
                       torch.zeros_like(t))


def characteristic_impedance(k3: torch.Tensor, diameter_scale: torch.Tensor) -> torch.Tensor:
    """Aortic Z0 = rho c0 / A0 [Pa s/m^3] from the PWDB stiffness law and Moens-Korteweg c0."""
    r0_cm = AORTIC_ROOT_RADIUS_CM * diameter_scale
    eh_over_r0 = (K1 * torch.exp(K2 * r0_cm) + k3) * 0.1  # g/(s^2 cm) -> Pa
    c0 = torch.sqrt(2.0 / 3.0 * eh_over_r0 / RHO)
    area = math.pi * (r0_cm * 1e-2) ** 2
    return RHO * c0 / area


def _exact_step(x0, q0, q1, h, tau, rp):
    """Exact update of x = P_c - P_out over one step with Q linear from q0 to q1."""
    a = torch.exp(-h / tau)
    return a * x0 + rp * (q0 * (1 - a) + (q1 - q0) * (1 - tau * (1 - a) / h))


def _integrate(q: torch.Tensor, h: torch.Tensor, tau: torch.Tensor, rp: torch.Tensor,
               x0: torch.Tensor) -> torch.Tensor:
    """P_c - P_out at every grid point of one beat, starting from x0 (closed beat: q wraps)."""
    q_next = torch.roll(q, -1, dims=1)
    xs = [x0]
    for j in range(q.shape[1] - 1):
        xs.append(_exact_step(xs[-1], q[:, j], q_next[:, j], h, tau, rp))
    return torch.stack(xs, dim=1)


def _periodic_start(q, h, tau, rp, period):
    """Closed-form periodic initial state: x(0) = x(T) for the linear time-invariant map."""
    zero = torch.zeros_like(tau)
    forced = _integrate(q, h, tau, rp, zero)
    x_end = _exact_step(forced[:, -1], q[:, -1], q[:, 0], h, tau, rp)  # one full period
    return x_end / (1.0 - torch.exp(-period / tau))


def simulate(params: Mapping[str, object], n_phase: int = 512, device: str | torch.device = "cpu",
             dtype: torch.dtype = torch.float64) -> WindkesselResult:
    """Periodic steady-state WK3 beats for a batch of subjects.

    ``params``: name -> (B,) values in registry units (hr bpm, sv mL, lvet ms, pft ms, pvr
    Pa s/m^3, pvc_scale, k3 g/(s^2 cm), diameter_scale, p_out mmHg); missing names take
    :data:`DEFAULTS`. Invalid subjects (PFT >= LVET, LVET >= period, non-finite values) get
    status 1 and a reason instead of raising, so one bad draw never sinks a batch.
    """
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise ValueError(f"windkessel: unknown parameters {unknown}; known: {list(PARAMETERS)}")
    batch = _batch_size(params)
    p = {name: _as_tensor(params.get(name, DEFAULTS[name]), batch, device, dtype)
         for name in PARAMETERS}
    period = 60.0 / p["hr"]
    sv, lvet, pft = p["sv"] * 1e-6, p["lvet"] * 1e-3, p["pft"] * 1e-3
    reason = _validate(p, period, lvet, pft)
    ok = torch.tensor([r == "" for r in reason], device=device)
    # Replace invalid subjects by defaults so the batch math stays finite; they are flagged.
    lvet = torch.where(ok, lvet, torch.full_like(lvet, DEFAULTS["lvet"] * 1e-3))
    pft = torch.where(ok, pft, torch.full_like(pft, DEFAULTS["pft"] * 1e-3))
    period = torch.where(ok, period, torch.full_like(period, 60.0 / DEFAULTS["hr"]))

    phase = torch.arange(n_phase, device=device, dtype=dtype) / n_phase
    q = inflow(phase, period, sv, lvet, pft)
    rc_raw = characteristic_impedance(p["k3"], p["diameter_scale"])
    rc = torch.minimum(rc_raw, MAX_RC_FRACTION * p["pvr"])
    rp = p["pvr"] - rc
    compliance = REFERENCE_COMPLIANCE * p["pvc_scale"]
    tau, h = rp * compliance, period / n_phase
    x = _integrate(q, h, tau, rp, _periodic_start(q, h, tau, rp, period))
    p_out = p["p_out"][:, None] * MMHG
    pc = x + p_out
    pressure = pc + rc[:, None] * q
    q_out = x / rp[:, None]
    waveforms = {"aortic_root": {"P": pressure, "Q": q, "Pc": pc, "Q_out": q_out}}
    site_info = {"aortic_root": {"segment": "windkessel", "position": 0.0, "terminal": True,
                                 "R1": rc, "R2": rp, "C": compliance, "p_out": p_out[:, 0],
                                 "rc_clamped": rc_raw > rc}}
    labels = _labels(p, pressure, q, rc, rp, compliance, period)
    status = (~ok).to(torch.int64)
    return WindkesselResult(phase, period, waveforms, site_info, labels, status, reason)


def _labels(p, pressure, q, rc, rp, compliance, period) -> dict[str, torch.Tensor]:
    """Biomarker labels in registry units (SVR per the registry: 80 (MAP - P_out) / CO)."""
    pressure_mmhg = pressure / MMHG
    mean_p = pressure_mmhg.mean(dim=1)
    sv_net = q.mean(dim=1) * period * 1e6  # mL, trapezoid on the closed periodic grid
    co = p["hr"] * sv_net / 1000.0
    sbp, dbp = pressure_mmhg.amax(dim=1), pressure_mmhg.amin(dim=1)
    return {
        "hr": p["hr"], "sv": sv_net, "co": co, "lvet": p["lvet"],
        "svr": 80.0 * (mean_p - p["p_out"]) / co,
        "map": mean_p, "sbp": sbp, "dbp": dbp, "pp": sbp - dbp,
        "tac": compliance * 1e6 * MMHG,  # m^3/Pa -> mL/mmHg
    }


def _validate(p, period, lvet, pft) -> list[str]:
    finite = torch.stack([torch.isfinite(v) for v in p.values()]).all(dim=0)
    positive = torch.stack([p[n] > 0 for n in ("hr", "sv", "lvet", "pft", "pvr", "pvc_scale",
                                               "k3", "diameter_scale")]).all(dim=0)
    reasons = []
    for b in range(period.shape[0]):
        if not (finite[b] and positive[b]):
            reasons.append("invalid_parameter")
        elif pft[b] >= lvet[b]:
            reasons.append("pft_after_lvet")
        elif lvet[b] >= period[b]:
            reasons.append("lvet_exceeds_period")
        else:
            reasons.append("")
    return reasons


def _batch_size(params: Mapping[str, object]) -> int:
    sizes = {torch.as_tensor(v).reshape(-1).shape[0] for v in params.values()}
    sizes.discard(1)
    if len(sizes) > 1:
        raise ValueError(f"windkessel: parameters have different batch sizes {sorted(sizes)}")
    return sizes.pop() if sizes else 1


def _as_tensor(value, batch, device, dtype) -> torch.Tensor:
    tensor = torch.as_tensor(value, dtype=dtype, device=device).reshape(-1)
    return tensor.expand(batch).clone() if tensor.shape[0] == 1 else tensor
