"""Typed configs: turn an OmegaConf node into a dataclass, rejecting unknown or wrong keys."""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from cardiosbi.errors import ConfigError

T = TypeVar("T")


def to_dataclass(node: DictConfig | dict[str, Any] | None, schema: type[T], where: str = "") -> T:
    """Validate ``node`` against the dataclass ``schema`` and return an instance of it.

    Unknown keys and values of the wrong type raise :class:`ConfigError` naming the offending
    key and the valid ones, so a typo never silently falls back to a default.
    """
    valid = [f.name for f in dataclasses.fields(schema)]
    data = node if node is not None else {}
    if isinstance(data, DictConfig):
        data = OmegaConf.to_container(data, resolve=True)
    unknown = sorted(set(data) - set(valid))
    label = f" in {where}" if where else ""
    if unknown:
        raise ConfigError(
            f"unknown config key(s) {', '.join(unknown)}{label}; valid keys: {', '.join(valid)}"
        )
    try:
        merged = OmegaConf.merge(OmegaConf.structured(schema), data)
    except OmegaConfBaseException as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"invalid config{label}: {first}") from None
    return OmegaConf.to_object(merged)
