"""Settings of a study script (``experiments/<study>/``), composed in one fixed order.

Layers, later ones win: the dataclass defaults < the study's YAML < the overlay named by
``preset=<name>`` (``<name>.yaml`` beside the study's YAML) < the tiny overlay (``tiny.yaml``
there) when ``tiny=true`` < ``key=value`` arguments. Unknown keys and wrong types end in one
:class:`~cardiosbi.errors.ConfigError` naming the key, as for every typed config here.

The overlays are looked for only when ``schema`` has a ``preset`` / ``tiny`` field: a study
without a tiny mode answers ``tiny=true`` with "unknown config key tiny", not a missing file.

A mapping-valued key listed in ``replace`` is replaced, not merged, by a layer that names it:
a preset that lists two modalities means those two, not those two added to the study's five.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cardiosbi.errors import ConfigError
from cardiosbi.utils.config import check_value_types, to_dataclass

T = TypeVar("T")
TINY_OVERLAY = "tiny.yaml"


def load_study_config(schema: type[T], study_yaml: Path, argv: Sequence[str], *,
                      replace: Sequence[str] = ()) -> T:
    """The study's typed settings (an instance of the dataclass ``schema``); see the module doc."""
    study_yaml = Path(study_yaml)
    where = f"{study_yaml.parent.name}/{study_yaml.name}"
    cli = _dotlist(argv)
    merged = _merge(OmegaConf.create(), _load(study_yaml), replace)
    declared = {f.name for f in dataclasses.fields(schema)}
    overlays = []
    preset = cli.get("preset", merged.get("preset")) if "preset" in declared else None
    if preset:
        overlays.append(_overlay(study_yaml.parent / f"{preset}.yaml", f"preset={preset}"))
    tiny = cli.get("tiny", merged.get("tiny")) if "tiny" in declared else None
    if tiny is True or str(tiny).lower() == "true":
        overlays.append(_overlay(study_yaml.parent / TINY_OVERLAY, "tiny=true"))
    for layer in [*overlays, cli]:
        merged = _merge(merged, layer, replace)
    # the arguments' types first: OmegaConf's own message for seeds=abc does not name the key
    check_value_types(merged, OmegaConf.structured(schema), [a.split("=", 1)[0] for a in argv])
    return to_dataclass(merged, schema, where)


def _dotlist(argv: Sequence[str]) -> DictConfig:
    malformed = [a for a in argv if "=" not in a]
    if malformed:
        raise ConfigError(f"arguments must be key=value, got {' '.join(malformed)}")
    try:
        return OmegaConf.from_dotlist(list(argv))
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid argument: {str(exc).splitlines()[0]}") from None


def _load(path: Path) -> DictConfig:
    if not path.is_file():
        raise ConfigError(f"{path} not found")
    try:
        return OmegaConf.load(path)
    except (OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"{path}: not a valid YAML mapping ({str(exc).splitlines()[0]})") from None


def _overlay(path: Path, asked: str) -> DictConfig:
    if not path.is_file():
        offered = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ConfigError(f"{asked}: no {path.name} in {path.parent} "
                          f"(files there: {', '.join(offered)})")
    return _load(path)


def _merge(base: DictConfig, layer: DictConfig, replace: Sequence[str]) -> DictConfig:
    base = base.copy()
    for key in replace:
        if key in layer and key in base:
            base[key] = None
    try:
        return OmegaConf.merge(base, layer)
    except OmegaConfBaseException as exc:
        raise ConfigError(f"invalid config: {str(exc).splitlines()[0]}") from None
