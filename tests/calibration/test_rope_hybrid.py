"""RoPE on top of a hybrid PPG posterior: the embedded APW posterior is the NPE, PPG windows
reach its embedding space through the decoder, and the result reads PPG windows.

A tiny untrained hybrid is enough: the properties checked are those of the composition
(shapes, prior box, plain-data round trip, the differentiable normalisation, the reference
check) and that fine-tuning on labels pulls the posterior towards them.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch

from cardiosbi.calibration import FineTuneConfig, RopePosterior, TransportConfig, calibrate_hybrid
from cardiosbi.calibration.hybrid import hybrid_reference
from cardiosbi.calibration.pressure_encoder import DecodedPressureEncoder, normalize_torch
from cardiosbi.cli.main import run
from cardiosbi.datasets.reader import prepare_windows
from cardiosbi.default_models import load_default_posterior, load_default_reference
from cardiosbi.errors import ConfigError, SignalError
from cardiosbi.hybrid import CVAEConfig, HybridPosterior, PressureCVAE
from cardiosbi.hybrid.posterior import payload_sha256
from cardiosbi.inference import load_posterior
from cardiosbi.inference.serialization import posterior_payload
from cardiosbi.signals.normalize import normalize_window

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELLED = ["hr", "map_radial"]
TARGET = torch.tensor([55.0, 65.0])  # far from the untrained hybrid's medians (~85, ~94)


def ppg_windows(n: int, seed: int) -> torch.Tensor:
    """(n, 1, 1000) pulse-like PPG windows at 125 Hz, z-scored per window like real ones."""
    rng = np.random.default_rng(seed)
    t = np.arange(1000) / 125.0
    rate, phase = rng.uniform(1.0, 1.6, (n, 1)), rng.uniform(0, 2 * np.pi, (n, 1))
    x = (np.sin(2 * np.pi * rate * t + phase) + 0.4 * np.sin(4 * np.pi * rate * t + 2 * phase)
         + 0.1 * rng.standard_normal((n, t.size)))
    return torch.from_numpy(normalize_window(x)[:, None]).float()


@pytest.fixture(scope="module")
def hybrid():
    apw = load_default_posterior("apw")
    torch.manual_seed(0)
    cvae = PressureCVAE(1000, CVAEConfig(channels=[4, 8], latent_dim=2, hidden=16),
                        apw_mean=85.0, apw_std=20.0)
    return HybridPosterior(cvae, apw, n_apw=4, apw_sha256=payload_sha256(posterior_payload(apw)))


@pytest.fixture(scope="module")
def reference():
    shipped = load_default_reference("apw")
    rows = torch.randperm(len(shipped.theta), generator=torch.Generator().manual_seed(0))[:512]
    return shipped.theta[rows], shipped.embeddings[rows]


@pytest.fixture(scope="module")
def rope(hybrid, reference):
    """Calibrated on windows whose labels all lie near TARGET; a relaxed simulation marginal
    (tau small) lets the test windows' mixtures concentrate where the labels are."""
    theta_reference, embeddings = reference
    generator = torch.Generator().manual_seed(3)
    labels = TARGET + 2.0 * torch.randn(48, 2, generator=generator)
    # a high learning rate: 10 steps must do what the default recipe does in thousands
    return calibrate_hybrid(
        hybrid, labels, ppg_windows(48, seed=1), None, reference_embeddings=embeddings,
        theta_reference=theta_reference, labelled=LABELLED,
        fine_tune=FineTuneConfig(learning_rate=3e-3, max_steps=10, batch_size=16,
                                 val_every_steps=5),
        transport=TransportConfig(gamma=0.5, tau=0.1))


def test_the_torch_normalisation_is_the_training_one(hybrid):
    stats = hybrid.apw.input_spec["stats"]
    pressure = 80 + 15 * torch.randn(5, 1, 1000, dtype=torch.float64)
    pressure[0] = 93.0  # a flat window becomes zeros, not noise
    for normalize in ("window", "window+level", "none"):
        expected = prepare_windows(pressure.numpy(), normalize, stats)
        got = normalize_torch(pressure, normalize,
                              {k: torch.tensor(v).reshape(1, -1, 1) for k, v in stats.items()})
        np.testing.assert_allclose(got.numpy(), expected, rtol=1e-5, atol=1e-5)


def test_draws_have_the_posterior_shape_and_stay_in_the_prior_box(rope, hybrid):
    draws = rope.sample(ppg_windows(5, seed=2), 40, generator=torch.Generator().manual_seed(0))
    assert draws.shape == (40, 5, hybrid.num_parameters) and torch.isfinite(draws).all()
    assert ((draws >= hybrid.low.float()) & (draws <= hybrid.high.float())).all()
    assert rope.parameter_names == hybrid.parameter_names
    assert rope.input_spec == hybrid.input_spec  # `infer` prepares PPG windows for it
    torch.testing.assert_close(rope.reject_width90, hybrid.reject_width90, equal_nan=True)


def test_save_load_reproduces_seeded_draws(rope, tmp_path):
    x = ppg_windows(4, seed=2)
    rope.save(tmp_path / "rope.pt")
    loaded = load_posterior(tmp_path / "rope.pt")
    assert isinstance(loaded, RopePosterior) and isinstance(loaded.encoder, DecodedPressureEncoder)
    assert loaded.input_spec == rope.input_spec
    seeded = [p.sample((30,), x=x, generator=torch.Generator().manual_seed(7)) for p in (rope, loaded)]
    torch.testing.assert_close(seeded[0], seeded[1])
    torch.testing.assert_close(rope.log_prob(seeded[0][0], x), loaded.log_prob(seeded[0][0], x))
    with pytest.raises(SignalError, match=r"PPG windows must be \(B, 1, 1000\)"):
        loaded.sample((5,), x=torch.zeros(2, 3, 1000))  # APW-shaped input is not what it reads


def test_calibration_pulls_the_medians_towards_the_labels(rope, hybrid):
    x = ppg_windows(8, seed=4)
    medians = {}
    for name, posterior in (("hybrid", hybrid), ("rope", rope)):
        draws = posterior.sample((200,), x=x, generator=torch.Generator().manual_seed(0))
        columns = [hybrid.parameter_names.index(p) for p in LABELLED]
        medians[name] = draws[..., columns].median(dim=0).values.median(dim=0).values
    before = (medians["hybrid"] - TARGET).abs()
    after = (medians["rope"] - TARGET).abs()
    # Both labelled quantities move at least halfway to the labels (each starts ~25-30 units
    # away). Without fine-tuning (OT only) they stay ~25 away: g must learn the labels.
    assert (after < 0.5 * before).all(), (medians, TARGET)


def test_reference_default_needs_the_shipped_apw(hybrid):
    assert hybrid_reference(hybrid).embeddings.shape == (4096, 64)
    other_apw = copy.deepcopy(hybrid.apw)
    other_apw.reject_width90 = other_apw.reject_width90 * 2  # any change of the payload
    other = HybridPosterior(hybrid.cvae, other_apw, n_apw=4)
    with pytest.raises(ConfigError, match="not the shipped apw.pt"):
        hybrid_reference(other)


def test_calibrate_command_on_a_hybrid_file(hybrid, tmp_path):
    """`cardiosbi calibrate posterior=hybrid.pt calibration=... reference=default`."""
    hybrid.save(tmp_path / "hybrid.pt")
    x = ppg_windows(24, seed=5)
    np.savez(tmp_path / "calibration.npz", theta=TARGET.repeat(24, 1).numpy(), x=x.numpy(),
             names=np.array(LABELLED), low=np.array([40.0, 30.0]), high=np.array([150.0, 180.0]))
    assert run(["calibrate", f"posterior={tmp_path / 'hybrid.pt'}",
                f"calibration={tmp_path / 'calibration.npz'}", "rope.fine_tune=false",
                "rope.mode=single", "--out", str(tmp_path / "cal")]) == 0
    rope = load_posterior(tmp_path / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior) and rope.mode == "single"
    assert rope.reference_embeddings.shape == (4096, 64)
    assert rope.input_spec == hybrid.input_spec
    draws = rope.sample((10,), x=x[:2], generator=torch.Generator().manual_seed(0))
    assert draws.shape == (10, 2, 7) and torch.isfinite(draws).all()


def test_calibrate_command_on_labelled_recordings(hybrid, tmp_path, v136s):
    """Monitor recordings as the calibration set: PPG windows cut as `infer` cuts them for the
    hybrid, HR labels from the ECG and radial pressures from the arterial line."""
    hybrid.save(tmp_path / "hybrid.pt")
    assert run(["calibrate", f"posterior={tmp_path / 'hybrid.pt'}",
                f"calibration={v136s}.hea", "rope.fine_tuning.max_steps=3",
                "rope.fine_tuning.val_every_steps=3", "rope.fine_tuning.batch_size=8",
                "--out", str(tmp_path / "cal")]) == 0
    rope = load_posterior(tmp_path / "cal" / "posterior.pt")
    assert isinstance(rope, RopePosterior) and isinstance(rope.encoder, DecodedPressureEncoder)
    assert rope.input_spec["channels"] == ["digital/PPG"]
    # the calibrated file is accepted by `cardiosbi infer` like the hybrid itself
    assert run(["infer", str(v136s), f"posterior={tmp_path / 'cal' / 'posterior.pt'}",
                "n_samples=20", "--out", str(tmp_path / "inf")]) == 0
    estimates = (tmp_path / "inf" / "estimates" / "v136s.csv").read_text()
    assert "map_radial" in estimates and "hr" in estimates


def test_reference_simulations_given_as_apw_windows(hybrid):
    """A reference tensor file holds APW-posterior inputs: they are embedded by h itself, and
    fine-tuning targets h of the nearest simulation while g reads PPG."""
    generator = torch.Generator().manual_seed(6)
    pressure = 90 + 20 * torch.randn(32, 1, 1000, generator=generator)
    x_reference = torch.from_numpy(prepare_windows(pressure.numpy(), "window+level",
                                                   hybrid.apw.input_spec["stats"]))
    low, high = hybrid.low.float(), hybrid.high.float()
    theta_reference = low + (high - low) * torch.rand(32, 7, generator=generator)
    rope = calibrate_hybrid(hybrid, TARGET.repeat(12, 1), ppg_windows(12, seed=7), x_reference,
                            theta_reference=theta_reference, labelled=LABELLED,
                            fine_tune=FineTuneConfig(max_steps=2, val_every_steps=2, batch_size=8))
    with torch.no_grad():
        torch.testing.assert_close(rope.reference_embeddings, hybrid.apw.embed(x_reference))
    assert rope.sample(ppg_windows(2, seed=8), 5).shape == (5, 2, 7)
