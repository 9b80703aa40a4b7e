"""SensorDesign and its config mapping: a design the optics cannot simulate is an error."""

from __future__ import annotations

import pytest

from cardiosbi.errors import ConfigError
from cardiosbi.sensor_design import SensorDesign, designs_from_mapping


def test_designs_from_mapping_keep_order_and_values():
    designs = designs_from_mapping({
        "green": {"wavelengths_nm": [530], "distance_mm": 2},
        "clip": {"wavelengths_nm": [660, 940], "geometry": "transmission", "distance_mm": 0},
    })
    assert [d.name for d in designs] == ["green", "clip"]
    assert designs[0].wavelengths_nm == (530.0,) and designs[0].optics == ("reflectance", 2.0, 10.0)
    assert designs[1].optics == ("transmission", 0.0, 10.0)


@pytest.mark.parametrize(("fields", "message"), [
    ({"wavelengths_nm": [200]}, "coefficient tables"),
    ({"wavelengths_nm": [660, 660]}, "repeat"),
    ({"wavelengths_nm": [660], "geometry": "sideways"}, "geometry"),
    ({"wavelengths_nm": [660], "distance_mm": 0}, "distance_mm"),
    ({"wavelengths_nm": [660], "led_power": 0}, "led_power"),
    ({"wavelengths_nm": [660], "colour": "red"}, "unknown key"),
    ({"distance_mm": 3}, "wavelengths_nm is required"),
])
def test_bad_designs_name_their_problem(fields, message):
    with pytest.raises(ConfigError, match=message):
        designs_from_mapping({"bad": fields})


def test_no_design_is_an_error():
    with pytest.raises(ConfigError, match="at least one"):
        designs_from_mapping({})


def test_design_is_immutable():
    design = SensorDesign("g", (530.0,))
    with pytest.raises(AttributeError):
        design.distance_mm = 5.0
