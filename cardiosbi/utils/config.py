"""Typed configs: turn an OmegaConf node into a dataclass, rejecting unknown or wrong keys."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
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
        return OmegaConf.to_object(OmegaConf.merge(OmegaConf.structured(schema), data))
    except OmegaConfBaseException as exc:
        first = str(exc).splitlines()[0]
        raise ConfigError(f"invalid config{label}: {first}") from None


def check_value_types(cfg: DictConfig, reference: DictConfig, keys: Iterable[str]) -> None:
    """Check that each of ``keys`` in ``cfg`` has the type of its value in ``reference``.

    ``reference`` is the same config composed without the user's values, so ``n=abc`` or
    ``n=[1,2]`` for an integer ``n`` is one clear :class:`ConfigError` here instead of a
    traceback deep in a command that reads ``int(cfg.n)``. Numbers must be finite (``1e400``
    reads as infinity). Keys whose default is null or missing (``???``) are left to the command;
    so is an explicit null (it means "off" for some keys).
    """
    for key in keys:
        try:
            expected = _plain(OmegaConf.select(reference, key, throw_on_missing=False))
            value = _plain(OmegaConf.select(cfg, key, throw_on_missing=False))
        except OmegaConfBaseException as exc:
            raise ConfigError(f"invalid value for {key}: {str(exc).splitlines()[0]}") from None
        if expected is None or value is None:
            continue
        wanted = _type_problem(value, expected)
        if wanted:
            raise ConfigError(f"{key} must be {wanted}, got {_show(value)}")


def _plain(node: Any) -> Any:
    return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _type_problem(value: Any, expected: Any) -> str | None:
    """What ``value`` should have been to match ``expected`` (None when it matches)."""
    if isinstance(expected, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(expected, int):
        return None if _is_number(value) and isinstance(value, int) else "an integer"
    if isinstance(expected, float):
        return None if _is_number(value) else "a finite number"
    if isinstance(expected, str):
        return None if isinstance(value, str | int | float) else "a single value, not a list or group"
    if isinstance(expected, dict):
        return None if isinstance(value, dict) else "a group of settings (set its keys: key.sub=value)"
    if isinstance(expected, list):
        if not isinstance(value, list):
            return "a list, e.g. [a,b]"
        if expected and all(_is_number(item) for item in expected):
            return None if all(_is_number(item) for item in value) else "a list of finite numbers"
        if any(isinstance(item, list | dict) for item in value):
            return "a flat list, e.g. [a,b]"
    return None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
