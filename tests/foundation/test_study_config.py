"""cardiosbi.utils.study_config: the layer order of a study's settings and its errors."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from cardiosbi.errors import ConfigError
from cardiosbi.utils.study_config import load_study_config


@dataclass
class Settings:
    preset: str = ""
    n: int = 1
    modalities: dict[str, int] = field(default_factory=dict)
    tiny: bool = False


@pytest.fixture
def study_yaml(tmp_path):
    (tmp_path / "study.yaml").write_text("preset: ''\nn: 10\nmodalities: {a: 1, b: 2}\ntiny: false\n")
    (tmp_path / "tiny.yaml").write_text("n: 3\n")
    (tmp_path / "small.yaml").write_text("n: 4\nmodalities: {c: 3}\n")
    return tmp_path / "study.yaml"


def test_yaml_then_preset_then_tiny_then_arguments(study_yaml):
    assert load_study_config(Settings, study_yaml, []).n == 10
    assert load_study_config(Settings, study_yaml, ["preset=small"]).n == 4
    assert load_study_config(Settings, study_yaml, ["preset=small", "tiny=true"]).n == 3
    assert load_study_config(Settings, study_yaml, ["tiny=true", "n=7"]).n == 7


def test_listed_mappings_are_replaced_others_merged(study_yaml):
    merged = load_study_config(Settings, study_yaml, ["preset=small"])
    assert merged.modalities == {"a": 1, "b": 2, "c": 3}
    replaced = load_study_config(Settings, study_yaml, ["preset=small"], replace=["modalities"])
    assert replaced.modalities == {"c": 3}


@pytest.mark.parametrize(("argv", "message"), [
    (["x=1"], "unknown config key(s) x"),
    (["n=abc"], "n must be an integer, got 'abc'"),
    (["modalities=abc"], "modalities must be a group of settings"),
    (["preset=nope"], "no nope.yaml"),
    (["n"], "must be key=value"),
])
def test_bad_settings_name_the_problem(study_yaml, argv, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_study_config(Settings, study_yaml, argv)


def test_tiny_without_its_overlay_is_an_error(study_yaml):
    (study_yaml.parent / "tiny.yaml").unlink()
    with pytest.raises(ConfigError, match="tiny=true: no tiny.yaml"):
        load_study_config(Settings, study_yaml, ["tiny=true"])


@dataclass
class NoOverlays:
    n: int = 1


@pytest.mark.parametrize("key", ["tiny", "preset"])
def test_a_study_without_the_field_names_the_key_not_a_missing_overlay(tmp_path, key):
    (tmp_path / "study.yaml").write_text("n: 10\n")
    with pytest.raises(ConfigError, match=rf"unknown config key\(s\) {key} in"):
        load_study_config(NoOverlays, tmp_path / "study.yaml", [f"{key}=true"])
