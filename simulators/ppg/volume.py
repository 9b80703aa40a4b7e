"""Volume PPG from simulated hemodynamics: the PWDB stored-volume recipe, batched in torch.

The PPG is modelled as the blood volume stored downstream of the measurement site over one
periodic beat (Charlton et al. 2019, PWDB; recipe in the hemodynamics notes, section 7):

* **Windkessel outlet** (the site is the end of a terminal segment, e.g. the digital artery):
  V = cumulative sum of (Q_in - Q_out), the volume stored in the outlet compliance. Numerical
  drift makes the beat slightly open, so a linear detrend closes it.
* **Any other site** (e.g. radial): the downstream bed is a resistor fitted over the beat,
  R_d = sum(P - P_out) / sum(Q); Q_out = (P - P_out) / R_d and V = cumulative sum of
  (Q - Q_out), which closes exactly by construction.

Both are rotated to start at their minimum and scaled to [0, 1]; 1 / range(V) is returned as
the scale factor so the amplitude (in m^3) can be recovered.
"""

from __future__ import annotations

import torch


def windkessel_volume(q_in: torch.Tensor, q_out: torch.Tensor, dt: torch.Tensor) -> torch.Tensor:
    """Stored Windkessel volume [m^3] (B, T) over one beat, with PWDB's drift closure.

    ``q_in``: flow from the 1D segment into the Windkessel, ``q_out``: flow through R2, both
    (B, T) [m^3/s] on a uniform grid of step ``dt`` [s] (scalar or (B,)).
    """
    dt = torch.as_tensor(dt, dtype=q_in.dtype, device=q_in.device).reshape(-1, 1)
    volume = torch.cumsum((q_in - q_out) * dt, dim=1)
    # Extrapolate the sample after the last one (PWDB: mean of the first and last steps) and
    # remove the linear drift that makes it differ from V_1, so the periodic extension closes.
    # PWDB adds linspace(0, V_1 - next, N), which leaves a residual of one step in N; removing
    # (next - V_1) / N per sample closes the beat exactly.
    step = 0.5 * ((volume[:, -1] - volume[:, -2]) + (volume[:, 1] - volume[:, 0]))
    drift = (volume[:, -1] + step - volume[:, 0]) / volume.shape[1]
    index = torch.arange(volume.shape[1], dtype=volume.dtype, device=volume.device)[None, :]
    return volume - drift[:, None] * index


def resistor_bed_volume(pressure: torch.Tensor, flow: torch.Tensor, p_out: torch.Tensor | float,
                        dt: torch.Tensor) -> torch.Tensor:
    """Volume [m^3] (B, T) stored behind a non-terminal site whose bed is a fitted resistor.

    ``pressure`` [Pa] and ``p_out`` [Pa] (scalar or (B,)), ``flow`` [m^3/s], all over one beat.
    """
    dt = torch.as_tensor(dt, dtype=flow.dtype, device=flow.device).reshape(-1, 1)
    p_out = torch.as_tensor(p_out, dtype=pressure.dtype, device=pressure.device).reshape(-1, 1)
    resistance = (pressure - p_out).sum(dim=1, keepdim=True) / flow.sum(dim=1, keepdim=True)
    q_out = (pressure - p_out) / resistance
    return torch.cumsum((flow - q_out) * dt, dim=1)


def normalise_beat(volume: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Rotate each beat to start at its minimum and scale it to [0, 1].

    Returns ``(ppg, scale, shift)``: ``ppg`` (B, T), ``scale`` = 1 / range(V) (B,), and the
    rotation ``shift`` (B,) in samples (sample 0 of ``ppg`` is sample ``shift`` of ``volume``).
    """
    shift = torch.argmin(volume, dim=1)
    n = volume.shape[1]
    index = (torch.arange(n, device=volume.device)[None, :] + shift[:, None]) % n
    rotated = torch.gather(volume, 1, index)
    low = rotated[:, :1]
    span = rotated.amax(dim=1, keepdim=True) - low
    return (rotated - low) / span, 1.0 / span[:, 0], shift


def volume_ppg(signals: dict[str, torch.Tensor], dt: torch.Tensor,
               p_out: torch.Tensor | float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Volume PPG at one site from its simulated signals; the branch follows what is present.

    ``signals`` holds "Q" and either "Q_out" (a Windkessel outlet: branch A) or "P" (branch B,
    which also needs ``p_out`` in Pa). Returns ``(ppg, scale)`` *without* the rotation to the
    minimum, so the PPG stays time-aligned with the site's pressure; use :func:`normalise_beat`
    for the PWDB-style beat that starts at its minimum.
    """
    if "Q_out" in signals:
        volume = windkessel_volume(signals["Q"], signals["Q_out"], dt)
    elif "P" in signals and p_out is not None:
        volume = resistor_bed_volume(signals["P"], signals["Q"], p_out, dt)
    else:
        raise ValueError("volume PPG needs Q and Q_out (Windkessel outlet) or P, Q and p_out")
    low = volume.amin(dim=1, keepdim=True)
    span = volume.amax(dim=1, keepdim=True) - low
    return (volume - low) / span, 1.0 / span[:, 0]
