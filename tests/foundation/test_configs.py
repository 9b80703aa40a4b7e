"""Every hydra config composes, experiment configs are found, unknown keys are rejected."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from cardiosbi.cli.commands import COMMANDS
from cardiosbi.cli.main import CONF_DIR, compose, experiment_dirs
from cardiosbi.errors import ConfigError

PRIMARY = sorted({c.config for c in COMMANDS.values()})


def _group_options() -> list[tuple[str, str]]:
    """(group, option) for every config group file under cardiosbi/conf."""
    options = []
    for path in sorted(CONF_DIR.rglob("*.yaml")):
        relative = path.relative_to(CONF_DIR)
        if len(relative.parts) > 1:
            options.append(("/".join(relative.parts[:-1]), relative.stem))
    return options


def test_every_command_has_a_primary_config():
    for config in PRIMARY:
        assert (CONF_DIR / f"{config}.yaml").exists(), config


@pytest.mark.parametrize("config", PRIMARY)
def test_primary_config_composes_and_resolves(config):
    cfg = compose(config)
    OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
    assert "seed" in cfg


@pytest.mark.parametrize(("group", "option"), _group_options())
def test_every_group_option_composes_with_some_primary_config(group, option):
    top = group.split("/")[0]
    users = [c for c in PRIMARY if top in compose(c)]
    assert users, f"config group {group} is used by no command"
    for config in users:
        cfg = compose(config, [f"{group}={option}"])
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)


def _experiments() -> list[Path]:
    return sorted(p for d in experiment_dirs() for p in (d / "experiment").glob("*.yaml"))


def test_experiment_folder_is_on_the_search_path():
    assert any(p.stem == "smoke" for p in _experiments())


def test_experiment_overrides_base_values():
    assert compose("train", ["experiment=smoke"]).seed == 123


@pytest.mark.parametrize("path", _experiments(), ids=lambda p: p.stem)
def test_every_experiment_composes(path):
    for config in PRIMARY:
        try:
            cfg = compose(config, [f"experiment={path.stem}"])
        except ConfigError:
            continue  # an experiment targets some commands only
        OmegaConf.to_container(cfg, resolve=True, throw_on_missing=False)
        return
    pytest.fail(f"experiment {path.stem} composes with no command")


def test_unknown_key_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown config key 'nope'"):
        compose("train", ["nope=1"])
