"""Priors over the parameter registry with hard physiological constraints.

Each parameter has a bounded distribution (uniform, log-uniform or fixed) whose bounds must lie
inside the registry's physiological bounds. Constraints bound *derived* quantities (cardiac
output, an Ohm's-law MAP estimate, the systolic share of the cycle, ...) and are enforced by
rejection per sample; the number of rejected draws is returned so the rejected fraction can be
reported. Each sample is drawn from its own seed, so it is reproducible on its own.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from importlib import resources

import numpy as np
from omegaconf import OmegaConf

from cardiosbi import registry
from cardiosbi.errors import ConfigError, SimulationError
from cardiosbi.utils.config import to_dataclass

MMHG = 133.322
MAX_TRIES = 10_000

# Derived quantities a constraint may bound: name -> (unit, function of the full parameter dict).
DERIVED: dict[str, tuple[str, Callable[[Mapping[str, float]], float]]] = {
    "co": ("L/min", lambda p: p["hr"] * p["sv"] / 1000.0),
    "map_estimate": ("mmHg", lambda p: p["p_out"] + p["pvr"] * p["hr"] * p["sv"] * 1e-6 / 60.0 / MMHG),
    "systolic_fraction": ("1", lambda p: p["lvet"] / (60000.0 / p["hr"])),
    "pft_fraction": ("1", lambda p: p["pft"] / p["lvet"]),
}


@dataclass
class ParameterPrior:
    """``dist``: uniform | loguniform | fixed; ``low``/``high`` for the first two, ``value``."""

    dist: str = "uniform"
    low: float | None = None
    high: float | None = None
    value: float | None = None


@dataclass
class PriorConfig:
    name: str = "custom"
    parameters: dict[str, ParameterPrior] = field(default_factory=dict)
    constraints: dict[str, list[float]] = field(default_factory=dict)


@dataclass
class Draws:
    """Accepted parameter draws (B, k) for the sampled names, and rejected draws per sample."""

    theta: np.ndarray
    rejected: np.ndarray


class Prior:
    """A validated prior: sampled parameter names with bounds, fixed values and constraints."""

    def __init__(self, config: PriorConfig):
        self.config = config
        self.names: list[str] = []
        self.fixed: dict[str, float] = {}
        for name, spec in config.parameters.items():
            _check_parameter(name, spec)
            if spec.dist == "fixed":
                self.fixed[name] = float(spec.value)
            else:
                self.names.append(name)
        if not self.names:
            raise ConfigError("prior.parameters: at least one parameter must be sampled")
        self.low = np.array([config.parameters[n].low for n in self.names], dtype=np.float64)
        self.high = np.array([config.parameters[n].high for n in self.names], dtype=np.float64)
        for name, bounds in config.constraints.items():
            _check_constraint(name, bounds, set(self.names) | set(self.fixed))

    @property
    def units(self) -> list[str]:
        return [registry.get(n).unit for n in self.names]

    def sample(self, seeds: Sequence[int | Sequence[int]]) -> Draws:
        """One accepted draw per seed (rejection sampling against the constraints)."""
        theta = np.empty((len(seeds), len(self.names)))
        rejected = np.zeros(len(seeds), dtype=np.int64)
        for i, seed in enumerate(seeds):
            rng = np.random.default_rng(seed)
            for tries in range(MAX_TRIES):
                draw = self._draw(rng)
                if self.satisfied(draw):
                    theta[i] = [draw[n] for n in self.names]
                    rejected[i] = tries
                    break
            else:
                raise SimulationError(
                    f"prior constraints rejected {MAX_TRIES} draws in a row; widen "
                    f"prior.constraints or the parameter ranges ({dict(self.config.constraints)})")
        return Draws(theta, rejected)

    def full(self, theta_row: np.ndarray) -> dict[str, float]:
        """Sampled values plus the fixed ones, as a name -> value dict."""
        return {**dict(zip(self.names, map(float, theta_row), strict=True)), **self.fixed}

    def satisfied(self, values: Mapping[str, float]) -> bool:
        """True when every constraint holds for the full parameter dict ``values``."""
        for name, (low, high) in self.config.constraints.items():
            value = DERIVED[name][1](values) if name in DERIVED else values[name]
            if not low <= value <= high:
                return False
        return True

    def with_parameters(self, changes: Mapping[str, ParameterPrior]) -> Prior:
        """The same prior with some parameters' distributions replaced (e.g. one skin-tone
        range of melanin, or a design's fixed source-detector distance); constraints kept."""
        unknown = sorted(set(changes) - set(self.config.parameters))
        if unknown:
            raise ConfigError(f"prior {self.config.name!r} has no parameter(s) {', '.join(unknown)}")
        parameters = {**self.config.parameters, **changes}
        return Prior(replace(self.config, parameters=parameters))

    def _draw(self, rng: np.random.Generator) -> dict[str, float]:
        # Assign uniforms in sorted-name order: a draw depends on the seed and the set of
        # parameters, never on the order the config lists them in.
        u = rng.uniform(size=len(self.names))
        values = {}
        for j, name in enumerate(sorted(self.names)):
            spec = self.config.parameters[name]
            if spec.dist == "uniform":
                values[name] = spec.low + u[j] * (spec.high - spec.low)
            else:
                values[name] = float(np.exp(np.log(spec.low) + u[j] * np.log(spec.high / spec.low)))
        return {**values, **self.fixed}


def prior_group(name: str) -> Prior:
    """The shipped prior ``cardiosbi/conf/prior/<name>.yaml`` (hydra group ``prior``), with
    the priors its ``defaults`` list names merged underneath, as hydra composes it."""
    folder = resources.files("cardiosbi") / "conf" / "prior"
    offered = sorted(p.name.removesuffix(".yaml") for p in folder.iterdir() if p.name.endswith(".yaml"))
    if name not in offered:
        raise ConfigError(f"prior={name!r} is not shipped; use one of {', '.join(offered)}")
    own = OmegaConf.create((folder / f"{name}.yaml").read_text())
    bases = [prior_group(b).config for b in own.pop("defaults", []) if b != "_self_"]
    merged = OmegaConf.merge(*[OmegaConf.structured(b) for b in bases], own)
    return Prior(to_dataclass(merged, PriorConfig, f"prior {name}"))


def _check_parameter(name: str, spec: ParameterPrior) -> None:
    quantity = registry.get(name)
    where = f"prior.parameters.{name}"
    if spec.dist == "fixed":
        if spec.value is None or not quantity.check(spec.value):
            raise ConfigError(f"{where}: fixed value must lie in [{quantity.low}, {quantity.high}] {quantity.unit}")
        return
    if spec.dist not in ("uniform", "loguniform"):
        raise ConfigError(f"{where}.dist={spec.dist!r}; use uniform, loguniform or fixed")
    if spec.low is None or spec.high is None or not spec.low < spec.high:
        raise ConfigError(f"{where}: needs low < high")
    if spec.low < quantity.low or spec.high > quantity.high:
        raise ConfigError(f"{where}: [{spec.low}, {spec.high}] leaves the physiological bounds "
                          f"[{quantity.low}, {quantity.high}] {quantity.unit} of the registry")
    if spec.dist == "loguniform" and spec.low <= 0:
        raise ConfigError(f"{where}: loguniform needs low > 0")


def _check_constraint(name: str, bounds: list[float], known: set[str]) -> None:
    if name not in DERIVED and name not in known:
        raise ConfigError(f"prior.constraints.{name}: unknown; use a prior parameter or one of "
                          f"{', '.join(DERIVED)}")
    if len(bounds) != 2 or not bounds[0] < bounds[1]:
        raise ConfigError(f"prior.constraints.{name}: give [low, high] with low < high")
    if name in DERIVED:
        needed = {"co": {"hr", "sv"}, "map_estimate": {"p_out", "pvr", "hr", "sv"},
                  "systolic_fraction": {"lvet", "hr"}, "pft_fraction": {"pft", "lvet"}}[name]
        missing = needed - known
        if missing:
            raise ConfigError(f"prior.constraints.{name} needs parameter(s) {', '.join(sorted(missing))} in the prior")
