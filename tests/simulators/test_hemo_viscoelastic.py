"""Viscoelastic (Voigt) wall: the cyclic-reduction solve, the wiring, and the physics it adds.

The slow tests run with ``python -m pytest tests/simulators/test_hemo_viscoelastic.py -m slow -s``.
"""

from __future__ import annotations

import dataclasses
import math
import shutil

import numpy as np
import pytest
import torch
import yaml
from scipy.linalg import solve_banded
from scipy.optimize import curve_fit

from simulators.hemodynamics import NetworkError, load_network, scheme, simulate
from simulators.hemodynamics.conservation import mass_balance
from simulators.hemodynamics.layout import build_layout
from simulators.hemodynamics.openbf import import_openbf
from simulators.hemodynamics.openbf_run import run_network
from simulators.hemodynamics.pwdb import pwdb_subject_network, subject_parameters
from simulators.hemodynamics.scheme import muscl_step, time_step
from simulators.hemodynamics.viscoelastic import (
    pcr_stages,
    solve_tridiagonal,
    viscous_step,
    wall_coefficient,
)

CPU = torch.device("cpu")
BLOCKS = [1, 2, 7, 8, 9, 33, 64, 65, 100]  # uneven, powers of two and one past them


def block_system(rng: np.random.Generator, batch: int, dtype: torch.dtype, stiffness=None):
    """Tridiagonal systems, one block per entry of BLOCKS, per subject.

    ``stiffness`` None: random couplings and a diagonal 1.05-2x their sum with random signs;
    a number a: the wall's system (1 + 2a) x_i - a (x_{i-1} + x_{i+1}) with zero-flux ends,
    barely diagonally dominant, so couplings survive many reduction stages.
    """
    n = sum(BLOCKS)
    starts = np.cumsum([0] + BLOCKS[:-1])
    if stiffness is None:
        lower, upper = rng.uniform(-3.0, 3.0, (batch, n)), rng.uniform(-3.0, 3.0, (batch, n))
    else:
        lower = upper = np.full((batch, n), -float(stiffness))
    lower, upper = lower.copy(), upper.copy()
    lower[:, starts] = 0.0
    upper[:, starts + np.array(BLOCKS) - 1] = 0.0
    if stiffness is None:
        diag = (np.abs(lower) + np.abs(upper)) * rng.uniform(1.05, 2.0, (batch, n))
        diag = np.where(rng.random((batch, n)) < 0.5, diag, -diag) + np.where(diag == 0, 1.0, 0.0)
    else:
        diag = 1.0 - lower - upper
    rhs = rng.normal(size=(batch, n))
    tensors = [torch.tensor(x, dtype=dtype) for x in (lower, diag, upper, rhs)]
    return (lower, diag, upper, rhs), tensors


def banded_reference(lower, diag, upper, rhs) -> np.ndarray:
    out = []
    for b in range(rhs.shape[0]):
        ab = np.zeros((3, rhs.shape[1]))
        ab[0, 1:], ab[1], ab[2, :-1] = upper[b, :-1], diag[b], lower[b, 1:]
        out.append(solve_banded((1, 1), ab, rhs[b]))
    return np.array(out)


@pytest.mark.parametrize("stiffness", [None, 1e3])
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_cyclic_reduction_matches_solve_banded(dtype, stiffness):
    """Error within 20 x machine epsilon x the condition number (<= 1 + 4a for the wall)."""
    arrays, tensors = block_system(np.random.default_rng(3), 4, dtype, stiffness)
    x = solve_tridiagonal(*tensors, stages=pcr_stages(max(BLOCKS))).double().numpy()
    ref = banded_reference(*arrays)
    condition = 1 + 4 * (stiffness or 1.0)
    tol = 20 * torch.finfo(dtype).eps * condition
    assert np.abs(x - ref).max() <= tol * np.abs(ref).max()


def test_one_stage_short_leaves_the_longest_block_unsolved():
    """The stage count matters where couplings are strong (the wall's a >> 1)."""
    arrays, tensors = block_system(np.random.default_rng(5), 1, torch.float64, 1e3)
    x = solve_tridiagonal(*tensors, stages=pcr_stages(max(BLOCKS)) - 1).numpy()
    ref = banded_reference(*arrays)
    assert np.abs(x - ref).max() > 1e-3 * np.abs(ref).max()


@pytest.mark.slow
def test_cyclic_reduction_compiles():
    """Inductor (CPU) compiles the stages (~30 s); the PWDB test runs them inside the loop."""
    arrays, tensors = block_system(np.random.default_rng(4), 2, torch.float32, 1e3)
    stages = pcr_stages(max(BLOCKS))
    compiled = torch.compile(solve_tridiagonal, fullgraph=True)
    x = compiled(*tensors, stages=stages).double().numpy()
    eager = solve_tridiagonal(*tensors, stages=stages).double().numpy()
    ref = banded_reference(*arrays)
    assert np.abs(x - eager).max() <= 1e-5 * np.abs(ref).max()
    assert np.abs(x - ref).max() <= 20 * torch.finfo(torch.float32).eps * 4001 * np.abs(ref).max()


def mixed_pair():
    """ibif with only the first daughter viscoelastic (each segment has a uniform wall)."""
    net = load_network("ibif")
    net.segments[1].viscoelastic = True
    return net


def test_viscous_step_touches_only_viscoelastic_cells():
    topo, p = build_layout([mixed_pair()], 2e-3, 5, torch.float64, CPU)
    assert topo.viscoelastic and topo.visc_stages == pcr_stages(max(topo.n_cells))
    Q = torch.randn(1, topo.n_flat, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    dt = torch.full((1, 1), 1e-4, dtype=torch.float64)
    new = viscous_step(Q, dt, p.visc, topo.visc_has_left, topo.visc_has_right, topo.visc_stages)
    off = topo.offsets[1]
    inside = torch.zeros(topo.n_flat, dtype=torch.bool)
    inside[off + 1: off + 1 + topo.n_cells[1]] = True
    assert torch.equal(new[:, ~inside], Q[:, ~inside])  # ghosts and elastic segments
    q, q_new = Q[0, inside], new[0, inside]
    assert abs(float(q_new.sum() - q.sum())) < 1e-12 * float(q.abs().sum())  # zero-flux ends
    assert float(q_new.max()) < float(q.max()) and float(q_new.min()) > float(q.min())
    assert float(q_new.diff().abs().sum()) < 0.5 * float(q.diff().abs().sum())  # smoothed


def test_wall_coefficient_units():
    """Cv = (b0 + b1/(2 R0)) / (rho sqrt(A0)): 0.036 m^2/s for R0 = 1 cm, blood density."""
    expected = (0.6 + 1.5e-3 / 0.02) / (1060.0 * math.sqrt(math.pi * 1e-4))
    assert wall_coefficient(np.array(0.01), 1060.0) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(0.0359, abs=1e-4)


def test_elastic_network_runs_as_before(monkeypatch):
    """ibif, 8 mm, float64, first beat: the values of commit fe1417e (before the wall existed),
    and no viscous step is ever called for an elastic network."""

    def forbidden(*args):
        raise AssertionError("viscous step called for an elastic network")

    monkeypatch.setattr(scheme, "viscous_step", forbidden)
    r = run_network(load_network("ibif"), dx=8e-3, max_cycles=1, dtype=torch.float64, compile=False)
    p_mid = [6933.199616089016, 6980.946293912631, 5190.912990057717]
    q_end = [2.234989109990355e-05, -1.5640673457793792e-06, -8.763133549453499e-07]
    np.testing.assert_allclose(r.waveforms["parent"]["P"][25::25, 2], p_mid, rtol=1e-12)
    np.testing.assert_allclose(r.waveforms["d1"]["Q"][25::25, 4], q_end, rtol=1e-10)


def test_zero_wall_coefficients_change_nothing():
    """Flagged segments with b0 = b1 = 0 solve the identity system: bit-identical state."""
    topo, p = build_layout([load_network("ibif")], 4e-3, 5, torch.float64, CPU)
    net = mixed_pair()
    net.wall_b0, net.wall_b1 = 0.0, 0.0
    topo_v, p_v = build_layout([net], 4e-3, 5, torch.float64, CPU)
    A, Q = p.A0 * 1.1, torch.full_like(p.A0, 1e-6)
    dt = time_step(A, Q, p, 0.9)
    a_e, q_e = muscl_step(A, Q, dt, p, topo)
    a_v, q_v = muscl_step(A, Q, dt, p_v, topo_v)
    assert topo_v.viscoelastic and torch.equal(a_e, a_v) and torch.equal(q_e, q_v)


def standing_wave_amplitude(viscoelastic: bool, wavelength: float = 0.2, t_end: float = 0.03):
    """Amplitude of the cos(kx) mode of A/A0 - 1 in the middle of a 1-m uniform vessel.

    Interior scheme only (ghost ends), no friction, A = A0 (1 + 1e-3 cos kx), Q = 0 at t = 0.
    The window [0.3, 0.7] m stays out of reach of the ends (waves at c0 = 6.3 m/s and the
    diffusion length sqrt(Cv t) cover < 0.26 m in 30 ms).
    """
    cca = load_network("cca")
    seg = dataclasses.replace(cca.segments[0], length=1.0, viscoelastic=viscoelastic)
    topo, p = build_layout([dataclasses.replace(cca, segments=[seg], mu=0.0)], 1e-3, 5,
                           torch.float64, CPU)
    k = 2 * math.pi / wavelength
    x = (torch.arange(topo.n_flat, dtype=torch.float64) - 0.5) * 1e-3  # cell centres
    A, Q = p.A0 * (1 + 1e-3 * torch.cos(k * x)), torch.zeros_like(p.A0)
    window = (x > 0.3) & (x < 0.7) & topo.interior
    basis = torch.cos(k * x[window]) * 2e-3 / 0.4
    times, amplitude, t = [], [], 0.0
    while t < t_end:
        times.append(t)
        amplitude.append(float(((A / p.A0 - 1)[0, window] * basis).sum()) / 1e-3)
        dt = time_step(A, Q, p, 0.9)
        A, Q = muscl_step(A, Q, dt, p, topo)
        t += float(dt)
    c0 = float(p.kc[0, 1] * p.A0[0, 1] ** 0.25)
    return np.array(times), np.array(amplitude), k, c0, wall_coefficient(seg.r_prox, cca.rho)


def damped_cosine(t, amplitude, rate, omega, phase):
    return amplitude * np.exp(-rate * t) * np.cos(omega * t - phase)


def test_standing_wave_decays_at_the_linearised_rate():
    """Linearised: A_tt = c0^2 A_xx + Cv A_xxt, so a mode cos(kx) decays as exp(-Cv k^2 t / 2)
    and oscillates at sqrt(c0^2 k^2 - (Cv k^2 / 2)^2). The elastic run's fitted rate (numerical
    dissipation) is subtracted. Tolerance 3 % on the rate: backward Euler alone makes it
    ~ Cv k^2 dt / 2 = 1.3 % low here; 0.5 % on the frequency."""
    fits = {}
    for visco in (False, True):
        t, amp, k, c0, cv = standing_wave_amplitude(visco)
        guess = [1.0, cv * k * k / 2 if visco else 0.0, c0 * k, 0.0]
        fits[visco], _ = curve_fit(damped_cosine, t, amp, p0=guess)
    rate = cv * k * k / 2
    assert rate * t[-1] > 2.0  # the wall removes > 85 % of the amplitude within the run
    assert abs(fits[False][1]) < 0.01 * rate
    assert fits[True][1] - fits[False][1] == pytest.approx(rate, rel=0.03)
    assert fits[True][2] == pytest.approx(math.sqrt((c0 * k) ** 2 - rate**2), rel=0.005)


def test_mass_is_conserved_with_the_wall():
    """ibif, every wall viscoelastic, 8 mm, to periodic state: Q_out/Q_in within 1 % (1.003;
    1.007 at 2 and 4 mm, where the elastic network gives 1.007 at 2 mm)."""
    net = load_network("ibif")
    for seg in net.segments:
        seg.viscoelastic = True
    result = mass_balance(net, dx=8e-3, min_cells=2, compile=False)
    assert result["converged"], result
    assert abs(result["outflow_ratio"] - 1) <= 0.01, result
    assert result["junction_net_imbalance"].max() <= 0.002, result


def openbf_yaml(tmp_path, repo_root, flag) -> str:
    """The openBF 1.x single-artery case with ``visco-elastic: flag`` on its vessel."""
    src = repo_root / "tests/data/hemodynamics/openbf_v1/single-artery"
    data = yaml.safe_load((src / "single-artery.yml").read_text())
    for vessel in data["network"]:
        vessel["visco-elastic"] = flag
    shutil.copy(src / "single-artery_inlet.dat", tmp_path)
    path = tmp_path / "single.yml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def test_openbf_visco_elastic_key(tmp_path, repo_root):
    assert all(s.viscoelastic for s in import_openbf(openbf_yaml(tmp_path, repo_root, True)).segments)
    assert not any(s.viscoelastic for s in import_openbf(openbf_yaml(tmp_path, repo_root, False)).segments)
    with pytest.raises(NetworkError, match="visco-elastic must be true or false"):
        import_openbf(openbf_yaml(tmp_path, repo_root, "yes"))


def test_simulate_option_and_batch_rules():
    assert all(s.viscoelastic for s in pwdb_subject_network(1, viscoelastic=True).segments)
    assert not any(s.viscoelastic for s in pwdb_subject_network(1).segments)
    fast = {"network": "cca", "sites": ("carotid",), "dx": 8e-3, "max_cycles": 1,
            "samples_per_beat": 256, "dtype": torch.float64, "compile": False}
    elastic = simulate({"hr": [70.0]}, **fast)
    visco = simulate({"hr": [70.0]}, viscoelastic=True, **fast)
    assert visco.reason == elastic.reason == ["not_periodic"]  # one beat only: no failure
    assert torch.isfinite(visco.waveforms["carotid"]["P"]).all()
    assert not torch.equal(elastic.waveforms["carotid"]["P"], visco.waveforms["carotid"]["P"])
    net = mixed_pair()
    with pytest.raises(NetworkError, match="viscoelastic"):
        build_layout([net, load_network("ibif")], 4e-3, 5, torch.float64, CPU)
    net.wall_b1 = -1.0
    with pytest.raises(NetworkError, match="wall_b1"):
        net.validate()


def high_frequency_fraction(pressure: torch.Tensor, f_cut: float, fs: float) -> float:
    """Share of the pulsatile power of one beat (B = 1, one period) above ``f_cut`` Hz."""
    beat = pressure[0].double().numpy()
    power = np.abs(np.fft.rfft(beat - beat.mean())) ** 2
    freqs = np.fft.rfftfreq(beat.size, 1.0 / fs)
    return float(power[freqs > f_cut].sum() / power[1:].sum())


@pytest.mark.slow
def test_pwdb_subject_with_the_wall():
    """pwdb116 subject 1, 2 mm, float32, compiled (~3 min): converges with the wall, MAP moves
    < 2 mmHg at every site, and the share of the pulsatile pressure power above 10 Hz does not
    grow centrally and drops by >= 20 % at the peripheral sites, where the waves have travelled
    furthest through viscous walls (measured: aortic root -2 %, radial and digital -48 %)."""
    sites = ("aortic_root", "carotid", "brachial", "radial", "digital")
    hr, fs = subject_parameters(1).hr, 1000.0
    runs = {v: simulate({"hr": [hr]}, network="pwdb116", sites=sites, dx=2e-3, fs=fs,
                        dtype=torch.float32, compile=True, viscoelastic=v) for v in (False, True)}
    assert runs[True].status.tolist() == [0] and bool(runs[True].converged[0]), runs[True].reason
    for site in sites:
        maps = [float(runs[v].labels[f"map_{site}"][0]) for v in (False, True)]
        hf = [high_frequency_fraction(runs[v].waveforms[site]["P"], 10.0, fs) for v in (False, True)]
        print(site, "MAP elastic/visco", maps, "power fraction > 10 Hz elastic/visco", hf)
        assert abs(maps[1] - maps[0]) < 2.0
        assert hf[1] <= (0.8 if site in ("brachial", "radial", "digital") else 1.0) * hf[0]


@pytest.mark.gpu
@pytest.mark.parametrize("compile", [False, True])
def test_cpu_and_cuda_agree_with_the_wall(compile):
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    fast = {"network": "ibif", "sites": ("d1",), "dx": 4e-3, "max_cycles": 1,
            "samples_per_beat": 256, "dtype": torch.float64, "viscoelastic": True}
    cpu = simulate({"hr": [65.0, 80.0]}, **fast)
    gpu = simulate({"hr": [65.0, 80.0]}, device="cuda", compile=compile, **fast)
    torch.testing.assert_close(gpu.waveforms["d1"]["P"].cpu(), cpu.waveforms["d1"]["P"],
                               rtol=1e-9, atol=1e-6)
