"""Validation against openBF 2.8 reference beats, through the `cardiosbi run-network` path."""

from __future__ import annotations

import json

import pytest

from cardiosbi.cli.main import run
from tests.simulators.hemo_compare import DATA, waveform_errors

CASES = {"cca": ["common_carotid_artery"], "ibif": ["parent", "d1", "d2"]}
OPENBF_CYCLES = {"cca": 4, "ibif": 9}  # cycles openBF 2.8 ran before converging


@pytest.mark.parametrize("case", sorted(CASES))
def test_openbf_2_8_oracle_within_tolerance(case, tmp_path):
    out = tmp_path / case
    network = DATA / "boileau2015" / case / f"{case}.yaml"
    assert run(["run-network", str(network), "compile=true", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["converged"] and summary["failures"] == []
    assert summary["cycles"] == OPENBF_CYCLES[case]
    for vessel in CASES[case]:
        errors = waveform_errors(DATA / "openbf_2_8" / case, out, vessel)
        # issue #3 accepts 2 % / 5 %; we measured ≤ 0.61 % / 1.28 %, so guard regressions at
        # 1 % / 2 % (RMS difference over mean pressure / over peak flow)
        assert (errors["P"] <= 0.01).all(), (vessel, errors["P"])
        assert (errors["Q"] <= 0.02).all(), (vessel, errors["Q"])


V1_CASES = {"single-artery": ["A1"], "bifurcation": ["P", "d1", "d2"]}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(V1_CASES))
def test_openbf_1x_outputs_within_tolerance(case, tmp_path):
    """openBF 1.x `.last` beats (converged to 1 %); we converge to 0.1 mmHg and compare."""
    out = tmp_path / case
    network = DATA / "openbf_v1" / case / f"{case}.yml"
    args = ["run-network", str(network), "compile=true", "--tolerance", "0.1", "--out", str(out)]
    assert run(args) == 0
    for vessel in V1_CASES[case]:
        errors = waveform_errors(DATA / "openbf_v1" / case / f"{case}_results", out, vessel, suffix=".last")
        print(case, vessel, errors)
        assert (errors["P"] <= 0.01).all() and (errors["Q"] <= 0.02).all()
