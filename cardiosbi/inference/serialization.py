"""One-file posterior format: plain data only, loadable on CPU without the training code.

The file is a ``torch.save`` of a dict holding only tensors, numbers, strings, lists and dicts
(read back with ``weights_only=True``, so no object is ever unpickled): a format marker, the
posterior class as ``module:Class`` (only ``cardiosbi.*`` classes are accepted), the cardiosbi
version, the registry rows of the parameters, and the class's own ``state()`` (weights with
the normalisation buffers, resolved config, reject thresholds, training summary).
"""

from __future__ import annotations

import datetime as _dt
import importlib
import inspect
import os
from pathlib import Path
from typing import Any

import torch

import cardiosbi
from cardiosbi import registry
from cardiosbi.errors import CardiosbiError, InputFileError
from cardiosbi.inference.ood import EmbeddingOOD
from cardiosbi.inference.posterior import Posterior
from cardiosbi.inference.validity import checked_validation
from cardiosbi.utils.paths import existing_path

FORMAT = "cardiosbi-posterior"
FORMAT_VERSION = 1


def posterior_payload(posterior: Posterior) -> dict[str, Any]:
    """The plain-data description of ``posterior`` (nested for ensembles and mixtures)."""
    cls = type(posterior)
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "class": f"{cls.__module__}:{cls.__qualname__}",
        "kind": cls.kind,
        "cardiosbi_version": cardiosbi.__version__,
        "created_utc": _dt.datetime.now(_dt.UTC).isoformat(),
        "parameters": parameter_rows(posterior),
        "input_spec": posterior.input_spec,
        "validation": posterior.validation,
        "ood": posterior.ood.state() if posterior.ood is not None else None,
        "state": posterior.state(),
    }


def parameter_rows(posterior: Posterior) -> list[dict[str, Any]]:
    """Registry rows of the parameters, with the bounds this posterior actually uses."""
    rows = []
    for i, name in enumerate(posterior.parameter_names):
        quantity = registry.REGISTRY.get(name)
        rows.append({
            "name": name,
            "unit": posterior.units[i],
            "low": float(posterior.low[i]),
            "high": float(posterior.high[i]),
            "description": quantity.description if quantity else "",
            "registry_low": quantity.low if quantity else None,
            "registry_high": quantity.high if quantity else None,
        })
    return rows


def posterior_from_payload(payload: dict[str, Any]) -> Posterior:
    """Rebuild a posterior from :func:`posterior_payload` output."""
    if payload.get("format") != FORMAT:
        raise InputFileError("not a cardiosbi posterior file (format marker missing)")
    version = payload.get("format_version", 0)
    if not isinstance(version, int) or not isinstance(payload.get("class"), str) \
            or not isinstance(payload.get("state"), dict) \
            or not isinstance(payload.get("input_spec") or {}, dict):
        raise InputFileError("posterior file has an unexpected structure (format_version, class, "
                             "state or input_spec missing or of the wrong type)")
    if version > FORMAT_VERSION:
        raise InputFileError(
            f"posterior file format {version} is newer than this cardiosbi "
            f"({cardiosbi.__version__}) reads; upgrade cardiosbi"
        )
    module_name, _, class_name = payload["class"].partition(":")
    if not module_name.startswith("cardiosbi."):
        raise InputFileError(f"posterior file names a class outside cardiosbi: {payload['class']}")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise InputFileError(
            f"posterior class {payload['class']} is not in this cardiosbi version "
            f"({cardiosbi.__version__}; the file was written by {payload.get('cardiosbi_version')})"
        ) from None
    if not (isinstance(cls, type) and issubclass(cls, Posterior)) or inspect.isabstract(cls):
        raise InputFileError(f"posterior file names {payload['class']}, which is not a posterior")
    try:
        posterior = cls.from_state(payload["state"])
    except CardiosbiError:
        raise
    except Exception as exc:  # a crafted or truncated file: any structural surprise
        raise InputFileError(f"posterior file has an unexpected structure for {payload['class']} "
                             f"({type(exc).__name__}: {str(exc)[:120]})") from None
    posterior.input_spec = payload.get("input_spec")
    posterior.validation = checked_validation(payload.get("validation"))
    ood = payload.get("ood")
    posterior.ood = EmbeddingOOD.from_state(ood) if ood is not None else None
    return posterior


def save_posterior(posterior: Posterior, path: str | os.PathLike) -> Path:
    """Write ``posterior`` to ``path`` atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(posterior_payload(posterior), tmp)
    os.replace(tmp, path)
    return path


def load_posterior(path: str | os.PathLike, device: str | torch.device = "cpu") -> Posterior:
    """Load a posterior on ``device`` (CPU by default, whatever it was trained on): a shipped
    model's name (``apw``, ``hybrid``, ``ppg``) or the path of a posterior file."""
    from cardiosbi.default_models import DEFAULT_MODELS, default_model_path

    if str(path) in DEFAULT_MODELS and not Path(path).exists():
        path = default_model_path(str(path))
    path = existing_path(path, "posterior file")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for corrupt / foreign files
        raise InputFileError(f"cannot read posterior file {path}: {type(exc).__name__}") from None
    if not isinstance(payload, dict):
        raise InputFileError(f"not a cardiosbi posterior file: {path}")
    posterior = posterior_from_payload(payload)
    if hasattr(posterior, "to"):
        posterior.to(device)
    return posterior
