"""The posterior file: self-describing, plain data only, clear errors for foreign files."""

from __future__ import annotations

import pytest
import torch

import cardiosbi
from cardiosbi.errors import InputFileError
from cardiosbi.inference import load_posterior
from tests.inference._tiny import train_case


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    torch.set_num_threads(1)
    posterior, _task, x = train_case("nsf", n=200)
    path = tmp_path_factory.mktemp("file") / "posterior.pt"
    posterior.save(path)
    return path, x


def test_file_holds_plain_data_with_provenance(saved):
    path, _ = saved
    payload = torch.load(path, weights_only=True)  # would raise on any pickled object
    assert payload["format"] == "cardiosbi-posterior"
    assert payload["cardiosbi_version"] == cardiosbi.__version__
    assert payload["class"] == "cardiosbi.inference.npe_posterior:NPEPosterior"
    assert [row["name"] for row in payload["parameters"]] == ["theta0", "theta1"]
    state = payload["state"]
    assert state["config"]["model"]["estimator"]["kind"] == "nsf"
    weights = state["weights"]
    for buffer in ("low", "high", "theta_mean", "theta_std", "embedding_net.standardize.mean"):
        assert buffer in weights, buffer
    assert all(t.device.type == "cpu" for t in weights.values())


def _tamper(path, tmp_path, **changes):
    payload = torch.load(path, weights_only=True)
    payload.update(changes)
    out = tmp_path / "tampered.pt"
    torch.save(payload, out)
    return out


@pytest.mark.parametrize(("changes", "message"), [
    ({"format": "something-else"}, "not a cardiosbi posterior"),
    ({"format_version": 99}, "newer"),
    ({"class": "os:system"}, "outside cardiosbi"),
    ({"class": "cardiosbi.inference.npe_posterior:Gone"}, "not in this cardiosbi version"),
])
def test_foreign_or_future_files_are_clear_errors(saved, tmp_path, changes, message):
    path, _ = saved
    with pytest.raises(InputFileError, match=message):
        load_posterior(_tamper(path, tmp_path, **changes))


def test_missing_and_corrupt_files(tmp_path):
    with pytest.raises(InputFileError, match="not found"):
        load_posterior(tmp_path / "absent.pt")
    (tmp_path / "junk.pt").write_bytes(b"\x00junk")
    with pytest.raises(InputFileError, match="cannot read"):
        load_posterior(tmp_path / "junk.pt")
