from __future__ import annotations

import pytest

from cardiosbi import registry
from cardiosbi.errors import ConfigError

REQUIRED_BIOMARKERS = ["hr", "sv", "co", "svr", "lvet", "map", "sbp", "dbp", "pwv_cf"]


@pytest.mark.parametrize("name", REQUIRED_BIOMARKERS)
def test_required_biomarkers_are_registered_with_units(name):
    quantity = registry.get(name)
    assert quantity.kind == "biomarker"
    assert quantity.unit and quantity.description
    assert quantity.low < quantity.high


def test_every_quantity_has_consistent_bounds_and_text():
    for row in registry.as_table():
        assert row["low"] < row["high"], row["name"]
        assert row["description"].strip().endswith("."), row["name"]


def test_svr_definition_states_outflow_pressure():
    assert "P_out" in registry.get("svr").description


def test_unknown_name_lists_valid_names():
    with pytest.raises(ConfigError, match="valid names: .*hr"):
        registry.get("heart_rate")


def test_names_filters_by_kind():
    assert set(registry.names("biomarker")).isdisjoint(registry.names("parameter"))
    assert len(registry.names()) == len(registry.REGISTRY)


def test_check_is_inclusive():
    hr = registry.get("hr")
    assert hr.check(hr.low) and hr.check(hr.high) and not hr.check(hr.high + 1)
