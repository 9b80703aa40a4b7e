"""Tiny runs of every CLI command, used by test_cli.py.

Each entry: command -> (arguments, check). Arguments may use ``{tmp}`` (the test's temporary
folder, also the working directory) and ``{repo}`` (the repository root). ``check(tmp)``
asserts on what the command wrote. Add an entry when a command becomes available.
"""

from __future__ import annotations

from pathlib import Path


def _nothing_to_check(tmp: Path) -> None:
    return None


def _check_train(tmp: Path) -> None:
    from cardiosbi.inference import load_posterior

    posterior = load_posterior(tmp / "trained" / "posterior.pt")
    assert posterior.parameter_names == ["theta0", "theta1"]
    assert (tmp / "trained" / "training.json").exists()


SMOKE_CASES: dict[str, tuple[list[str], object]] = {
    "quickstart": ([], _nothing_to_check),
    "train": (["--out", "{tmp}/trained", "data.num_simulations=300", "trainer.max_epochs=2",
               "trainer.reject_calibration_samples=50"], _check_train),
}

# Commands that read an input: arguments naming a file that does not exist.
MISSING_INPUT_CASES: dict[str, list[str]] = {
    "quickstart": ["record={tmp}/absent"],
    "train": ["data=tensor_file", "data.path={tmp}/absent.pt"],
}
