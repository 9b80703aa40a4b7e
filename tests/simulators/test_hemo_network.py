"""Network format, openBF importer, shipped networks and the PWDB subject builder."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import yaml

from simulators.hemodynamics import NetworkError, import_openbf, load_network, pwdb_subject_network
from simulators.hemodynamics.network import (
    MMHG,
    Windkessel,
    network_from_dict,
    network_to_dict,
    save_network,
)
from simulators.hemodynamics.shipped import BOILEAU_SITES, boileau_network
from tests.simulators.hemo_compare import DATA

BOILEAU = DATA / "boileau2015"


@pytest.mark.parametrize("case", sorted(BOILEAU_SITES))
def test_shipped_boileau_network_equals_fresh_conversion(case):
    assert network_to_dict(load_network(case)) == network_to_dict(boileau_network(BOILEAU, case))


@pytest.mark.parametrize("case", sorted(BOILEAU_SITES))
def test_conversion_reproduces_openbf_inputs(case):
    source = yaml.safe_load((BOILEAU / case / f"{case}.yaml").read_text())
    net = load_network(case)
    assert len(net.segments) == len(source["network"])
    for raw, seg in zip(source["network"], net.segments, strict=True):
        # PyYAML reads numbers like 700.0e3 as strings: compare as floats
        vessel = {k: (v if k in ("label", "outlet") else float(v)) for k, v in raw.items()}
        assert seg.name == vessel["label"] and (seg.sn, seg.tn) == (vessel["sn"], vessel["tn"])
        assert seg.length == vessel["L"] and seg.E == vessel["E"]
        assert seg.r_prox == vessel.get("R0", vessel.get("Rp"))
        assert seg.r_dist == vessel.get("R0", vessel.get("Rd"))
        assert seg.p_ref == vessel.get("Pext", 0.0)
        if "Cc" in vessel:
            assert (seg.outlet.R1, seg.outlet.R2, seg.outlet.C) == (vessel["R1"], vessel["R2"], vessel["Cc"])
    inlet = np.loadtxt(BOILEAU / case / source["inlet_file"])
    np.testing.assert_array_equal(net.inflow.q, inlet[:, 1])
    assert net.cfl == source["solver"]["Ccfl"]


def test_yaml_round_trip(tmp_path):
    net = load_network("ibif")
    again = load_network(save_network(net, tmp_path / "ibif.yaml"))
    assert network_to_dict(again) == network_to_dict(net)


@pytest.mark.parametrize("case", ["single-artery", "bifurcation"])
def test_openbf_1x_spelling_imports(case):
    net = import_openbf(DATA / "openbf_v1" / case / f"{case}.yml")
    assert all(isinstance(s.outlet, Windkessel) for s in net.segments if s.tn != 2)
    assert net.inflow.period == pytest.approx(0.955 if case == "single-artery" else 1.1)


def test_pwdb_builder_matches_openbf_port_of_subject_1():
    port = yaml.safe_load((DATA / "pwdb116_config.yml").read_text())["network"]
    net = pwdb_subject_network(1)
    by_name = {s.name: s for s in net.segments}
    assert len(port) == 116 == len(net.segments)
    for vessel in port:
        seg = by_name[re.sub(r"[^a-z0-9]+", "_", vessel["label"].removesuffix(" seg_0").lower()).strip("_")]
        assert seg.E == pytest.approx(vessel["E"], rel=1e-9)
        assert seg.h0 == pytest.approx(vessel["h0"], rel=1e-9)
        assert seg.length == pytest.approx(vessel["L"]) and seg.r_prox == pytest.approx(vessel["R0"])
        assert seg.p_ref == pytest.approx(vessel["Pext"], rel=1e-6)
        if "R1" in vessel:
            assert seg.outlet.R1 == pytest.approx(vessel["R1"], rel=1e-9)
            assert seg.outlet.R2 == pytest.approx(vessel["R2"], rel=1e-9)
            assert seg.outlet.C == pytest.approx(vessel["Cc"])
            assert seg.outlet.p_out == pytest.approx(33.2 * MMHG)


def test_pwdb_builder_overrides():
    base = pwdb_subject_network(1)
    net = pwdb_subject_network(1, pvr=2.0e8, length_scale=1.1, p_ref=70.0)
    wks = [s.outlet for s in net.segments if s.outlet is not None]
    assert 1.0 / sum(1.0 / (w.R1 + w.R2) for w in wks) == pytest.approx(2.0e8)
    assert net.segments[0].length == pytest.approx(1.1 * base.segments[0].length)
    assert net.segments[5].p_ref == pytest.approx(70.0 * MMHG)
    with pytest.raises(NetworkError, match="unknown PWDB parameter"):
        pwdb_subject_network(1, heart_rate=70.0)
    with pytest.raises(NetworkError, match="does not exist"):
        pwdb_subject_network(99999)


def test_pwdb_negative_r2_hazard_is_clamped():
    # a very stiff wall makes Z0 exceed the peripheral resistance of small terminals
    net = pwdb_subject_network(1, k3=5.0e6, pvr=3.0e7)
    for seg in net.segments:
        if seg.outlet is not None:
            assert seg.outlet.R2 > 0 and seg.outlet.R1 <= 0.9 * (seg.outlet.R1 + seg.outlet.R2) + 1e-3


def _dict(**changes):
    data = network_to_dict(load_network("ibif"))
    for path, value in changes.items():
        target = data
        keys = path.split(".")
        for k in keys[:-1]:
            target = target[int(k)] if k.isdigit() else target[k]
        target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"segments.0.length": -1.0}, "length must be > 0"),
        ({"segments.1.outlet": None}, "needs an outlet"),
        ({"segments.1.outlet.C": 0.0}, "Windkessel needs"),
        ({"segments.0.sn": 7, "segments.1.sn": 8}, "exactly one inlet"),
        ({"segments.2.name": "d1"}, "duplicate segment names"),
        ({"inflow.t": [0.0, 0.5, 0.4]}, "increase strictly"),
    ],
)
def test_invalid_networks_are_rejected_with_a_reason(changes, message):
    with pytest.raises(NetworkError, match=message):
        network_from_dict(_dict(**changes))


def test_missing_network_file_is_a_clear_error(tmp_path):
    with pytest.raises(NetworkError, match="not found"):
        load_network(tmp_path / "absent.yaml")
    assert math.isfinite(load_network("cca").inflow.period)
