"""Time marching to a periodic steady state, per subject, for a batch of networks.

Each subject has its own time and CFL time step, so subjects never slow each other down
numerically; a subject that converges, reaches the cycle cap or fails is removed from the
working batch (it stops costing compute). Only a ring buffer of the last three beats at the
recorded cells is kept, so memory does not grow with simulated time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch

from simulators.hemodynamics.boundaries import (
    apply_inlet,
    apply_junctions,
    apply_reflections,
    apply_windkessels,
    initial_invariants,
)
from simulators.hemodynamics.layout import Parameters, Topology
from simulators.hemodynamics.network import MMHG
from simulators.hemodynamics.scheme import muscl_step, pressure, time_step, wave_speed

log = logging.getLogger(__name__)

JUNCTION_TOLERANCE = 1e-3  # relative mass residual above which a junction counts as failed
REASONS = ("nan", "negative_area", "cfl", "junction_not_converged")


@dataclass
class RunSettings:
    """Run control: CFL number, cycle cap, convergence tolerance and beat sampling."""

    cfl: float = 0.9
    max_cycles: int = 30
    tolerance_mmhg: float = 1.0
    samples_per_cycle: int = 100
    initial_state: str = "mean_pressure"  # or "openbf": A = A0, Q = 0, Pc = 0
    check_every: int = 50  # steps between failure / convergence checks
    compile: bool = False  # torch.compile the per-step physics (pays off for long runs)


@dataclass
class RunOutput:
    """Last completed beat at the recorded cells for every subject of the batch.

    ``A``, ``Q``: (B, S, J) at ``record_cells``; ``Pc``: (B, nW, J) Windkessel capacitor
    pressures; sample j of subject b lies at time j * period_b / J within the beat.
    """

    record_cells: list[int]
    A: torch.Tensor
    Q: torch.Tensor
    Pc: torch.Tensor
    cycles: torch.Tensor
    converged: torch.Tensor
    status: torch.Tensor
    reason: list[str]
    error_mmhg: torch.Tensor
    steps: torch.Tensor


@dataclass
class _State:
    A: torch.Tensor
    Q: torch.Tensor
    Pc: torch.Tensor
    t: torch.Tensor
    k: torch.Tensor
    buf_A: torch.Tensor
    buf_Q: torch.Tensor
    buf_Pc: torch.Tensor
    residual: torch.Tensor
    w0: tuple[torch.Tensor, torch.Tensor]
    steps: torch.Tensor
    index: torch.Tensor  # position of each working subject in the full batch
    params: Parameters

    def select(self, keep: torch.Tensor) -> _State:
        fields = {k: v for k, v in vars(self).items() if k not in ("w0", "params")}
        out = {k: v[keep] for k, v in fields.items()}
        return _State(**out, w0=(self.w0[0][keep], self.w0[1][keep]), params=self.params.select(keep))


def mean_pressure_estimate(p: Parameters) -> torch.Tensor:
    """Expected mean pressure (B, 1): outflow pressure + mean inflow x parallel WK resistance."""
    q_mean = torch.trapezoid(p.inflow_q.double(), p.inflow_t, dim=1) / p.period
    total = (p.wk_R1 + p.wk_R2).double()
    r_eq = 1.0 / (1.0 / total).sum(dim=1)
    p_out = p.wk_p_out.double().mean(dim=1)
    return (p_out + q_mean * r_eq).unsqueeze(1)


def initial_state(p: Parameters, topo: Topology, settings: RunSettings, n_record: int) -> _State:
    """A, Q and capacitor pressures at t = 0 (openBF's rest state or the mean-pressure guess)."""
    B, dev = p.A0.shape[0], p.A0.device
    Q = torch.zeros_like(p.A0)
    if settings.initial_state == "openbf":
        A = p.A0.clone()
        Pc = torch.zeros_like(p.wk_R1, dtype=torch.float64)
    else:
        pbar = mean_pressure_estimate(p)
        ratio = (1.0 + (pbar.to(p.A0.dtype) - p.p_ref) / p.beta).clamp_min(0.5)
        A = p.A0 * ratio * ratio
        fraction = (p.wk_R2 / (p.wk_R1 + p.wk_R2)).double()
        Pc = p.wk_p_out.double() + (pbar - p.wk_p_out.double()) * fraction
    J = settings.samples_per_cycle
    nW = p.wk_R1.shape[1]
    return _State(
        A=A, Q=Q, Pc=Pc,
        t=torch.zeros(B, dtype=torch.float64, device=dev),
        k=torch.zeros(B, dtype=torch.long, device=dev),
        buf_A=torch.zeros(B, n_record, 3 * J, dtype=A.dtype, device=dev),
        buf_Q=torch.zeros(B, n_record, 3 * J, dtype=A.dtype, device=dev),
        buf_Pc=torch.zeros(B, nW, 3 * J, dtype=torch.float64, device=dev),
        residual=torch.zeros(B, dtype=A.dtype, device=dev),
        w0=initial_invariants(A, Q, p, topo),
        steps=torch.zeros(B, dtype=torch.long, device=dev),
        index=torch.arange(B, device=dev),
        params=p,
    )


def _record(buf: torch.Tensor, slot: torch.Tensor, cross: torch.Tensor, before, after, w):
    rows = torch.arange(buf.shape[0], device=buf.device)
    value = before + w.unsqueeze(1).to(before.dtype) * (after - before)
    buf[rows, :, slot] = torch.where(cross.unsqueeze(1), value, buf[rows, :, slot])


def physics_step(A, Q, Pc, t, residual, w0, p: Parameters, topo: Topology, cfl: float):
    """CFL step, all boundaries and junctions, then MUSCL: the whole physics of one step."""
    dt = time_step(A, Q, p, cfl)
    A, Q = A.clone(), Q.clone()
    apply_inlet(Q, t, p, topo)
    Pc = apply_windkessels(A, Q, Pc, dt, p, topo)
    apply_reflections(A, Q, w0, dt, p, topo)
    residual = torch.maximum(residual, apply_junctions(A, Q, p, topo))
    A, Q = muscl_step(A, Q, dt, p, topo)
    return A, Q, Pc, dt, residual


def step_and_sample(
    A, Q, Pc, t, k, residual, buf_A, buf_Q, buf_Pc, w0, p: Parameters, topo: Topology,
    cells: torch.Tensor, cfl: float, J: int,
):
    """One step, then linear-in-time sampling of the recorded cells at the next checkpoint.

    Checkpoint j of cycle n lies at (n + j/J) * period; the ring buffers (B, S, 3J) hold the
    last three beats and are written in place. Pure otherwise (suitable for torch.compile).
    """
    a_before, q_before, pc_before = A[:, cells], Q[:, cells], Pc
    A, Q, Pc, dt, residual = physics_step(A, Q, Pc, t, residual, w0, p, topo, cfl)
    dt64 = dt.squeeze(1).double()
    t_new = t + dt64
    cycle, j = k // J, k % J
    checkpoint = (cycle.double() + j.double() / J) * p.period
    cross = t_new >= checkpoint
    w = ((checkpoint - t) / dt64).clamp(0.0, 1.0)
    slot = (cycle % 3) * J + j
    _record(buf_A, slot, cross, a_before, A[:, cells], w)
    _record(buf_Q, slot, cross, q_before, Q[:, cells], w)
    _record(buf_Pc, slot, cross, pc_before, Pc, w)
    return A, Q, Pc, t_new, k + cross.long(), residual


class _CompiledStep:
    """``torch.compile`` of the step that falls back to eager execution if compilation fails.

    Compilation is only a speed-up. torch 2.13's inductor can fail in its multi-threaded CPU
    code generation for scatter-add (seen on the ibif network with 2 threads); the step
    mutates nothing before compiling, so running the eager function instead is safe.
    """

    def __init__(self, function) -> None:
        self.function = function
        self.compiled = torch.compile(function, dynamic=None)
        self.failed = False

    def __call__(self, *args):
        if not self.failed:
            try:
                return self.compiled(*args)
            except torch._dynamo.exc.BackendCompilerFailed as exc:
                log.warning("torch.compile failed (%s); running the step uncompiled",
                            type(exc).__name__)
                self.failed = True
        return self.function(*args)


_COMPILED: dict[str, _CompiledStep] = {}


def _step_function(settings: RunSettings):
    if not settings.compile:
        return step_and_sample
    if "step" not in _COMPILED:
        _COMPILED["step"] = _CompiledStep(step_and_sample)
    return _COMPILED["step"]


def advance(s: _State, topo: Topology, cells: torch.Tensor, settings: RunSettings, step) -> None:
    """Advance every working subject by one step (``step``: plain or compiled)."""
    s.A, s.Q, s.Pc, s.t, s.k, s.residual = step(
        s.A, s.Q, s.Pc, s.t, s.k, s.residual, s.buf_A, s.buf_Q, s.buf_Pc, s.w0, s.params, topo,
        cells, settings.cfl, settings.samples_per_cycle,
    )
    s.steps = s.steps + 1


def failure_codes(s: _State) -> torch.Tensor:
    """Per working subject: 0 = ok, else 1 + index into REASONS."""
    A, Q = s.A, s.Q
    finite = torch.isfinite(A).all(dim=1) & torch.isfinite(Q).all(dim=1)
    positive = (A > 0).all(dim=1)
    subsonic = ((Q / A).abs() < wave_speed(A, s.params)).all(dim=1)
    junction_ok = s.residual <= JUNCTION_TOLERANCE
    code = torch.zeros_like(s.k)
    for value, ok in reversed(list(enumerate((finite, positive, subsonic, junction_ok), start=1))):
        code = torch.where(ok, code, torch.full_like(code, value))
    return code


def _beat(buf: torch.Tensor, cycle: torch.Tensor, J: int) -> torch.Tensor:
    """The J samples of ``cycle`` (per subject) from a 3-beat ring buffer."""
    start = (cycle % 3) * J
    idx = start[:, None] + torch.arange(J, device=buf.device)[None, :]
    return buf.gather(2, idx[:, None, :].expand(-1, buf.shape[1], -1))


def beat_change_mmhg(s: _State, completed: torch.Tensor, conv: torch.Tensor, rows, J: int):
    """Max over convergence cells of the RMS pressure change between the last two beats.

    ``conv``: flat cell indices; ``rows``: their rows in the record buffer.
    """
    p = s.params
    cells_a0 = p.A0[:, conv]
    beta = p.beta[:, conv]
    last = _beat(s.buf_A[:, rows], completed - 1, J)
    prev = _beat(s.buf_A[:, rows], completed - 2, J)
    dp = beta.unsqueeze(2) * ((last / cells_a0.unsqueeze(2)).sqrt() - (prev / cells_a0.unsqueeze(2)).sqrt())
    return (dp.double().pow(2).mean(dim=2).sqrt().amax(dim=1)) / MMHG


def run(
    topo: Topology,
    params: Parameters,
    record_cells: list[int],
    convergence_cells: list[int],
    settings: RunSettings,
) -> RunOutput:
    """March every subject to a periodic steady state and return its last beat."""
    dev = params.A0.device
    J = settings.samples_per_cycle
    cells = torch.tensor(record_cells, dtype=torch.long, device=dev)
    conv = torch.tensor(convergence_cells, dtype=torch.long, device=dev)
    rows = torch.tensor([record_cells.index(c) for c in convergence_cells], device=dev)
    s = initial_state(params, topo, settings, len(record_cells))
    step = _step_function(settings)
    out = _empty_output(s, record_cells, J)
    while s.index.numel() > 0:
        for _ in range(settings.check_every):
            advance(s, topo, cells, settings, step)
        code = failure_codes(s)
        completed = s.k // J
        error = torch.full((s.k.shape[0],), float("inf"), dtype=torch.float64, device=dev)
        ready = completed >= 2
        if ready.any():
            change = beat_change_mmhg(s, completed.clamp_min(2), conv, rows, J)
            error = torch.where(ready, change, error)
        converged = error < settings.tolerance_mmhg
        done = (code > 0) | converged | (completed >= settings.max_cycles)
        if done.any():
            _finish(out, s, done, code, completed, converged, error, J)
            s = s.select(~done)
    return out


def _empty_output(s: _State, record_cells: list[int], J: int) -> RunOutput:
    B = s.A.shape[0]
    dev = s.A.device
    return RunOutput(
        record_cells=record_cells,
        A=torch.full((B, len(record_cells), J), float("nan"), dtype=s.A.dtype, device=dev),
        Q=torch.full((B, len(record_cells), J), float("nan"), dtype=s.A.dtype, device=dev),
        Pc=torch.full((B, s.Pc.shape[1], J), float("nan"), dtype=torch.float64, device=dev),
        cycles=torch.zeros(B, dtype=torch.long, device=dev),
        converged=torch.zeros(B, dtype=torch.bool, device=dev),
        status=torch.zeros(B, dtype=torch.long, device=dev),
        reason=[""] * B,
        error_mmhg=torch.full((B,), float("nan"), dtype=torch.float64, device=dev),
        steps=torch.zeros(B, dtype=torch.long, device=dev),
    )


def _finish(out: RunOutput, s: _State, done, code, completed, converged, error, J: int) -> None:
    idx = s.index[done]
    last = completed[done].clamp_min(1) - 1
    out.A[idx] = _beat(s.buf_A[done], last, J)
    out.Q[idx] = _beat(s.buf_Q[done], last, J)
    out.Pc[idx] = _beat(s.buf_Pc[done], last, J)
    out.cycles[idx] = completed[done]
    out.converged[idx] = converged[done] & (code[done] == 0)
    out.status[idx] = code[done]
    out.error_mmhg[idx] = error[done]
    out.steps[idx] = s.steps[done]
    for i, c in zip(idx.tolist(), code[done].tolist(), strict=True):
        out.reason[i] = REASONS[c - 1] if c > 0 else ""
    if (code[done] > 0).any():
        log.info("%d subject(s) failed: %s", int((code[done] > 0).sum()), sorted({out.reason[i] for i in idx.tolist()} - {""}))


def pressure_at(A: torch.Tensor, p: Parameters, cells: list[int]) -> torch.Tensor:
    """Tube-law pressure of recorded areas A (B, S, J) at flat ``cells``."""
    idx = torch.tensor(cells, dtype=torch.long, device=A.device)
    return pressure(A, p.A0[:, idx, None], p.beta[:, idx, None], p.p_ref[:, idx, None])
