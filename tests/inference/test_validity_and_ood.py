"""Honest outputs: reject reasons, prior-bound pins, the OOD score, validation status, the
sbi-style sample API and crafted posterior files."""

from __future__ import annotations

import math

import pytest
import torch

from cardiosbi.biomarkers import DERIVED
from cardiosbi.default_models import DEFAULT_MODELS, default_model_path
from cardiosbi.errors import ConfigError, InputFileError
from cardiosbi.inference import Posterior, load_posterior
from cardiosbi.inference.ood import EmbeddingOOD, fit_ood
from cardiosbi.inference.serialization import posterior_payload

pytestmark = pytest.mark.usefixtures("one_torch_thread")


class FixedPosterior(Posterior):
    """Draws ``centre[b] + spread[b] * N(0, 1)`` per window b, where row b of x holds
    (centre..., spread...): a posterior whose summaries are known exactly."""

    kind = "fixed"

    def __init__(self, names, low, high, reject_width90=None):
        super().__init__(names, torch.tensor(low), torch.tensor(high), None, reject_width90)

    @property
    def x_shape(self):
        return (2 * self.num_parameters,)

    def _sample(self, x, n, generator=None):
        k = self.num_parameters
        centre, spread = x[:, :k].double(), x[:, k:].double()
        z = torch.randn((n, *centre.shape), generator=generator, dtype=torch.float64)
        return centre + spread * z

    def log_prob(self, theta, x):
        raise NotImplementedError

    def valid_rows(self, x):
        return torch.isfinite(torch.as_tensor(x)).all(dim=1)

    def ood_features(self, x):
        return torch.as_tensor(x).double()

    def state(self):
        return {"names": self.parameter_names, "low": self.low, "high": self.high}

    @classmethod
    def from_state(cls, state):
        return cls(state["names"], state["low"].tolist(), state["high"].tolist())


def fixed_posterior():
    return FixedPosterior(["hr", "sv"], [40.0, 20.0], [150.0, 130.0],
                          reject_width90=torch.tensor([10.0, 40.0], dtype=torch.float64))


def test_every_reject_names_its_reasons_and_derived_rows_inherit_them():
    posterior = fixed_posterior()
    x = torch.tensor([[70.0, 70.0, 1.0, 5.0],     # sound
                      [70.0, 70.0, 20.0, 5.0],    # HR interval 90 % width ~66 > 10
                      [149.5, 70.0, 0.1, 5.0],    # HR median pinned at the upper bound 150
                      [70.0, 20.5, 1.0, 1.0],     # SV pinned at the lower bound 20
                      [math.nan, 70.0, 1.0, 5.0]])  # unreadable window
    table = posterior.summarize(x, n=4000, generator=torch.Generator().manual_seed(0),
                                derived=DERIVED).set_index(["window", "parameter"])
    assert (table["reject"] == (table["reject_reason"] != "")).all()
    assert not table.loc[0, "reject"].any()
    assert "interval too wide (90% width" in table.loc[(1, "hr"), "reject_reason"]
    assert not table.loc[(1, "sv"), "reject"]
    assert "upper bound 150 bpm" in table.loc[(2, "hr"), "reject_reason"]
    assert table.loc[(2, "hr"), "at_bound"] and not table.loc[(2, "sv"), "at_bound"]
    assert "lower bound 20 mL" in table.loc[(3, "sv"), "reject_reason"]
    assert "NaN/inf" in table.loc[(4, "hr"), "reject_reason"]
    # CO = HR x SV is rejected with its inputs' reasons, named
    assert table.loc[(1, "co"), "reject_reason"].startswith("hr: interval too wide")
    assert table.loc[(3, "co"), "reject_reason"].startswith("sv: at prior bound")
    assert table.loc[(3, "co"), "at_bound"]


def test_validity_and_status_columns():
    posterior = fixed_posterior()
    posterior.validation = {"hr": {"status": "validated", "note": "ECG, 25 records"}}
    x = torch.tensor([[70.0, 70.0, 1.0, 5.0], [70.0, 70.0, 20.0, 5.0]])
    table = posterior.summarize(x, n=2000, derived=DERIVED).set_index(["window", "parameter"])
    assert table.loc[(0, "hr"), "status"] == "ok"
    assert table.loc[(0, "sv"), "status"] == "unvalidated"
    assert table.loc[(0, "sv"), "validity"] == "in silico only"
    assert "no real-data validation" in table.loc[(0, "sv"), "validity_note"]
    assert table.loc[(1, "hr"), "status"] == "rejected"
    # a derived biomarker is as valid as its least valid input
    assert table.loc[(0, "co"), "validity"] == "in silico only"
    assert table.loc[(0, "co"), "validity_note"].startswith("from hr, sv:")


def test_ood_false_alarm_rate_matches_its_target_on_gaussian_features():
    generator = torch.Generator().manual_seed(0)
    fit, calibration, test = (torch.randn(n, 8, generator=generator) for n in (4000, 4000, 8000))
    ood = fit_ood(fit, calibration, false_alarm=0.05, test=test)
    # Mahalanobis distance of N(0, I_8) is chi_8: the 95th percentile is sqrt(15.507)
    assert ood.threshold == pytest.approx(math.sqrt(15.507), rel=0.04)
    se = math.sqrt(0.05 * 0.95 / len(test))
    assert abs(ood.measured_false_alarm - 0.05) < 4 * se
    shifted = torch.randn(500, 8, generator=generator) + 3.0
    assert float((ood.score(shifted) > ood.threshold).double().mean()) > 0.99
    restored = EmbeddingOOD.from_state(ood.state())
    torch.testing.assert_close(restored.score(test), ood.score(test))


def test_summarize_flags_inputs_outside_the_training_distribution():
    posterior = fixed_posterior()
    generator = torch.Generator().manual_seed(1)
    typical = torch.tensor([70.0, 70.0, 2.0, 8.0]) + torch.randn(3000, 4, generator=generator)
    posterior.ood = fit_ood(typical[:2000], typical[2000:], false_alarm=0.01)
    x = torch.stack([typical[0], torch.tensor([120.0, 40.0, 2.0, 8.0])])
    table = posterior.summarize(x, n=500).set_index(["window", "parameter"])
    assert not table.loc[0, "ood"].any() and table.loc[1, "ood"].all()
    assert "input outside the training distribution" in table.loc[(1, "hr"), "reject_reason"]
    assert table.loc[1, "reject"].all()


def test_sbi_style_sample_for_one_window_and_a_batch():
    posterior = fixed_posterior()
    x = torch.tensor([[70.0, 70.0, 1.0, 5.0], [80.0, 60.0, 1.0, 5.0]])
    assert posterior.sample((7,), x=x[0]).shape == (7, 2)
    assert posterior.sample((7,), x=x).shape == (7, 2, 2)
    assert posterior.sample((3, 4), x=x).shape == (3, 4, 2, 2)
    assert posterior.sample(5, x=x[1]).shape == (5, 2)
    seeded = [posterior.sample((9,), x=x, generator=torch.Generator().manual_seed(2))
              for _ in range(2)]
    assert torch.equal(*seeded)
    with pytest.warns(DeprecationWarning, match=r"sample\(\(n,\), x=x\)"):
        old = posterior.sample(x, 9, generator=torch.Generator().manual_seed(2))
    assert torch.equal(old, seeded[0])
    with pytest.raises(ConfigError, match="needs the observation"):
        posterior.sample((3,))


def test_a_shipped_model_loads_by_name_with_validation_and_ood():
    for name in DEFAULT_MODELS:
        posterior = load_posterior(name)
        validity = posterior.validity()
        assert set(validity) == set(posterior.parameter_names)
        assert {v.status for v in validity.values()} <= {"validated", "in silico only",
                                                          "known bias"}
        assert all(v.note for v in validity.values())
        # tables join several reasons with "; ", so no single note may contain it
        assert not any("; " in v.note for v in validity.values())
    for name in ("apw", "ppg"):  # fitted on held-out simulations; the rate measured on others
        ood = load_posterior(name).ood
        assert ood is not None and 0.0 < ood.measured_false_alarm < 0.03
    assert load_posterior("ppg").validity()["map_radial"].status == "known bias"
    assert load_posterior("hybrid").validity()["hr"].status == "validated"


def _crafted(payload_of):
    payload = posterior_payload(load_posterior(default_model_path("ppg")))
    return payload_of(payload)


CRAFTED = {
    "not a dict": lambda p: [p],
    "class missing": lambda p: {k: v for k, v in p.items() if k != "class"},
    "class not text": lambda p: {**p, "class": 3},
    "class not a posterior": lambda p: {**p, "class": "cardiosbi.utils.paths:existing_path"},
    "abstract class": lambda p: {**p, "class": "cardiosbi.inference.posterior:Posterior"},
    "state empty": lambda p: {**p, "state": {}},
    "state not a dict": lambda p: {**p, "state": [1, 2]},
    "a weight missing": lambda p: {**p, "state": {**p["state"], "weights": dict(
        list(p["state"]["weights"].items())[1:])}},
    "a weight of another shape": lambda p: {**p, "state": {**p["state"], "weights": {
        k: (v[..., :1] if v.ndim else v) for k, v in p["state"]["weights"].items()}}},
    "version not a number": lambda p: {**p, "format_version": "1"},
    "input spec not a dict": lambda p: {**p, "input_spec": "radial"},
    "bad validation status": lambda p: {**p, "validation": {"hr": {"status": "great"}}},
    "malformed ood": lambda p: {**p, "ood": {"mean": torch.zeros(3)}},
    "ood shapes disagree": lambda p: {**p, "ood": {**p["ood"], "precision": torch.eye(2)}},
}


@pytest.mark.parametrize("case", sorted(CRAFTED))
def test_a_crafted_posterior_file_gives_one_clear_error(case, tmp_path):
    path = tmp_path / "crafted.pt"
    torch.save(_crafted(CRAFTED[case]), path)
    with pytest.raises(InputFileError, match="posterior file"):
        load_posterior(path)
