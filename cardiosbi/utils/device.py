"""The ``device`` setting every command shares: auto, cpu, cuda or cuda:N."""

from __future__ import annotations

import torch

from cardiosbi.errors import ConfigError


def resolve_device(name: str) -> str:
    """``auto`` -> cuda when available, else cpu; a CUDA request without CUDA is a user error."""
    if name == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if name != "cpu" and name != "cuda" and not name.startswith("cuda:"):
        raise ConfigError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(f"device={name} but CUDA is not available; use device=cpu or auto")
    return name
