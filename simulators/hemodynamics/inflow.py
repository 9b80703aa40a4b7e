"""Parametric aortic inflow (HR, SV, LVET, PFT, RFV) from the PWDB template, batched in torch.

The template is the PWDB reference subject's inflow (``networks/pwdb116/inlet.dat``; peak at
79 ms, end of ejection 282 ms, end of reverse flow 309 ms). It is re-timed piecewise linearly
(upslope -> [0, PFT], downslope -> (PFT, LVET], reverse flow -> (LVET, 309/282 LVET], zero flow
until T = 60/HR), then the positive part is scaled to SV + RFV and the negative part to RFV, so
the net volume per beat equals SV (the PWDB convention).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from simulators.hemodynamics.network import NETWORK_DIR

TEMPLATE_FILE = NETWORK_DIR / "pwdb116" / "inlet.dat"


@lru_cache(maxsize=1)
def template() -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Template (t, q, peak time, end of ejection, end of reverse flow) in s and m^3/s."""
    t, q = np.ascontiguousarray(np.loadtxt(TEMPLATE_FILE).T)
    peak = int(np.argmax(q))
    first_neg = peak + int(np.argmax(q[peak:] < 0))
    # ejection ends where the flow crosses zero (linear interpolation between samples)
    t0, t1, q0, q1 = t[first_neg - 1], t[first_neg], q[first_neg - 1], q[first_neg]
    lvet = t0 + q0 * (t1 - t0) / (q0 - q1)
    last_neg = first_neg + int(np.argmax(q[first_neg:] >= 0))
    return t, q, float(t[peak]), float(lvet), float(t[last_neg])


def inflow_validity(hr, lvet, pft) -> torch.Tensor:
    """True where the timings fit in one beat: 0 < PFT < LVET and reverse flow ends before T."""
    _, _, _, lvet0, tdia0 = template()
    period = 60.0 / hr
    return (pft > 0) & (pft < lvet) & (lvet * 1e-3 * tdia0 / lvet0 < period)


def aortic_inflow(
    hr: torch.Tensor, sv: torch.Tensor, lvet: torch.Tensor, pft: torch.Tensor, rfv: torch.Tensor,
    n_points: int = 1000,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Inflow tables (t, q), each (B, n_points), for HR [bpm], SV [mL], LVET and PFT [ms],
    RFV [mL]. ``t`` runs from 0 to the period 60/HR; ``q`` in m^3/s."""
    t_tpl, q_tpl, pft0, lvet0, tdia0 = (torch.as_tensor(x, dtype=torch.float64) for x in template())
    hr, sv, lvet, pft, rfv = (torch.as_tensor(x, dtype=torch.float64).reshape(-1, 1) for x in (hr, sv, lvet, pft, rfv))
    period = 60.0 / hr
    pft_s, lvet_s = pft * 1e-3, lvet * 1e-3
    tdia = lvet_s * tdia0 / lvet0
    t = torch.linspace(0.0, 1.0, n_points, dtype=torch.float64).unsqueeze(0) * period
    tau = torch.where(
        t <= pft_s,
        t * pft0 / pft_s,
        torch.where(
            t <= lvet_s,
            pft0 + (t - pft_s) * (lvet0 - pft0) / (lvet_s - pft_s),
            lvet0 + (t - lvet_s) * (tdia0 - lvet0) / (tdia - lvet_s),
        ),
    )
    q = _interp(tau, t_tpl, q_tpl)
    q = torch.where(t <= tdia, q, torch.zeros_like(q))
    positive, negative = q.clamp_min(0.0), q.clamp_max(0.0)
    v_pos = torch.trapezoid(positive, t, dim=1).unsqueeze(1)
    v_neg = torch.trapezoid(-negative, t, dim=1).unsqueeze(1)
    q = positive * (sv + rfv) * 1e-6 / v_pos + negative * rfv * 1e-6 / v_neg.clamp_min(1e-30)
    return t, q


def _interp(x: torch.Tensor, xp: torch.Tensor, fp: torch.Tensor) -> torch.Tensor:
    idx = torch.searchsorted(xp, x.contiguous()).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[idx - 1], xp[idx], fp[idx - 1], fp[idx]
    w = ((x - x0) / (x1 - x0)).clamp(0.0, 1.0)
    return f0 + w * (f1 - f0)
