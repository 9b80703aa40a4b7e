"""Time marching to a periodic steady state, per subject, for a batch of networks.

Each subject has its own time and CFL time step, so subjects never slow each other down
numerically; a subject that converges, reaches the cycle cap or fails is removed from the
working batch (it stops costing compute). Only a ring buffer of the last three beats at the
recorded cells is kept, so memory does not grow with simulated time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial

import torch
from torch._higher_order_ops.while_loop import while_loop

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
    check_every: int = 50  # steps per block: between failure / convergence checks
    compile: bool = False  # torch.compile the blocks of steps (pays off for long runs)
    cpu_chunk: int | None = None  # compiled CPU blocks: subjects per chunk (None: 4 per thread)


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
    i, A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot, w0, p: Parameters,
    topo: Topology, cells: torch.Tensor, cfl: float, J: int,
):
    """Step ``i`` of a block: one time step, then the sample of the checkpoint it crossed.

    Checkpoint j of cycle n lies at (n + j/J) * period and is sampled linearly in time. A step
    crosses at most one checkpoint; its values go to column i of the block's pending arrays
    (B, S, n) and its ring-buffer slot to ``pend_slot[:, i]`` (-1: none crossed), which
    :func:`flush` writes out after the block. Pure: the same function runs step by step
    (eager, or compiled on CUDA) and as the body of a compiled loop on the CPU.
    """
    a_before, q_before, pc_before = A[:, cells], Q[:, cells], Pc
    A, Q, Pc, dt, residual = physics_step(A, Q, Pc, t, residual, w0, p, topo, cfl)
    dt64 = dt.squeeze(1).double()
    t_new = t + dt64
    cycle, j = k // J, k % J
    checkpoint = (cycle.double() + j.double() / J) * p.period
    cross = t_new >= checkpoint
    w = ((checkpoint - t) / dt64).clamp(0.0, 1.0).unsqueeze(1)
    column = torch.arange(pend_slot.shape[1], device=A.device) == i
    pend_A = _put_column(pend_A, column, a_before + w.to(A.dtype) * (A[:, cells] - a_before))
    pend_Q = _put_column(pend_Q, column, q_before + w.to(A.dtype) * (Q[:, cells] - q_before))
    pend_Pc = _put_column(pend_Pc, column, pc_before + w * (Pc - pc_before))
    slot = torch.where(cross, (cycle % 3) * J + j, -1)
    pend_slot = torch.where(column, slot.unsqueeze(1), pend_slot)
    return i + 1, A, Q, Pc, t_new, k + cross.long(), residual, pend_A, pend_Q, pend_Pc, pend_slot


def _put_column(pending: torch.Tensor, column: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
    return torch.where(column, value.unsqueeze(2), pending)


def march_block(A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot, w0, p: Parameters,
                topo: Topology, cells: torch.Tensor, cfl: float, J: int):
    """All ``pend_slot.shape[1]`` steps of a block in one loop (torch.while_loop).

    Compiled with inductor's C++ wrapper, the loop runs without returning to Python, so the
    per-step cost of a compiled call (guards, buffer allocation, ~50 us on the CPU) is paid
    once per block.
    """
    n = pend_slot.shape[1]

    def body(*carried):
        return step_and_sample(*carried, w0, p, topo, cells, cfl, J)

    carried = _start(A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot)
    return while_loop(lambda i, *rest: i < n, body, carried)[1:]


def _start(A, *state) -> tuple:
    """The loop state of a block: step counter i = 0, then the carried tensors."""
    return (torch.zeros((), dtype=torch.long, device=A.device), A, *state)


class _CompiledStep:
    """``torch.compile`` of a step function that falls back to eager execution on failure.

    Compilation is only a speed-up. torch 2.13's inductor can fail in its multi-threaded CPU
    code generation for scatter-add (seen on the ibif network with 2 threads); the function
    mutates nothing, so running the eager function instead is safe.
    """

    def __init__(self, function, eager, **compile_options) -> None:
        self.eager = eager
        self.compiled = torch.compile(function, **compile_options)
        self.failed = False

    def __call__(self, *args):
        if not self.failed:
            try:
                return self.compiled(*args)
            except torch._dynamo.exc.BackendCompilerFailed as exc:
                log.warning("torch.compile failed (%s: %s); running the step uncompiled",
                            type(exc).__name__, str(exc).splitlines()[0][:300])
                self.failed = True
        return self.eager(*args)


# Inductor on the CPU: materialise intermediates read twice instead of recomputing them in
# every consumer (the MUSCL stencils read each slope from two faces): 1.3x per step.
CPU_INDUCTOR_OPTIONS = {"realize_reads_threshold": 2, "cpp_wrapper": True}
# Subjects per compiled block on the CPU, per torch thread. A subject's state is ~1 MB at 1 mm,
# so a few stay in cache: ADAN56 at 1 mm ran 1.3 cycles/s on one thread in chunks of 4 against
# 0.67 with 256 at once; two threads ran 1.1 cycles/s in chunks of 4 and 1.5 in chunks of 8.
CPU_CHUNK_PER_THREAD = 4
_COMPILED: dict[str, _CompiledStep] = {}


def _eager_block(A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot, w0, p, topo,
                 cells, cfl, J, step=step_and_sample):
    carried = _start(A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot)
    for _ in range(pend_slot.shape[1]):
        carried = step(*carried, w0, p, topo, cells, cfl, J)
    return carried[1:]


class _ChunkedBlock:
    """Run a block on fixed-size chunks of the batch, one after the other (CPU).

    One chunk shape means one static compilation per network and dtype (inductor's dynamic-
    shape lowering of the loop fails when a second network changes the cell count): the last
    chunk is padded with copies of the batch's last subject, whose results are dropped.
    """

    def __init__(self, block, size: int) -> None:
        self.block, self.size = block, size

    def __call__(self, A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot, w0,
                 p: Parameters, topo, cells, cfl, J):
        batch = (A, Q, Pc, t, k, residual, pend_A, pend_Q, pend_Pc, pend_slot, *w0)
        B, parts = A.shape[0], []
        for start in range(0, B, self.size):
            rows = slice(start, start + self.size)
            if start + self.size > B:
                rows = torch.arange(start, start + self.size, device=A.device).clamp_max(B - 1)
            chunk = [x[rows] for x in batch]
            out = self.block(*chunk[:10], tuple(chunk[10:]), p.select(rows), topo, cells, cfl, J)
            parts.append([x[: B - start] for x in out])
        return tuple(torch.cat(xs) for xs in zip(*parts, strict=True))


def _block_function(settings: RunSettings, device: torch.device, batch: int):
    """How a block of steps runs: eager, compiled loops over chunks (CPU) or compiled steps
    (CUDA, where large batches pay)."""
    if not settings.compile:
        return _eager_block
    if device.type == "cpu":
        if "cpu" not in _COMPILED:
            _COMPILED["cpu"] = _CompiledStep(march_block, _eager_block, fullgraph=True,
                                             dynamic=False, options=CPU_INDUCTOR_OPTIONS)
        chunk = settings.cpu_chunk or CPU_CHUNK_PER_THREAD * torch.get_num_threads()
        return _ChunkedBlock(_COMPILED["cpu"], min(chunk, batch))
    if "step" not in _COMPILED:
        _COMPILED["step"] = _CompiledStep(step_and_sample, step_and_sample)
    return partial(_eager_block, step=_COMPILED["step"])


def advance(s: _State, topo: Topology, cells: torch.Tensor, settings: RunSettings, block) -> None:
    """Advance every working subject by ``settings.check_every`` steps and record the beats."""
    n = settings.check_every
    B, S, nW = s.A.shape[0], cells.numel(), s.Pc.shape[1]
    pending = (
        s.A.new_zeros(B, S, n), s.A.new_zeros(B, S, n), s.Pc.new_zeros(B, nW, n),
        torch.full((B, n), -1, dtype=torch.long, device=s.A.device),
    )
    s.A, s.Q, s.Pc, s.t, s.k, s.residual, pend_A, pend_Q, pend_Pc, pend_slot = block(
        s.A, s.Q, s.Pc, s.t, s.k, s.residual, *pending, s.w0, s.params, topo, cells,
        settings.cfl, settings.samples_per_cycle,
    )
    flush(s, pend_A, pend_Q, pend_Pc, pend_slot)
    s.steps = s.steps + n


def flush(s: _State, pend_A, pend_Q, pend_Pc, pend_slot) -> None:
    """Write the checkpoints crossed during a block into the three-beat ring buffers."""
    b, col = (pend_slot >= 0).nonzero(as_tuple=True)
    slot = pend_slot[b, col]
    s.buf_A[b, :, slot] = pend_A[b, :, col]
    s.buf_Q[b, :, slot] = pend_Q[b, :, col]
    s.buf_Pc[b, :, slot] = pend_Pc[b, :, col]


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
    block = _block_function(settings, dev, s.A.shape[0])
    out = _empty_output(s, record_cells, J)
    while s.index.numel() > 0:
        advance(s, topo, cells, settings, block)
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
